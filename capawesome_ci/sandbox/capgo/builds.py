"""Capgo Build in the Capgo emulator: `/build/*` on the API origin, and the builder's own host (logs and
outputs) on a second loopback origin, reached without the API key, as in production.

API origin (authenticated by the emulator before `handle` is called; errors `{"error", "message"}`):
  POST /build/request, POST /build/start/{job}, GET /build/status, POST /build/cancel/{job},
  GET /build/logs/{job} (the deprecated SSE route: what is logged so far; a reader of a running build
  cancels it, as the real route does when its reader hangs up), and the TUS 1.0 core protocol under
  /build/upload/{job} (creation POST, HEAD, PATCH with Upload-Offset, 409 on a wrong offset; stored on disk).
Builder origin (`start(host)`): one port where a connection is peeked at: a WebSocket upgrade goes to a
websockets sync server, anything else to a plain HTTP server:
  POST /build_logs_direct/{job}/start (`x-capgo-log-token`), WS /build_logs_direct/{job}/stream?token=…,
  GET /build_outputs/{job}/{file}?expires=…&signature=… (signed, expiring, Range-aware, a valid apk/ipa).
A build runs on the clock once started: queued for `queue_seconds`, running for `run_seconds` while log
lines come out, then `outcome`; with `build_options.outputUploadEnabled` a successful build sends a
`qr_download_link` message with its signed link before its final status.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from capawesome_ci.errors import InputError
from capawesome_ci.sandbox.artifacts import artifact_chunks, remember_kind
from capawesome_ci.sandbox.server import ApiFailure, Request, Response, SandboxHTTPServer

OUTCOMES = ("succeeded", "failed")
TUS_VERSION = "1.0.0"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_JOB_PATH = r"(?P<job>[A-Za-z0-9-]{1,64})"


@dataclass(frozen=True)
class BuildConfig:
    run_seconds: float = 3.0
    queue_seconds: float = 0.5
    artifact_size: int = 256 * 1024
    outcome: str = "succeeded"
    link_seconds: float = 3600.0  # how long a qr_download_link stays valid
    log_lines: int = 12
    max_concurrent: int = 2  # builds pending or running per app: more is 429
    # Lines the build's own tools print before its last line (tests: what a gradle or fastlane run
    # may print, workflow commands and escapes included).
    extra_log: tuple[str, ...] = ()


def build_config_from_environment(environ: dict[str, str]) -> BuildConfig:
    """CAPGO_SANDBOX_BUILD_{RUN_SECONDS,QUEUE_SECONDS,ARTIFACT_SIZE,LINK_SECONDS,LOG_LINES,MAX_CONCURRENT,OUTCOME}."""
    settings: dict[str, Any] = {}
    for setting, kind in (
        ("run_seconds", float),
        ("queue_seconds", float),
        ("artifact_size", int),
        ("link_seconds", float),
        ("log_lines", int),
        ("max_concurrent", int),
    ):
        name = f"CAPGO_SANDBOX_BUILD_{setting.upper()}"
        text = environ.get(name, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if not 0 <= value < float("inf") or (setting == "max_concurrent" and value < 1):
            raise InputError(f"invalid {name}: {text!r} is not a number of at least {int(setting == 'max_concurrent')}")
        settings[setting] = value
    outcome = environ.get("CAPGO_SANDBOX_BUILD_OUTCOME", "").strip()
    if outcome:
        if outcome not in OUTCOMES:
            raise InputError(
                f"invalid CAPGO_SANDBOX_BUILD_OUTCOME: expected one of {', '.join(OUTCOMES)}, got {outcome!r}"
            )
        settings["outcome"] = outcome
    return BuildConfig(**settings)


def failure(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiFailure:
    return ApiFailure(status, {"error": code, "message": message, "moreInfo": {}}, headers)


@dataclass
class BuildJob:
    id: str
    app_id: str
    platform: str
    build_mode: str
    options: dict[str, Any]
    credentials: dict[str, str]
    upload_length: int | None = None
    upload_offset: int = 0
    upload_id: str | None = None
    started_at: float | None = None  # monotonic
    cancelled: bool = False
    cancelled_after: float | None = None  # seconds after the start: the log stops there
    log_session: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)  # built once at start

    @property
    def uploaded(self) -> bool:
        return self.upload_length is not None and self.upload_offset == self.upload_length


class CapgoBuilds:
    def __init__(self, config: BuildConfig, app_exists: Callable[[str], bool]) -> None:
        self.config = config
        self.app_exists = app_exists
        self.lock = threading.Lock()
        self.jobs: dict[str, BuildJob] = {}
        self._secret = secrets.token_bytes(32)
        self._uploads = Path(tempfile.mkdtemp(prefix="capgo-sandbox-builds-"))
        self._http: _BuilderOrigin | None = None
        self._thread: threading.Thread | None = None
        self.builder_origin = ""

    # -- the clock ---------------------------------------------------------------------------------
    def status(self, job: BuildJob) -> str:
        if job.cancelled:
            return "cancelled"
        if job.started_at is None:
            return "pending"
        elapsed = time.monotonic() - job.started_at
        if elapsed < self.config.queue_seconds:
            return "pending"
        if elapsed < self.config.queue_seconds + self.config.run_seconds:
            return "running"
        return self.config.outcome

    def _due(self, job: BuildJob) -> list[dict[str, Any]]:
        """The messages the build has sent by now, its final status last once it ended."""
        if job.started_at is None:
            return []
        status = self.status(job)
        if job.cancelled_after is not None:
            due = [message for message in job.messages if message["at"] <= job.cancelled_after]
        elif status in TERMINAL:
            due = list(job.messages)
        else:
            elapsed = time.monotonic() - job.started_at
            due = [message for message in job.messages if message["at"] <= elapsed]
        if status in TERMINAL:
            due.append({"id": len(job.messages) + 1, "type": "status", "status": status, "at": 0})
        return due

    def _script(self, job: BuildJob, origin: str) -> list[dict[str, Any]]:
        count, queue, run = self.config.log_lines, self.config.queue_seconds, self.config.run_seconds
        task = "assemble" if job.platform == "android" else "gym"
        texts = [f"Preparing {job.platform} {job.build_mode} build of {job.app_id}"]
        alias = job.credentials.get("KEYSTORE_KEY_ALIAS")
        if alias:  # a builder echoing a credential: the client must mask it
            texts.append(f"Signing with key alias {alias}")
        texts += [f"[{task}] step {index} of {count}" for index in range(1, count + 1)]
        texts += self.config.extra_log
        if self.config.outcome == "failed":
            texts.append("Build failed: compilation error (sandbox)")
        else:
            texts.append("Build succeeded")
        messages: list[dict[str, Any]] = [
            {"id": index + 1, "type": "log", "message": text, "at": queue + run * index / max(1, len(texts))}
            for index, text in enumerate(texts)
        ]
        if self.config.outcome == "succeeded" and job.options.get("outputUploadEnabled") is True:
            messages.append(
                {
                    "id": len(messages) + 1,
                    "type": "custom_msg",
                    "kind": "qr_download_link",
                    "data": {"url": self.sign(job, origin)},
                    "at": queue + run,
                }
            )
        return messages

    # -- signed outputs ----------------------------------------------------------------------------
    def file_name(self, job: BuildJob) -> str:
        return f"{job.app_id}-{job.id[:8]}.{'apk' if job.platform == 'android' else 'ipa'}"

    def seed(self, job: BuildJob) -> str:
        return f"capgo-build:{job.id}"

    def _signature(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def sign(self, job: BuildJob, origin: str) -> str:
        expires = int(time.time() + self.config.link_seconds)
        signature = self._signature(f"output:{job.id}:{expires}")
        return f"{origin}/build_outputs/{job.id}/{self.file_name(job)}?expires={expires}&signature={signature}"

    def log_token(self, job_id: str) -> str:
        return f"{job_id}.{self._signature('logs:' + job_id)}"

    # -- API origin --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request).encode()
        except ApiFailure as error:
            return Response(error.status, error.body, dict(error.headers)).encode()

    def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/build/request" and method == "POST":
            return self._request(request)
        if match := re.fullmatch(rf"/build/start/{_JOB_PATH}", path):
            return self._start(request, match["job"]) if method == "POST" else self._method()
        if path == "/build/status" and method == "GET":
            return self._status(request)
        if match := re.fullmatch(rf"/build/cancel/{_JOB_PATH}", path):
            return self._cancel(request, match["job"]) if method == "POST" else self._method()
        if (match := re.fullmatch(rf"/build/logs/{_JOB_PATH}", path)) and method == "GET":
            return self._sse(request, match["job"])
        if match := re.fullmatch(rf"/build/upload/{_JOB_PATH}(?:/(?P<upload>[A-Za-z0-9]+))?", path):
            return self._tus(request, match["job"], match["upload"])
        raise failure(404, "not_found", "Not found")

    @staticmethod
    def _method() -> Response:
        raise failure(405, "method_not_allowed", "Method not allowed")

    def _job(self, job_id: str, app_id: Any, verb: str) -> BuildJob:
        job = self.jobs.get(job_id)
        if job is None or not isinstance(app_id, str) or job.app_id != app_id:
            raise failure(400, "unauthorized", f"You do not have permission to {verb} builds for this app")
        return job

    def _request(self, request: Request) -> Response:
        body = request.json()
        app_id, platform = body.get("app_id"), body.get("platform")
        build_mode = body.get("build_mode") or "release"
        if body.get("credentials"):
            raise failure(
                400, "invalid_parameter", "`credentials` field is deprecated. Please use `build_credentials`."
            )
        if not app_id:
            raise failure(400, "missing_parameter", "app_id is required")
        if not platform:
            raise failure(400, "missing_parameter", "platform is required")
        if platform not in ("ios", "android"):
            raise failure(400, "invalid_parameter", "platform must be ios or android")
        if build_mode not in ("release", "debug"):
            raise failure(400, "invalid_parameter", "build_mode must be release or debug")
        options, credentials = body.get("build_options") or {}, body.get("build_credentials") or {}
        if not isinstance(options, dict) or not isinstance(credentials, dict):
            raise failure(400, "invalid_parameter", "build_options and build_credentials must be objects")
        if not isinstance(app_id, str) or not self.app_exists(app_id):
            raise failure(400, "not_found", "App not found")
        with self.lock:
            active = [j for j in self.jobs.values() if j.app_id == app_id and self.status(j) not in TERMINAL]
            if len(active) >= self.config.max_concurrent:
                raise failure(
                    429, "native_build_concurrency_limit_exceeded", "Too many concurrent native builds for your plan"
                )
            job = BuildJob(
                id=str(uuid.uuid4()),
                app_id=app_id,
                platform=platform,
                build_mode=build_mode,
                options=options,
                credentials={str(k): str(v) for k, v in credentials.items()},
            )
            self.jobs[job.id] = job
        session = str(uuid.uuid4())
        return Response(
            200,
            {
                "build_request_id": str(uuid.uuid4()),
                "job_id": job.id,
                "upload_session_key": session,
                "upload_path": f"orgs/sandbox/apps/{app_id}/native-builds/{session}.zip",
                "upload_url": f"{self._origin(request)}/build/upload/{job.id}",
                "upload_expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                "status": "pending",
            },
        )

    @staticmethod
    def _origin(request: Request) -> str:
        return "http://" + request.headers.get("host", "127.0.0.1")

    def _start(self, request: Request, job_id: str) -> Response:
        body = request.json()
        if not body.get("app_id"):
            raise failure(400, "missing_parameter", "app_id is required in request body")
        with self.lock:
            job = self._job(job_id, body["app_id"], "start")
            if job.started_at is not None:
                raise failure(400, "builder_error", "Failed to start build: job already started")
            if not job.uploaded:
                raise failure(400, "builder_error", "Failed to start build: the project upload is not complete")
            job.messages = self._script(job, self.builder_origin)
            job.started_at = time.monotonic()
        return Response(
            200,
            {
                "job_id": job.id,
                "status": "running",
                "logs_url": f"{self.builder_origin}/build_logs_direct/{job.id}",
                "logs_token": self.log_token(job.id),
            },
        )

    def _status(self, request: Request) -> Response:
        query = request.query
        with self.lock:
            job = self._job(query.get("job_id", ""), query.get("app_id"), "view")
            status = self.status(job)
            started = job.started_at
        now = time.time()
        started_at = None if started is None else int(now - (time.monotonic() - started))
        completed = status in TERMINAL and started is not None
        return Response(
            200,
            {
                "job_id": job.id,
                "status": status,
                "machine": "sandbox-m4",
                "started_at": started_at,
                "completed_at": int(now) if completed else None,
                "runner_wait_seconds": self.config.queue_seconds if started is not None else None,
                "build_time_seconds": self.config.run_seconds if completed and not job.cancelled else None,
                "error": "Build failed: compilation error (sandbox)" if status == "failed" else None,
                "upload_url": None,
            },
        )

    def _cancel(self, request: Request, job_id: str) -> Response:
        body = request.json()
        if not body.get("app_id"):
            raise failure(400, "missing_parameter", "app_id is required in request body")
        with self.lock:
            job = self._job(job_id, body["app_id"], "cancel")
            if self.status(job) in TERMINAL:
                raise failure(400, "builder_error", f"Failed to cancel build: job is already {self.status(job)}")
            self._cancel_now(job)
        return Response(200, {"job_id": job.id, "status": "cancelled", "message": "Build cancelled"})

    @staticmethod
    def _cancel_now(job: BuildJob) -> None:
        job.cancelled = True
        if job.started_at is not None:
            job.cancelled_after = time.monotonic() - job.started_at

    def _sse(self, request: Request, job_id: str) -> Response:
        with self.lock:
            job = self._job(job_id, request.query.get("app_id"), "view logs of")
            due = self._due(job)
            if self.status(job) not in TERMINAL and job.started_at is not None:
                self._cancel_now(job)  # the reader of this route hangs up at the end of the answer
        text = "".join(f"data: {json.dumps(_public(message))}\n\n" for message in due)
        return Response(200, raw=text.encode(), headers={"Content-Type": "text/event-stream"})

    # -- TUS (1.0 core + creation) -----------------------------------------------------------------
    def _tus(self, request: Request, job_id: str, upload_id: str | None) -> Response:
        headers = {"Tus-Resumable": TUS_VERSION}
        if request.method == "OPTIONS":
            return Response(204, headers={**headers, "Tus-Version": TUS_VERSION, "Tus-Extension": "creation"})
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise failure(400, "not_found", "Build request not found")
            if upload_id is None:
                if request.method != "POST":
                    self._method()
                length = request.headers.get("upload-length", "")
                if not length.isdigit():
                    raise failure(400, "invalid_request", "Upload-Length is required")
                job.upload_id, job.upload_length, job.upload_offset = uuid.uuid4().hex, int(length), 0
                (self._uploads / job.upload_id).write_bytes(b"")
                location = f"{self._origin(request)}/build/upload/{job.id}/{job.upload_id}"
                return Response(201, headers={**headers, "Location": location})
            if upload_id != job.upload_id or job.upload_length is None:
                raise failure(404, "not_found", "Upload not found")
            if request.method == "HEAD":
                offset = {"Upload-Offset": str(job.upload_offset), "Upload-Length": str(job.upload_length)}
                return Response(200, headers={**headers, **offset, "Cache-Control": "no-store"})
            if request.method != "PATCH":
                self._method()
            if request.headers.get("content-type") != "application/offset+octet-stream":
                raise failure(415, "invalid_request", "Content-Type must be application/offset+octet-stream")
            if request.headers.get("upload-offset") != str(job.upload_offset):
                raise failure(409, "offset_mismatch", f"Upload-Offset must be {job.upload_offset}")
            if job.upload_offset + len(request.raw_body) > job.upload_length:
                raise failure(400, "invalid_request", "The upload is longer than its Upload-Length")
            with (self._uploads / job.upload_id).open("ab") as stored:
                stored.write(request.raw_body)
            job.upload_offset += len(request.raw_body)
            return Response(204, headers={**headers, "Upload-Offset": str(job.upload_offset)})

    def uploaded_bytes(self, job_id: str) -> bytes:
        """What the client uploaded for `job_id` (tests)."""
        job = self.jobs[job_id]
        return b"" if job.upload_id is None else (self._uploads / job.upload_id).read_bytes()

    # -- builder origin ----------------------------------------------------------------------------
    def start(self, host: str) -> None:
        if self._http is not None:
            return
        self._http = _BuilderOrigin((host, 0), self._builder_http, self._stream)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.1,), name="capgo-builder", daemon=True)
        self._thread.start()
        address, port = str(self._http.server_address[0]), int(self._http.server_address[1])
        self.builder_origin = f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        shutil.rmtree(self._uploads, ignore_errors=True)

    def _builder_http(self, request: Request) -> Response:
        try:
            return self._builder_route(request).encode()
        except ApiFailure as error:
            return Response(error.status, error.body, dict(error.headers)).encode()

    def _builder_route(self, request: Request) -> Response:
        if match := re.fullmatch(rf"/build_logs_direct/{_JOB_PATH}/start", request.path):
            if request.method != "POST":
                self._method()
            token = request.headers.get("x-capgo-log-token", "")
            if not hmac.compare_digest(token, self.log_token(match["job"])):
                raise failure(401, "invalid_token", "Invalid log token")
            with self.lock:
                job = self.jobs.get(match["job"])
                if job is None:
                    raise failure(404, "not_found", "Job not found")
                job.log_session = True
            return Response(200, {"status": "ok"})
        if match := re.fullmatch(rf"/build_outputs/{_JOB_PATH}/(?P<name>[^/]+)", request.path):
            return self._output(request, match["job"], match["name"])
        raise failure(404, "not_found", "Not found")

    def _output(self, request: Request, job_id: str, name: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            self._method()
        query = request.query
        expires = query.get("expires", "")
        expected = self._signature(f"output:{job_id}:{expires}")
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or not expires.isdigit() or not hmac.compare_digest(expected, query.get("signature", "")):
            raise failure(403, "invalid_signature", "The signature of this URL is invalid")
        if time.time() > int(expires):
            raise failure(403, "expired", "This download link has expired")
        size, seed = self.config.artifact_size, self.seed(job)
        remember_kind(seed, "apk" if job.platform == "android" else "ipa")
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{self.file_name(job)}"',
            "Accept-Ranges": "bytes",
        }
        match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", request.headers.get("range", ""))
        start, end = 0, size
        if match:
            start = int(match[1])
            end = min(size, int(match[2]) + 1) if match[2] else size
            if start >= size or end <= start:
                raise failure(
                    416, "range_not_satisfiable", "Range not satisfiable", {"Content-Range": f"bytes */{size}"}
                )
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        return Response(
            206 if match else 200, headers=headers, stream=artifact_chunks(seed, size, start, end), length=end - start
        )

    def _stream(self, connection: Any) -> None:
        """One WebSocket reader of a build's log: messages as they are due, the final status, then close."""
        from websockets.exceptions import ConnectionClosed

        parts = urlsplit(connection.request.path)
        match = re.fullmatch(rf"/build_logs_direct/{_JOB_PATH}/stream", parts.path)
        token = parse_qs(parts.query).get("token", [""])[0]
        if match is None or not hmac.compare_digest(token, self.log_token(match["job"])):
            connection.close(4401, "invalid token")
            return
        with self.lock:
            job = self.jobs.get(match["job"])
        if job is None or not job.log_session:
            connection.close(4400, "log session not started")
            return
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                with self.lock:
                    due = self._due(job)
                for message in due[sent:]:
                    connection.send(json.dumps(_public(message)))
                sent = max(sent, len(due))
                if due and due[-1].get("type") == "status":
                    break
                with contextlib.suppress(TimeoutError):
                    connection.recv(timeout=0.05)  # confirmations and heartbeats: read, not needed
            connection.close()


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != "at"}


