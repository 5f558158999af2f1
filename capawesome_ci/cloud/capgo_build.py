"""Capgo Build (native builds) behind the build, wait, cancel and download methods of `platform.py`.

The sequence is the one Capgo's own CLI (`@capgo/cli build request`) drives:
  1. `POST /build/request {app_id, platform, build_mode, build_options, build_credentials}` → `{job_id,
     upload_url, …}`. Credentials travel in each request (Capgo never stores them).
  2. TUS upload (tuspy) of the zipped native project to `upload_url`, 5 MiB chunks, metadata `filename` and
     `filetype`, the API key in `authorization` (upload_url is the API's own TUS proxy).
  3. `POST /build/start/{job_id} {app_id}` → `{status, logs_url?, logs_token?}`.
  4. Logs: `POST {logs_url}/start` with `x-capgo-log-token`, then the WebSocket `{logs_url}/stream?token=…`
     (messages `log`, `status`, `custom_msg`, `batch_messages`); neither takes an offset, so a reader thread
     buffers the lines and `read_log_lines` hands out those past the caller's offset.
  5. `GET /build/status?job_id&app_id&platform`; `POST /build/cancel/{job_id} {app_id}`.
There is no artifacts endpoint: with `build_options.outputUploadEnabled` the builder sends a time-limited
link as a `custom_msg` of kind `qr_download_link` in the log stream. That link is the one artifact; it is
fetched with a client that never carries our key.

The log token comes only from `/build/start`, so only the process that started a build can read its log
stream. A later process (`download --build-id JOB`) reads the deprecated SSE route `GET /build/logs/{job}`
instead, and only once the build has ended: that route cancels a build whose reader disconnects.

The build id is Capgo's job id. `BuildRequest.options` holds the build's fields under Capgo's own names
(steps/capgo/build.py): `build_mode`; UPPER_SNAKE keys are build credentials (secrets, masked in every
log line and dry-run plan); the rest are `build_options` keys (camelCase).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from capawesome_ci.cloud.answers import Record, object_answer, unusable
from capawesome_ci.cloud.body_reader import Download, download_request
from capawesome_ci.cloud.errors import map_transport_error, raise_for_response
from capawesome_ci.cloud.paths import segment, wire_path
from capawesome_ci.cloud.transport import PLANNED_ID, USER_AGENT, download_client
from capawesome_ci.deadline import CANCEL_GRACE_SECONDS, Deadline, current_deadline, deadline_scope
from capawesome_ci.errors import AuthError, CiError, InputError, Interrupted, NotFoundError, TransientError
from capawesome_ci.platform import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Artifact,
    Build,
    BuildRequest,
    Job,
    LogLine,
)
from capawesome_ci.providers import Connection
from capawesome_ci.redact import SecretRedactor

if TYPE_CHECKING:  # capgo.py imports this module (lazily): only the type comes back
    from capawesome_ci.cloud.capgo import CapgoApi

PLATFORMS = ("android", "ios")
# Capgo's build statuses in the normalised vocabulary; builder-specific words count as running.
JOB_STATUS = {
    "pending": PENDING,
    "queued": PENDING,
    "running": RUNNING,
    "succeeded": SUCCEEDED,
    "released": SUCCEEDED,
    "failed": FAILED,
    "expired": FAILED,
    "cancelled": CANCELED,
    "canceled": CANCELED,
}
TERMINAL_RAW = frozenset({"succeeded", "released", "failed", "expired", "cancelled", "canceled"})
UNKNOWN_JOB = frozenset({"unauthorized"})  # what the status route answers for a job not of this app
TUS_CHUNK_SIZE = 5 * 1024 * 1024  # what @capgo/cli sends
# No chunk may take longer than this (tuspy's requests have no timeout: a stalled chunk is abandoned).
TUS_CHUNK_SECONDS = 300.0
LOG_OPEN_SECONDS = 15.0
LOG_RECV_SECONDS = 1.0  # how often the reader looks up from the socket to see whether it should stop
LOG_RECONNECTS = 5
# After the status says the build ended, how long the log stream may take to deliver its last lines.
LOG_DRAIN_SECONDS = 15.0
# Credential pieces this long or longer are masked in what the builder sends (its log, the status
# error): a builder echoes passwords, and the reporter only masks from 8 characters.
CREDENTIAL_MIN_CHARS = 4
MAX_LOG_LINES = 200_000
BOOLEAN_OPTIONS = frozenset(
    {
        "outputUploadEnabled",
        "skipBuildNumberBump",
        "skipMarketingVersionBump",
        "submitToStoreReview",
        "iosAutomaticRelease",
    }
)
INTEGER_OPTIONS = frozenset({"outputRetentionSeconds"})
BINARY_TYPES = ("apk", "aab", "ipa")
DEFAULT_BINARY_TYPE = {"android": "apk", "ios": "ipa"}
_CREDENTIAL_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


def split_options(options: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """`BuildRequest.options` → (build_mode, build_options, build_credentials)."""
    build_options: dict[str, Any] = {}
    credentials: dict[str, str] = {}
    for key, value in options.items():
        if key == "build_mode":
            continue
        if _CREDENTIAL_KEY.fullmatch(key):
            credentials[key] = value
        elif key in BOOLEAN_OPTIONS:
            build_options[key] = value == "true"
        elif key in INTEGER_OPTIONS and value.isdigit():
            build_options[key] = int(value)
        else:
            build_options[key] = value
    return options.get("build_mode", "release"), build_options, credentials


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = httpx.URL(url)
    return parts.scheme, parts.host, parts.port


def _is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _http_url(text: str, item: Record, key: str) -> str:
    if not _is_http_url(text):
        raise item.unusable(f"a {key!r} that is not an http(s) URL")
    return text


class LogStream:
    """One build's log socket, read by a daemon thread into a buffer of lines."""

    def __init__(self, ws_url: str, redact: SecretRedactor, deadline: Deadline) -> None:
        self._ws_url = ws_url
        self._redact = redact
        self._deadline = deadline
        self._lock = threading.Lock()
        self.lines: list[str] = []
        self.link: str | None = None
        self.final_status: str | None = None
        self.error: str | None = None
        self._seen_ids: set[int] = set()
        self._stop = threading.Event()
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capgo-build-logs", daemon=True)

    def start(self) -> LogStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait_ended(self, seconds: float) -> bool:
        return self.ended.wait(max(0.0, self._deadline.cap(seconds)))

    def lines_from(self, offset: int) -> list[LogLine]:
        with self._lock:
            return [LogLine(number=offset + index + 1, text=text) for index, text in enumerate(self.lines[offset:])]

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        try:
            for attempt in range(LOG_RECONNECTS + 1):
                if self._finished() or self._deadline.expired:
                    return
                try:
                    with connect(
                        self._ws_url,
                        open_timeout=self._deadline.cap(LOG_OPEN_SECONDS),
                        close_timeout=self._deadline.cap(2.0),
                        user_agent_header=USER_AGENT,
                        max_size=4 * 1024 * 1024,
                    ) as socket:
                        self._read(socket)
                    if self._finished():
                        return
                except ConnectionClosed:
                    if self._finished():
                        return
                except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
                    self.error = f"{type(error).__name__}: {error}"
                if attempt < LOG_RECONNECTS:
                    self._stop.wait(self._deadline.cap(1.0 + attempt))
        finally:
            self.ended.set()

    def _finished(self) -> bool:
        return self.final_status is not None or self._stop.is_set()

    def _read(self, socket: Any) -> None:
        while not self._stop.is_set() and not self._deadline.expired:
            try:
                raw = socket.recv(timeout=self._deadline.cap(LOG_RECV_SECONDS))
            except TimeoutError:
                continue
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            confirmed = self.take(text)
            if confirmed is not None:
                # What the CLI answers, so that a reconnecting stream does not replay these lines.
                socket.send(json.dumps({"type": "confirmed_received", "lastId": confirmed}))
            if self.final_status:
                return

    def take(self, text: str) -> int | None:
        """One message of the stream; the highest message id it carried, to confirm."""
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            self._add(text)
            return None
        if parsed.get("type") == "batch_messages" and isinstance(parsed.get("messages"), list):
            entries = [entry for entry in parsed["messages"] if isinstance(entry, dict)]
        else:
            entries = [parsed]
        last_id: int | None = None
        for entry in entries:
            entry_id = entry.get("id")
            if type(entry_id) is int:
                if entry_id in self._seen_ids:
                    continue  # replayed after a reconnect
                self._seen_ids.add(entry_id)
                last_id = entry_id if last_id is None else max(last_id, entry_id)
            self._entry(entry)
        return last_id

    def _entry(self, entry: dict[str, Any]) -> None:
        kind = entry.get("type")
        if kind == "heartbeat_response":
            return
        if kind == "custom_msg":
            data = entry.get("data")
            if entry.get("kind") == "qr_download_link" and isinstance(data, dict) and isinstance(data.get("url"), str):
                self.link = data["url"]
                self._add("Build output ready for download (time-limited link)")
            return
        if kind == "status":
            status = entry.get("status")
            if isinstance(status, str) and status.lower() in TERMINAL_RAW:
                self.final_status = status.lower()
            return
        if isinstance(entry.get("message"), str):
            self._add(entry["message"])

    def _add(self, text: str) -> None:
        if not text.strip():
            return
        with self._lock:
            if len(self.lines) < MAX_LOG_LINES:
                self.lines.append(self._redact(text))


