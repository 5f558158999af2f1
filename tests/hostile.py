"""A hostile Capawesome-shaped API server for tests: every field, status, header and timing is the test's.

Unlike the sandbox (a faithful emulator), this server does whatever a test tells it: answer a route with
any JSON, any bytes, a redirect, nothing at all, or a trickle of one byte a second. It starts with
plausible Capawesome answers for the CI path (one app, one finished android build with one apk, one
channel) so a test only overrides the field it attacks:

    with HostileServer() as server:
        server.build["numberAsString"] = "7\\n::error title=INJECTED::x"
        server.route("GET", "/v1/jobs/*", Silent())
        result = run_cli(["wait", "--build-id", server.build["id"], "--timeout", "2s"], env=server.env())

Routes are matched in the order they were added, newest first, by method and a glob over the path.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "cap_hostile_4c1d9e7b2a"
APP_ID = "app-hostile"


@dataclass
class Request:
    method: str
    path: str  # as sent, percent-encoding kept
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Answer:
    """How the server answers one request."""

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        raise NotImplementedError


@dataclass
class Raw(Answer):
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        handler.send_response(self.status)
        headers = {"Content-Length": str(len(self.body)), **self.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(self.body)


def Json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Raw:
    return Raw(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


def Error(status: int, message: str, headers: dict[str, str] | None = None) -> Raw:
    return Json({"error": {"code": status, "message": message}, "message": message}, status, headers)


@dataclass
class Silent(Answer):
    """Accept the request and never answer (until the server stops)."""

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        server.stopping.wait()


@dataclass
class Trickle(Answer):
    """Headers at once (Content-Length: the whole body), then the body one byte per `interval` seconds."""

    status: int = 200
    body: bytes = b" " * 10_000 + b"{}"
    interval: float = 1.0

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.flush()
        for byte in self.body:
            if server.stopping.wait(self.interval):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()


@dataclass
class Delayed(Answer):
    """Answer with `then` after `seconds`."""

    seconds: float
    then: Answer

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        if not server.stopping.wait(self.seconds):
            self.then.send(handler, server)


@dataclass
class Call(Answer):
    """Answer with whatever `fn(request)` returns (for answers that depend on the request)."""

    fn: Callable[[Request], Answer]

    def send(self, handler: BaseHTTPRequestHandler, server: HostileServer) -> None:
        self.fn(server.requests[-1]).send(handler, server)


class HostileServer:
    def __init__(self, artifact_bytes: bytes = b"PK\x05\x06" + bytes(18)) -> None:
        self.token = TOKEN
        self.auth_scheme: str | None = "Bearer"  # None: the token alone, as Capgo takes its key
        self.app_id = APP_ID
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._routes: list[tuple[str, str, Answer | Callable[[], Answer]]] = []
        self.artifact_bytes = artifact_bytes
        self.job: dict[str, Any] = {"id": "job-1", "status": "succeeded", "statusMessage": None}
        self.build: dict[str, Any] = {
            "id": "build-1",
            "appId": APP_ID,
            "numberAsString": "7",
            "platform": "android",
            "type": "debug",
            "jobId": "job-1",
            "gitRef": "main",
        }
        self.artifact: dict[str, Any] = {
            "id": "artifact-1",
            "appBuildId": "build-1",
            "type": "apk",
            "status": "ready",
            "fileName": "app-debug.apk",
            "totalSizeInBytes": len(artifact_bytes),
        }
        self.channel: dict[str, Any] = {"id": "channel-1", "appId": APP_ID, "name": "production", "pausedAt": None}
        self.deployment: dict[str, Any] = {
            "id": "deployment-1",
            "appId": APP_ID,
            "appBuildId": "build-1",
            "appChannelId": "channel-1",
            "jobId": "job-2",
            "rolloutPercentage": 1,
        }
        self.log_lines: list[str] = ["Building", "Done"]
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._defaults()

    # -- configuration ---------------------------------------------------------------------------
    def route(self, method: str, pattern: str, answer: Answer | Callable[[], Answer]) -> None:
        """Answer `method pattern` (fnmatch over the path, query excluded) with `answer` from now on."""
        self._routes.append((method, pattern, answer))

    def _defaults(self) -> None:
        app = f"/v1/apps/{APP_ID}"
        self.route("GET", f"{app}", lambda: Json({"id": APP_ID, "name": "Hostile"}))
        self.route("GET", f"{app}/builds", lambda: Json([self.build]))
        self.route("POST", f"{app}/builds", lambda: Json(self.build, 201))
        self.route("GET", f"{app}/builds/*", lambda: Json(self.build))
        self.route("GET", f"{app}/builds/*/artifacts", lambda: Json([self.artifact]))
        self.route("GET", f"{app}/builds/*/artifacts/*/download", lambda: Raw(200, self.artifact_bytes))
        self.route("GET", "/v1/jobs/*", lambda: Json(self.job))
        self.route("PATCH", "/v1/jobs/*", lambda: Json({**self.job, "status": "canceled"}))
        self.route(
            "GET",
            "/v1/jobs/*/logs",
            lambda: Json([{"number": n, "payload": text} for n, text in enumerate(self.log_lines, 1)]),
        )
        self.route("GET", f"{app}/channels", lambda: Json([self.channel]))
        self.route("POST", f"{app}/channels", lambda: Json(self.channel, 201))
        self.route("GET", f"{app}/channels/*", lambda: Json({**self.channel, "appDeployment": self.deployment}))
        self.route("GET", f"{app}/deployments", lambda: Json([]))
        self.route("POST", f"{app}/deployments", lambda: Json(self.deployment, 201))
        self.route("GET", f"{app}/deployments/*", lambda: Json(self.deployment))
        self.route("PATCH", f"{app}/deployments/*", lambda: Json(self.deployment))
        self.route("GET", f"{app}/destinations", lambda: Json([]))

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI run against this server (nothing inherited from CI)."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CAPAWESOME_", "GITHUB_", "GITLAB_", "BITBUCKET_", "CI"))
        }
        env.update(
            PYTHONUNBUFFERED="1",
            CAPAWESOME_CLOUD_TOKEN=self.token,
            CAPAWESOME_CLOUD_BASE_URL=self.base_url,
            CAPAWESOME_APP_ID=self.app_id,
        )
        env.update(extra)
        return env

    def requested(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and fnmatch.fnmatchcase(r.path, pattern)]

    # -- serving -----------------------------------------------------------------------------------
    def _answer(self, method: str, path: str) -> Answer:
        for route_method, pattern, answer in reversed(self._routes):
            if route_method == method and fnmatch.fnmatchcase(path, pattern) and _same_depth(path, pattern):
                return answer if isinstance(answer, Answer) else answer()
        return Error(404, f"no route for {method} {path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                server.requests.append(request)
                expected = f"{server.auth_scheme} {server.token}" if server.auth_scheme else server.token
                if self.headers.get("Authorization") != expected and "/download" not in parts.path:
                    Error(401, "Unauthorized").send(self, server)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._answer(self.command, parts.path).send(self, server)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._http.shutdown()
        self._http.server_close()


def _same_depth(path: str, pattern: str) -> bool:
    """`*` stays within one path segment (fnmatch's `*` would cross `/`)."""
    return path.rstrip("/").count("/") == pattern.rstrip("/").count("/")


def elapsed(start: float) -> float:
    return time.monotonic() - start
