"""BodyReader: a body framed by Content-Length is read straight from the socket after the first
piece; every other body goes through httpx. Against a small HTTP server on loopback, so framing,
early closes and stalls are under the test's control."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from capawesome_ci.cloud.body_reader import BodyReader
from capawesome_ci.steps.download import HashingFile

BODY = hashlib.shake_256(b"body").digest(3 << 20)  # 3 MiB: far more than httpx's first 64 KiB read

Handler = Callable[[socket.socket], None]


@contextmanager
def http_server(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[int]]]:
    """Serves every connection with `handler` (which reads the request and answers), over TLS when
    given a server context; yields the base URL and a list that counts the connections accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        listener.close()


def self_signed_tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def read_request(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return False
        data += piece
    return True


@contextmanager
def streamed(handler: Handler, read_timeout: float = 5.0) -> Iterator[httpx.Response]:
    """One streamed GET against a server answering with `handler`."""
    with (
        http_server(handler) as (url, _),
        httpx.Client(timeout=httpx.Timeout(5.0, read=read_timeout)) as client,
        client.stream("GET", url) as response,
    ):
        yield response


def content_length_server(body: bytes, send: int | None = None, stall: bool = False) -> Handler:
    """Answers each request with `body` framed by Content-Length; sends only `send` bytes of it and
    closes (or stalls) when asked. Keeps the connection open for further requests otherwise."""

    def handle(conn: socket.socket) -> None:
        with conn:
            while read_request(conn):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                conn.sendall(body[:send] if send is not None else body)
                if stall:
                    threading.Event().wait(5)
                if send is not None:
                    return

    return handle


def chunked_server(body: bytes) -> Handler:
    def handle(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 100_000):
                piece = body[start : start + 100_000]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")

    return handle


def read_all(reader: BodyReader, buffer_size: int = 256 << 10) -> bytes:
    buffer = memoryview(bytearray(buffer_size))
    out = bytearray()
    while count := reader.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


def test_a_content_length_body_is_read_from_the_socket_and_the_connection_is_not_reused() -> None:
    with http_server(content_length_server(BODY)) as (url, connections), httpx.Client() as client:
        with client.stream("GET", url + "/artifact") as response:
            reader = BodyReader(response)
            assert read_all(reader) == BODY
            assert reader.direct
        # h11 never saw the end of that body: the next request must get a fresh connection.
        assert client.get(url + "/again").content == BODY
    assert len(connections) == 2


def test_a_tls_body_is_read_from_the_tls_socket(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed_tls(tmp_path)
    with (
        http_server(content_length_server(BODY), tls=server_tls) as (url, _),
        httpx.Client(verify=client_tls) as client,
        client.stream("GET", url) as response,
    ):
        reader = BodyReader(response)
        assert read_all(reader) == BODY
        assert reader.direct


@pytest.mark.parametrize("buffer_size", [1, 1000, 1 << 20])
def test_every_buffer_size_yields_the_same_bytes(buffer_size: int) -> None:
    with streamed(content_length_server(BODY[:300_000])) as response:
        assert read_all(BodyReader(response), buffer_size) == BODY[:300_000]


def test_a_chunked_body_goes_through_httpx() -> None:
    with streamed(chunked_server(BODY)) as response:
        reader = BodyReader(response)
        assert read_all(reader) == BODY
        assert not reader.direct


def test_a_mocked_response_goes_through_httpx() -> None:
    with respx.mock:
        respx.get("https://storage.example/a.apk").respond(200, content=BODY[:200_000])
        with httpx.Client() as client, client.stream("GET", "https://storage.example/a.apk") as response:
            reader = BodyReader(response)
            assert read_all(reader) == BODY[:200_000]
            assert not reader.direct


def test_a_body_cut_short_raises_what_httpx_raises_after_the_bytes_that_came() -> None:
    cut = 2_000_000
    with streamed(content_length_server(BODY, send=cut)) as response:
        reader = BodyReader(response)
        buffer = memoryview(bytearray(1 << 20))
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError, match=f"expected {len(BODY)}"):
            while count := reader.readinto(buffer):
                received += buffer[:count]
        assert bytes(received) == BODY[:cut]
        assert reader.direct


def test_a_stalled_body_times_out_with_the_clients_read_timeout() -> None:
    server = content_length_server(BODY, send=1_000_000, stall=True)
    with streamed(server, read_timeout=0.3) as response, pytest.raises(httpx.ReadTimeout):
        read_all(BodyReader(response))


def test_a_body_ending_with_the_first_piece_needs_no_socket() -> None:
    with http_server(content_length_server(b"small")) as (url, connections), httpx.Client() as client:
        with client.stream("GET", url) as response:
            reader = BodyReader(response)
            assert read_all(reader) == b"small"
            assert not reader.direct
        client.get(url)
    assert len(connections) == 1  # a body read through to its end by h11 keeps the connection


def test_a_failed_write_returns_its_buffer_and_reports_the_error() -> None:
    fd = os.open("/dev/full", os.O_WRONLY)
    file = HashingFile(fd, buffers=1, buffer_size=1024)
    try:
        with pytest.raises(OSError, match="No space left"):
            file.commit(file.buffer(), 1024)
        assert file.written == 0
        file.buffer()  # the only buffer is back in the pool: this would block otherwise
    finally:
        file.close()
        os.close(fd)


def test_hashing_file_hashes_what_it_writes_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    file = HashingFile(fd, buffers=2, buffer_size=100_000)
    try:
        for start in range(0, len(BODY), 100_000):
            buffer = file.buffer()
            piece = BODY[start : start + 100_000]
            buffer[: len(piece)] = piece
            file.commit(buffer, len(piece))
        assert file.hexdigest() == hashlib.sha256(BODY).hexdigest()
    finally:
        file.close()
        os.close(fd)
    assert path.read_bytes() == BODY