BUILD_EXTRA = ("tusclient", "websockets")  # the capgo-build extra: the TUS upload, the log socket


def require_build_extra() -> None:
    """A one-line usage error (exit 2) when the capgo-build extra is not installed."""
    import importlib.util

    missing = [module for module in BUILD_EXTRA if importlib.util.find_spec(module) is None]
    if missing:
        raise InputError(
            f"Capgo Build needs the capgo-build extra ({', '.join(missing)} missing): "
            "pip install 'capawesome-ci[capgo-build]'"
        )


class CapgoBuilds:
    """The build half of the Capgo adapter (cloud/capgo.py delegates its build methods here)."""

    def __init__(self, api: CapgoApi, app_id: str, connection: Connection) -> None:
        self.api = api
        self.app_id = app_id
        self.connection = connection
        self.redact = SecretRedactor(min_chars=CREDENTIAL_MIN_CHARS)
        self._platforms: dict[str, str] = {}  # job id → platform (the status route asks for it)
        self._logs: dict[str, tuple[str, str]] = {}  # job id → (logs_url, logs_token) from /build/start
        self._streams: dict[str, LogStream] = {}
        self._finished: dict[str, LogStream] = {}  # another process's build: its log, once ended
        self._links: dict[str, str] = {}  # job id → the artifact's time-limited link
        self._ended: set[str] = set()  # jobs whose status said they ended
        self._errors: dict[str, str] = {}  # job id → the status's error text
        self._downloads: httpx.Client | None = None
        self._logs_client: httpx.Client | None = None

    # -- create ------------------------------------------------------------------------------------
    def create_build(self, request: BuildRequest) -> Build:
        if request.platform not in PLATFORMS:
            raise InputError(f"Capgo builds android or ios, not {request.platform}", field="platform")
        if request.git_ref or request.source_url or request.source is None:
            raise InputError("Capgo builds only from the checkout: give the native project's folder", field="path")
        require_build_extra()  # before the build request: a build we could not upload or follow is waste
        build_mode, build_options, credentials = split_options(request.options)
        for secret in credentials.values():
            self.redact.register(secret)
        body = {
            "app_id": self.app_id,
            "platform": request.platform,
            "build_mode": build_mode,
            "build_options": {"platform": request.platform, "buildMode": build_mode, **build_options},
            "build_credentials": credentials,
        }
        recorder = self.connection.dry_run_recorder
        if recorder is not None:
            # Recorded here, not by the dry-run transport: the plan shows credential names, never values.
            size = request.source.stat().st_size
            recorder("POST", "/build/request", {**body, "build_credentials": {key: "***" for key in credentials}})
            recorder("POST", "<upload_url> (TUS)", f"<{size} bytes of {request.source.name}>")
            recorder("POST", f"/build/start/{PLANNED_ID}", {"app_id": self.app_id})
            return Build(id=PLANNED_ID, platform=request.platform, job_id=PLANNED_ID)
        answer = self.api.object("POST", "/build/request", json=body)
        job_id = answer.id("job_id")
        upload_url = _http_url(answer.token("upload_url"), answer, "upload_url")
        self._platforms[job_id] = request.platform
        try:
            self._upload(upload_url, request)
        except (CiError, Interrupted) as error:  # not started: cancel it rather than leave it pending
            note = self._cancel_unstarted(job_id)
            if isinstance(error, CiError):
                error.append(note)
            raise
        started = self.api.object("POST", f"/build/start/{segment(job_id)}", json={"app_id": self.app_id})
        logs_url, logs_token = started.text("logs_url"), started.text("logs_token")
        if logs_url and logs_token:
            self._logs[job_id] = (_http_url(logs_url, started, "logs_url"), logs_token)
        return Build(id=job_id, platform=request.platform, job_id=job_id)

    def _upload(self, upload_url: str, request: BuildRequest) -> None:
        """TUS upload by tuspy, one chunk per worker thread, each bounded by the deadline (tuspy's requests
        have no timeout: a stalled chunk is abandoned, its daemon thread with it)."""
        from tusclient.client import TusClient
        from tusclient.exceptions import TusCommunicationError, TusUploadFailed

        assert request.source is not None
        source = request.source
        size = source.stat().st_size
        # The key goes to the API's own TUS proxy only, never to another origin.
        same_origin = _origin(upload_url) == _origin(self.connection.base_url)
        headers = {"User-Agent": USER_AGENT, **({"authorization": self.connection.token} if same_origin else {})}
        client = TusClient(upload_url, headers=headers)
        uploader = client.uploader(
            file_path=str(source),
            chunk_size=TUS_CHUNK_SIZE,
            metadata={"filename": source.name, "filetype": "application/zip"},
            retries=0,
        )
        where = f"TUS upload to {wire_path(httpx.URL(upload_url))}"
        try:
            location = self._bounded(uploader.create_url, f"{where}: creating the upload")
            if _origin(str(location)) != _origin(upload_url):
                raise unusable("POST", wire_path(httpx.URL(upload_url)), "an upload Location on another origin")
            uploader.set_url(location)
            uploader.offset = 0
            if request.source_progress is not None:
                request.source_progress(0, size)
            while uploader.offset < size:
                self._bounded(uploader.upload_chunk, f"{where}: sending bytes from {uploader.offset} of {size}")
                if request.source_progress is not None:
                    request.source_progress(uploader.offset, size)
        except (TusCommunicationError, TusUploadFailed) as error:
            status = getattr(error, "status_code", None)
            detail = f"HTTP {status}" if status else type(error).__name__
            message = f"{where} failed ({detail})"
            if status in (401, 403):
                raise AuthError(message) from None
            raise TransientError(message) from None
        except (TypeError, ValueError) as error:  # a non-numeric Upload-Offset, a broken Location
            raise unusable("PATCH", wire_path(httpx.URL(upload_url)), f"an unusable TUS answer ({error})") from None

    @staticmethod
    def _bounded(call: Any, doing: str) -> Any:
        deadline = current_deadline()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["value"] = call()
            except BaseException as error:  # handed to the caller's thread
                outcome["error"] = error

        worker = threading.Thread(target=work, name="capgo-tus", daemon=True)
        worker.start()
        worker.join(deadline.cap(TUS_CHUNK_SECONDS))
        if worker.is_alive():
            deadline.check(doing)
            raise TransientError(f"{doing}: no answer within {TUS_CHUNK_SECONDS:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    # -- the build as a job ------------------------------------------------------------------------
    def get_build(self, build_id: str) -> Build:
        return Build(id=build_id, platform=self._platforms.get(build_id), job_id=build_id)

    def get_job(self, job_id: str) -> Job:
        params = {"job_id": job_id, "app_id": self.app_id}
        if job_id in self._platforms:
            params["platform"] = self._platforms[job_id]
        # Capgo answers a job it does not know for this app as it answers a key without read access:
        # 400 `unauthorized` (so as not to leak other apps' jobs); the first is what users hit (a typo).
        response = self.api.request("GET", "/build/status", tolerate=UNKNOWN_JOB, params=params)
        if not response.is_success:
            raise NotFoundError(
                f"GET /build/status: build {job_id} not found in app {self.app_id} (Capgo answers "
                "`unauthorized` alike to an unknown build and to a key that may not read its builds)"
            )
        item = object_answer(response)
        raw = item.token("status")
        job = Job(
            id=job_id,
            status=JOB_STATUS.get(raw.lower(), RUNNING),
            raw_status=raw,
            status_message=self._shown(item.text("error")),
            duration_seconds=item.number("build_time_seconds"),
        )
        if job.terminal:
            self._ended.add(job_id)
            if job.status_message:
                self._errors[job_id] = job.status_message
        return job

    def _shown(self, text: str | None) -> str | None:
        return None if text is None else self.redact(text)

    def cancel_job(self, job_id: str) -> Job:
        item = self.api.object("POST", f"/build/cancel/{segment(job_id)}", json={"app_id": self.app_id}, empty=True)
        stream = self._streams.get(job_id)
        if stream is not None:
            stream.stop()
        raw = item.text("status") or "cancelled"
        return Job(id=job_id, status=JOB_STATUS.get(raw.lower(), CANCELED), raw_status=raw)

    def _cancel_unstarted(self, job_id: str) -> str:
        """Best effort, within its own grace: a note for the error message."""
        try:
            with deadline_scope(CANCEL_GRACE_SECONDS, f"the cancel grace of {CANCEL_GRACE_SECONDS:g} s", replace=True):
                self.cancel_job(job_id)
        except CiError:
            return f"; build request {job_id} may be left pending (cancel it in Capgo)"
        return f"; build request {job_id} was canceled"

    def failure_summary(self, job_id: str) -> str | None:
        """The error the status reported (Capgo's AI analysis is interactive, not an API answer)."""
        return self._errors.get(job_id)

    # -- logs --------------------------------------------------------------------------------------
    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        stream = self._stream(job_id)
        if stream is None:
            if job_id not in self._ended:
                return []  # another process's build: its log is read once it has ended (see _finished_log)
            try:
                return self._finished_log(job_id).lines_from(offset)
            except CiError:
                return []  # the log is a bonus here: the build's status is what the wait reports
        if job_id in self._ended:
            stream.wait_ended(LOG_DRAIN_SECONDS)  # the last lines (and the link) may still be on the way
        if stream.link:
            self._links[job_id] = stream.link
        return stream.lines_from(offset)

    def _stream(self, job_id: str) -> LogStream | None:
        if job_id in self._streams:
            return self._streams[job_id]
        if job_id not in self._logs:
            return None  # started by another process: its log token is not ours to have
        logs_url, token = self._logs[job_id]
        base = logs_url.rstrip("/")
        try:
            # The log host is not the API: only the log token goes there.
            response = self._logs_http().post(f"{base}/start", headers={"x-capgo-log-token": token})
        except httpx.TransportError as error:
            raise map_transport_error(error, self._logs_http().build_request("POST", f"{base}/start")) from None
        if response.is_error:
            # No live logs then: the build goes on and its status is still followed (as the CLI does).
            self._logs.pop(job_id)
            return None
        ws_url = re.sub(r"^http", "ws", base) + "/stream?token=" + quote(token, safe="")
        stream = LogStream(ws_url, self.redact, current_deadline()).start()
        self._streams[job_id] = stream
        return stream

    def _logs_http(self) -> httpx.Client:
        if self._logs_client is None:
            self._logs_client = download_client()
        return self._logs_client

    # -- the artifact ------------------------------------------------------------------------------
    def list_artifacts(self, build_id: str) -> list[Artifact]:
        link = self._link(build_id)
        if link is None:
            raise NotFoundError(
                f"build {build_id} sent no download link: Capgo only sends one for builds requested with "
                "output upload (--output-upload), in the log stream, and it expires"
            )
        name = Path(unquote(urlsplit(link).path)).name or build_id  # the download step sanitises it
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        platform = self._platforms.get(build_id, "")
        binary_type = extension if extension in BINARY_TYPES else DEFAULT_BINARY_TYPE.get(platform, "apk")
        if not name.lower().endswith(f".{binary_type}"):
            name = f"{build_id}.{binary_type}"
        return [Artifact(id=build_id, build_id=build_id, type=binary_type, status="ready", file_name=name)]

    def _link(self, job_id: str) -> str | None:
        if job_id not in self._links:
            stream = self._stream(job_id)
            if stream is not None:
                stream.wait_ended(LOG_DRAIN_SECONDS)
                link = stream.link
            else:
                link = self._scan_finished_logs(job_id)
            if link is not None:
                self._links[job_id] = link
        link = self._links.get(job_id)
        if link is not None and not _is_http_url(link):
            # Checked here, not at the GET: a `javascript:` or control character would be retried as
            # unreachable, or crash httpx, instead of being the unusable answer it is.
            where = wire_path(httpx.URL(self._logs[job_id][0])) + "/stream" if job_id in self._logs else None
            raise unusable(
                "GET", where or f"/build/logs/{segment(job_id)}", "a download link that is not an http(s) URL"
            )
        return link

    def _scan_finished_logs(self, job_id: str) -> str | None:
        """A build started by another process: its link from its whole log, once the build has ended."""
        if job_id not in self._ended and not self.get_job(job_id).terminal:
            raise NotFoundError(f"build {job_id} has not ended yet: wait for it before downloading")
        return self._finished_log(job_id).link

    def _finished_log(self, job_id: str) -> LogStream:
        """The whole log of an ended build from the SSE route, read once: a later process has no log
        token for the socket, and the SSE route cancels a running build when its reader hangs up."""
        if job_id in self._finished:
            return self._finished[job_id]
        path = f"/build/logs/{segment(job_id)}"
        request = self.api.http.build_request("GET", path, params={"app_id": self.app_id})
        try:
            response = self.api.http.send(request, stream=True)
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None
        try:
            if response.is_error:
                response.read()
                raise_for_response(response, self.api.message_of)
            scanner = LogStream("", self.redact, current_deadline())
            for line in response.iter_lines():
                if line.startswith("data:"):
                    scanner.take(line[5:].strip())  # the same messages as the socket's
                if scanner.final_status:
                    break
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None
        finally:
            response.close()
        self._finished[job_id] = scanner
        return scanner

    @contextmanager
    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> Iterator[Download]:
        link = self._link(artifact.build_id)
        if link is None:
            raise NotFoundError(f"build {artifact.build_id} sent no download link")
        if self._downloads is None:
            self._downloads = download_client()
        headers = {"Range": f"bytes={start}-"} if start else {}
        request = download_request(self._downloads, link, headers, stall_timeout)
        try:
            response = self._downloads.send(request, stream=True, follow_redirects=True)
        except httpx.TooManyRedirects:
            raise TransientError(f"GET {wire_path(request.url)}: the download was redirected too many times") from None
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None
        try:
            if response.status_code in (401, 403):
                raise AuthError(
                    f"GET {wire_path(request.url)}: the download link was refused (HTTP {response.status_code}); "
                    "Capgo's links expire (see --output-retention) and only the build's log stream gives a new one"
                )
            if response.is_error:
                response.read()
            raise_for_response(response, self.api.message_of)
            yield Download(response)
        finally:
            response.close()

    def close(self) -> None:
        for stream in self._streams.values():
            stream.stop()
        for client in (self._downloads, self._logs_client):
            if client is not None:
                client.close()
        self._downloads = self._logs_client = None