class _BuilderOrigin(SandboxHTTPServer):
    """Plain HTTP, except that a WebSocket upgrade is handed to the websockets sync server."""

    def __init__(
        self, address: tuple[str, int], dispatch: Callable[[Request], Response], stream: Callable[[Any], None]
    ) -> None:
        from websockets.sync.server import serve

        super().__init__(address, dispatch)
        # Never listens: its handler is given the connections peeked at below.
        self._placeholder = socket.socket()
        self.websockets = serve(stream, sock=self._placeholder, open_timeout=5, close_timeout=2)
        self._upgraded: set[socket.socket] = set()
        self._upgraded_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._route_connection, args=(request, client_address), daemon=True).start()

    def _route_connection(self, sock: socket.socket, address: Any) -> None:
        if not _is_upgrade(sock):
            super().process_request(sock, address)
            return
        with self._upgraded_lock:
            self._upgraded.add(sock)
        try:
            self.websockets.handler(sock, address)
        finally:
            with self._upgraded_lock:
                self._upgraded.discard(sock)

    def stop(self) -> None:
        super().stop()
        with self._upgraded_lock:
            upgraded = list(self._upgraded)
        for sock in upgraded:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._placeholder.close()


def _is_upgrade(sock: socket.socket) -> bool:
    """Whether the request waiting on `sock` asks for a WebSocket (peeked: the bytes stay for the reader)."""
    sock.settimeout(5.0)
    head = b""
    try:
        for _ in range(100):
            head = sock.recv(8192, socket.MSG_PEEK)
            if b"\r\n\r\n" in head or not head or len(head) >= 8192:
                break
            time.sleep(0.01)
    except OSError:
        return False
    finally:
        sock.settimeout(None)
    return head.startswith(b"GET ") and re.search(rb"(?im)^upgrade:\s*websocket", head) is not None
