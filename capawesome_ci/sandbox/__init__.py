"""An embedded, stateful Capawesome Cloud emulator served over real HTTP on loopback.

with Sandbox(SandboxConfig(run_seconds=1)) as sandbox:
    sandbox.base_url, sandbox.token, sandbox.app_id   # point any client at it
    sandbox.state.requests                             # what it received, for tests
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from capawesome_ci.sandbox.http import ApiFailure, Request, Response, SandboxHTTPServer
from capawesome_ci.sandbox.routes import ROUTES
from capawesome_ci.sandbox.state import RequestRecord, SandboxConfig, SandboxState

__all__ = ["Sandbox", "SandboxConfig", "SandboxState", "serve_forever"]


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState(self.config)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def app_id(self) -> str:
        return self.state.app_id

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        address = self._server.server_address
        host, port = str(address[0]), int(address[1])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def start(self) -> Sandbox:
        self._server = SandboxHTTPServer((self.config.host, self.config.port), self.dispatch)
        self._thread = threading.Thread(target=self._server.serve_forever, name="capawesome-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def dispatch(self, request: Request) -> Response:
        try:
            response = self._route(request)
        except ApiFailure as failure:
            response = Response(failure.status, failure.body, failure.headers)
        except Exception as error:  # a sandbox bug must look like a server error, not a hang
            response = Response(500, {"message": f"Internal sandbox error: {type(error).__name__}"})
        with self.state.lock:
            self.state.requests.append(
                RequestRecord(request.method, request.path, request.query_string, response.status)
            )
        return response

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        for pattern, handlers, needs_auth in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            method = "GET" if request.method == "HEAD" else request.method
            handler = handlers.get(method)
            if handler is None:
                raise ApiFailure(405, {"message": "Method not allowed."}, {"Allow": ", ".join(handlers)})
            if needs_auth and request.headers.get("authorization") != f"Bearer {self.state.token}":
                raise ApiFailure(401, {"message": "Unauthorized."})
            request.params = match.groupdict()
            with self.state.lock:
                self.state.settle()
                response = handler(self.state, request)
                self.state.settle()
                return response
        raise ApiFailure(404, {"message": "Not found."})


def serve_forever(config: SandboxConfig, announce: Callable[[str], None]) -> None:
    """`capawesome-ci sandbox serve`: run until interrupted, after saying how to connect."""
    sandbox = Sandbox(config).start()
    try:
        announce(f"Capawesome Cloud sandbox listening on {sandbox.base_url}")
        announce(f"Demo app: {sandbox.app_id} (channels production, beta)")
        announce("Connect with:")
        announce(
            f"export CAPAWESOME_CLOUD_BASE_URL={sandbox.base_url} CAPAWESOME_CLOUD_TOKEN={sandbox.token} "
            f"CAPAWESOME_APP_ID={sandbox.app_id}"
        )
        announce("Press Ctrl+C to stop.")
        threading.Event().wait()
    finally:
        sandbox.stop()
