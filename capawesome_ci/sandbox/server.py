"""HTTP plumbing shared by every emulator of the sandbox: request/response types, the error shapes
of the real API, and a threaded HTTP/1.1 server that streams bodies, keeps connections alive and
shrugs off clients that hang up mid-stream."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class ApiFailure(Exception):
    """An error response, in one of the body shapes the real API uses."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what: str) -> ApiFailure:
    return ApiFailure(404, {"message": f"{what} not found."})


def bad_request(message: str) -> ApiFailure:
    return ApiFailure(400, {"message": message})


def invalid(path: list[str | int], message: str) -> ApiFailure:
    """A validation error in the zod shape of the API's validation layer."""
    return ApiFailure(400, {"error": {"issues": [{"path": path, "message": message}]}})


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-case names
    raw_body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    @property
    def query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.query_string, keep_blank_values=True).items()}

    def relations(self) -> set[str]:
        return {name.strip() for name in self.query.get("relations", "").split(",") if name.strip()}

    def json(self) -> dict[str, Any]:
        if not self.raw_body.strip():
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise bad_request("Malformed JSON body.") from None
        if not isinstance(body, dict):
            raise invalid([], "Expected object, received " + type(body).__name__)
        return body


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON, encoded into `raw` by `encode()` while the state lock is held
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    stream: Iterable[bytes] | None = None  # a streamed body of `length` bytes
    length: int = 0
    # Fault injection: drop the connection instead of answering, or after this many body bytes.
    abort: bool = False
    abort_after: int | None = None

    def encode(self) -> Response:
        if self.body is not None and self.raw is None:
            self.raw = json.dumps(self.body).encode()
            self.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return self


Dispatcher = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries its length
    disable_nagle_algorithm = True  # headers and a small body go out as separate writes
    server: SandboxHTTPServer

    def version_string(self) -> str:
        return "capawesome-sandbox"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: CI logs are not ours to fill
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Bad request body")
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query_string=parts.query,
            headers={key.lower(): value for key, value in self.headers.items()},
            raw_body=body,
        )
        self._send(self.server.dispatch(request))

    def _send(self, response: Response) -> None:
        response.encode()
        if response.abort:
            self._drop_connection()
            return
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        length = response.length if response.stream is not None else len(response.raw or b"")
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD" or response.status in (204, 304):
            return
        chunks = response.stream if response.stream is not None else [response.raw or b""]
        budget = response.abort_after
        for chunk in chunks:
            if budget is not None and len(chunk) >= budget:
                self.wfile.write(chunk[:budget])
                self._drop_connection()
                return
            if budget is not None:
                budget -= len(chunk)
            if chunk:
                self.wfile.write(chunk)

    def _drop_connection(self) -> None:
        """As a reset by a proxy would: no more bytes, connection gone."""
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone already
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatcher) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.dispatch = dispatch
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on a box with slow DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        # Shutting the listening socket down wakes the accept loop at once (Linux); elsewhere the
        # loop notices within its poll interval.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.shutdown()
        # Hang up on kept-alive clients too, so a stopped sandbox really stops answering.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up (or the sandbox stopping) mid-response is normal; anything else is a bug.
        error = sys.exc_info()[1]
        if isinstance(error, (OSError, ValueError)):
            return
        sys.stderr.write(f"sandbox: error while serving {client_address}: {error!r}\n")
