"""HTTP plumbing of the sandbox: request/response types, the error shapes of the real API, and a
threaded HTTP/1.1 server that streams bodies and survives clients that hang up."""

from __future__ import annotations

import json
import socket
import sys
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


def invalid(path: str, message: str) -> ApiFailure:
    """A validation error, zod style, as the API's validation layer returns it."""
    return ApiFailure(400, {"error": {"issues": [{"path": [path], "message": message}]}})


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    raw_body: bytes
    params: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.query_string, keep_blank_values=True).items()}

    def json(self) -> dict[str, Any]:
        if not self.raw_body.strip():
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise ApiFailure(400, {"message": "Malformed JSON body."}) from None
        if not isinstance(body, dict):
            raise ApiFailure(400, {"message": "Expected a JSON object."})
        return body


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # A streamed body: its chunks and its length (always sent, so keep-alive works).
    stream: Iterable[bytes] | None = None
    length: int = 0
    raw: bytes | None = None


Dispatcher = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: CI logs are not ours to fill
        return

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query_string=parts.query,
            headers={key.lower(): value for key, value in self.headers.items()},
            raw_body=body,
        )
        response = self.server.dispatch(request)
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.stream is not None:
            payload, length = None, response.length
        elif response.raw is not None:
            payload = response.raw
            length = len(payload)
        elif response.body is None:
            payload, length = b"", 0
        else:
            payload = json.dumps(response.body).encode()
            length = len(payload)
            response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if payload:
            self.wfile.write(payload)
        elif response.stream is not None:
            for chunk in response.stream:
                self.wfile.write(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatcher) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)
        self.dispatch = dispatch

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-download is normal; anything else is a sandbox bug worth a line.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        sys.stderr.write(f"sandbox: error while serving {client_address}: {error!r}\n")
