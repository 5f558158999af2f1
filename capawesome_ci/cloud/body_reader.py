"""Read a streamed httpx response body into the caller's buffer, without Python copying it thrice.

httpx hands a body over as new 64 KiB `bytes` objects, each copied socket → h11's buffer → event
→ caller. For a 1 GiB artifact that churn cost more CPU than the transfer (bench/RESULTS.md,
"Downloading"). For the common case, an HTTP/1.1 body framed by Content-Length on a plain or TLS
socket, `BodyReader` takes the bytes httpx had already buffered and reads the rest with
`recv_into` straight from the connection's socket. The request itself (proxies, redirects, auth,
the retry policy) went through httpx as usual; only the body bypasses it. Every other case
(chunked bodies, HTTP/2, TLS inside a TLS proxy, mocked transports) is read through httpx.

h11 never sees the rest of a body read this way, so httpcore closes that connection when the
response is closed instead of reusing it: one new connection per download.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from capawesome_ci.cloud.errors import map_transport_error
from capawesome_ci.cloud.retry import RESUMED_BY_CALLER
from capawesome_ci.deadline import DeadlineExceeded, current_deadline

# Statuses whose responses never carry a body, whatever Content-Length says.
_NO_BODY_STATUSES = frozenset({204, 304})


def _body_length(response: httpx.Response) -> int | None:
    """The body's length when it is framed by Content-Length alone (what h11 then reads)."""
    if response.http_version not in ("HTTP/1.1", "HTTP/1.0") or "Transfer-Encoding" in response.headers:
        return None
    if response.request.method == "HEAD" or response.status_code in _NO_BODY_STATUSES:
        return None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _connection_socket(response: httpx.Response) -> socket.socket | None:
    """The socket that yields this response's plaintext, or None when only httpcore can read it."""
    stream = response.extensions.get("network_stream")
    if stream is None:  # a mocked or custom transport
        return None
    try:
        sock = stream.get_extra_info("socket")
        ssl_object = stream.get_extra_info("ssl_object")
    except Exception:  # an unknown stream type: leave it to httpx
        return None
    if isinstance(sock, ssl.SSLSocket):
        return sock  # TLS to the server (or through a CONNECT tunnel): recv_into decrypts
    if isinstance(sock, socket.socket) and ssl_object is None:
        return sock  # plain HTTP
    return None  # e.g. TLS inside an HTTPS proxy's TLS: the raw socket carries ciphertext


class BodyReader:
    """`readinto(buffer)` → bytes placed at the start of `buffer`; 0 at the end of the body.
    Failures are raised as the httpx errors httpx itself would raise (ReadError, ReadTimeout,
    RemoteProtocolError), so callers map them in one place."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_raw()
        self._pending = memoryview(b"")
        self._length = _body_length(response)
        self._received = 0
        # Set once the first piece came through httpx: h11's buffer is then empty (it hands over
        # everything it holds, up to Content-Length, as one event) and the socket is ours.
        self._socket: socket.socket | None = None
        self._read_timeout: float | None = response.request.extensions.get("timeout", {}).get("read")
        # Reads from the socket bypass the transport, so they honour the step's deadline here.
        self._deadline = current_deadline()

    @property
    def direct(self) -> bool:
        """Whether the rest of the body is read from the socket."""
        return self._socket is not None

    def readinto(self, buffer: memoryview) -> int:
        if self._pending:
            return self._take_pending(buffer)
        if self.direct:
            return self._recv_into(buffer)
        try:
            chunk = next(self._chunks)
        except StopIteration:
            return 0
        self._received += len(chunk)
        self._pending = memoryview(chunk)
        if self._length is not None and self._received < self._length:
            self._socket = _connection_socket(self._response)
            if self._socket is not None:
                self._socket.settimeout(self._read_timeout)
        return self._take_pending(buffer)

    def _take_pending(self, buffer: memoryview) -> int:
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _recv_into(self, buffer: memoryview) -> int:
        assert self._socket is not None and self._length is not None
        remaining = self._length - self._received
        if remaining <= 0 or not len(buffer):
            return 0
        bounded = self._deadline.at != float("inf")
        if bounded:
            self._deadline.check(f"downloading ({self._received} of {self._length} bytes)")
            self._socket.settimeout(max(0.001, self._deadline.cap(self._read_timeout)))
        try:
            count = self._socket.recv_into(buffer, min(len(buffer), remaining))
        except TimeoutError as error:
            if bounded and self._deadline.expired:
                raise DeadlineExceeded(
                    f"{self._deadline.what} reached while downloading ({self._received} of {self._length} bytes)"
                ) from None
            raise httpx.ReadTimeout(str(error) or "timed out", request=self._response.request) from error
        except OSError as error:  # reset, broken TLS record (ssl.SSLError is an OSError), …
            raise httpx.ReadError(str(error) or type(error).__name__, request=self._response.request) from error
        if count == 0:
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body "
                f"(received {self._received} bytes, expected {self._length})",
                request=self._response.request,
            )
        self._received += count
        return count


class Download:
    """An open artifact transfer, as the download step reads it (platform.ArtifactStream): whether the
    server honoured the requested start (206), the whole size when the answer says it, and the body.
    Read failures come out mapped like every other request's."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.partial = response.status_code == 206
        self.total_size: int | None = None
        content_range = response.headers.get("Content-Range", "")
        if self.partial and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            self.total_size = int(content_range.rsplit("/", 1)[1])
        elif not self.partial and response.headers.get("Content-Length", "").isdigit():
            self.total_size = int(response.headers["Content-Length"])
        self._body = BodyReader(response)

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self._body.readinto(buffer)
        except httpx.TransportError as error:
            raise map_transport_error(error, self._response.request) from error


def download_request(
    client: httpx.Client, url: str, headers: dict[str, str], stall_timeout: float | None
) -> httpx.Request:
    """The GET of an artifact: its next bytes awaited at most `stall_timeout` (not the API's read
    timeout), and marked so that the transport does not retry what the download step resumes itself."""
    limits = client.timeout
    timeout = httpx.Timeout(
        connect=limits.connect,
        read=limits.read if stall_timeout is None else stall_timeout,
        write=limits.write,
        pool=limits.pool,
    )
    return client.build_request("GET", url, headers=headers, timeout=timeout, extensions={RESUMED_BY_CALLER: True})
