"""An embedded, stateful Capawesome Cloud emulator served over real HTTP on loopback: the demo
backend (no account needed), the target of dry runs and the backbone of the tests.

    with Sandbox(SandboxConfig(run_seconds=1)) as sandbox:
        sandbox.base_url, sandbox.token, sandbox.app_id   # point any client at it
        sandbox.state.requests                             # what it received, for tests
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from types import TracebackType

from capawesome_ci.sandbox.faults import Fault, Faults, apply_fault, parse_fault, parse_faults
from capawesome_ci.sandbox.routes import dispatch
from capawesome_ci.sandbox.server import Request, Response, SandboxHTTPServer
from capawesome_ci.sandbox.state import RequestRecord, SandboxConfig, SandboxState

__all__ = [
    "Fault",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "parse_fault",
    "parse_faults",
    "serve_forever",
]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        if not _is_loopback(self.config.host):
            raise ValueError(f"the sandbox binds loopback addresses only, not {self.config.host!r}")
        self.state = SandboxState(self.config)
        self.faults = Faults()
        for spec in self.config.faults:
            if spec.strip():
                self.faults.add(spec)
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
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> Sandbox:
        if self._server is None:
            host = "127.0.0.1" if self.config.host == "localhost" else self.config.host
            self._server = SandboxHTTPServer((host, self.config.port), self._dispatch)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.1,), name="capawesome-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.state.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _dispatch(self, request: Request) -> Response:
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return dispatch(self.state, request)
        if fault.kind == "latency":
            time.sleep(fault.seconds)
            return dispatch(self.state, request)
        response = dispatch(self.state, request) if fault.processes_first else None
        injected = apply_fault(fault, response)
        if response is None:  # refused before taking effect: still a request the sandbox saw
            with self.state.lock:
                status = injected.status if not injected.abort else 0
                self.state.requests.append(RequestRecord(request.method, request.path, request.query_string, status))
        return injected


def serve_forever(config: SandboxConfig, announce: Callable[[str], None]) -> None:
    """`capawesome-ci sandbox serve`: say how to connect, then serve until interrupted (Ctrl+C)."""
    sandbox = Sandbox(config).start()
    try:
        announce(f"Capawesome Cloud sandbox listening on {sandbox.base_url}")
        announce(f"Token: {sandbox.token}")
        announce(f"Demo app: {sandbox.app_id} (channels production, beta)")
        announce("Point a client at it with:")
        announce(
            f"export CAPAWESOME_CLOUD_BASE_URL={sandbox.base_url} CAPAWESOME_CLOUD_TOKEN={sandbox.token} "
            f"CAPAWESOME_APP_ID={sandbox.app_id}"
        )
        announce("Press Ctrl+C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
