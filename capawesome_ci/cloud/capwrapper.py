"""Capwrapper (docs.capwrapper.com) behind the platform-neutral interface of `platform.py`.

Capwrapper wraps a live https web app into an Android or iOS binary: `POST /builds`, `GET /builds/:id`,
`GET /builds`, `POST /deploys`, with `Authorization: Bearer <key>` and `{error, message}` error bodies.
It has no jobs (the build is the job: its id is the job id), no logs, no cancel and no channels.

The binary lives behind the build's signed `downloadUrl`, on another origin: it is fetched with a client
of its own that never carries our Authorization header. A refused (expired) URL is replaced by a fresh
one from the build, once per download.

The `POST /deploys` body is not published: `deploy_body` builds it from what is documented (the build
id and the store) plus the user's `--deploy-field KEY=VALUE` pass-through, here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.message import Message
from typing import Any

import httpx

from capawesome_ci.cloud.answers import Record, read_answer, unusable
from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.body_reader import Download, download_request
from capawesome_ci.cloud.errors import map_transport_error, raise_for_response
from capawesome_ci.cloud.paths import segment, wire_path
from capawesome_ci.cloud.transport import download_client, make_http_client
from capawesome_ci.errors import AuthError, NotFoundError, TransientError
from capawesome_ci.platform import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Artifact,
    Build,
    BuildRequest,
    Channel,
    CloudPlatform,
    Deployment,
    Destination,
    Job,
)
from capawesome_ci.providers import Connection

# Capwrapper's build statuses in the normalised vocabulary; an unknown word counts as still running.
JOB_STATUS = {"queued": PENDING, "building": RUNNING, "success": SUCCEEDED, "failed": FAILED}
# The stores `POST /deploys` targets, and the platform each one takes.
STORES = {"google-play": "android", "app-store": "ios"}
BINARY_TYPES = ("apk", "aab", "ipa")
DEFAULT_BINARY_TYPE = {"android": "apk", "ios": "ipa"}
# `GET /builds` is newest first; the newest build of a bundle id is looked for in this many.
LIST_LIMIT = 100
# Build fields the adapter sends, from `BuildRequest.options` (the provider's own build inputs).
BUILD_OPTIONS = {"url": "url", "app_name": "appName", "bundle_id": "bundleId", "version": "version"}


def error_message(response: httpx.Response) -> str:
    """`{"error": "unauthorized", "message": "Invalid or missing API key."}` → its message (or its code)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str) and body[key].strip():
                return str(body[key])
    return f"HTTP {response.status_code}"


def deploy_body(build_id: str, store: str, fields: dict[str, str]) -> dict[str, Any]:
    """The assumed `POST /deploys` body (README "Capwrapper"): documented keys first, pass-through after."""
    return {"buildId": build_id, "store": store, **fields}


def file_name_of(response: httpx.Response) -> str | None:
    """The name a Content-Disposition header gives (`filename*=UTF-8''…` or `filename="…"`), unsanitised."""
    header = response.headers.get("Content-Disposition")
    if not header:
        return None
    message = Message()
    message["Content-Disposition"] = header
    try:
        name = message.get_filename()
    except (ValueError, LookupError):  # a broken RFC 2231 encoding
        return None
    return name or None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    """Duration between two ISO timestamps; None when either is missing or unreadable (it is only shown)."""
    try:
        if start and end:
            seconds = (_instant(end) - _instant(start)).total_seconds()
            return seconds if seconds >= 0 else None
    except (ValueError, TypeError):
        pass
    return None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # Python 3.10 does not read a trailing Z


@contextmanager
def connect(connection: Connection) -> Iterator[CapwrapperPlatform]:
    """The adapter's entry point (providers.py names it)."""
    with (
        make_http_client(
            connection.base_url,
            connection.token,
            dry_run_recorder=connection.dry_run_recorder,
            debug=connection.debug,
            auth_scheme="Bearer",
        ) as http,
        download_client() as downloads,
    ):
        yield CapwrapperPlatform(http, downloads)


class CapwrapperPlatform(CloudPlatform):
    provider = "capwrapper"

    def __init__(self, http: httpx.Client, downloads: httpx.Client) -> None:
        self.http = http
        self.downloads = downloads
        self.api = Api(http, message_of=error_message)
        self._download_urls: dict[str, str] = {}  # build id → its latest signed URL
        self._refreshed: set[str] = set()  # builds whose URL was renewed after a 403 already

    # -- builds ------------------------------------------------------------------------------------
    def _build(self, item: Record) -> Build:
        build_id = item.id("id")
        download_url = item.text("downloadUrl")
        if download_url is not None:
            self._download_urls[build_id] = self._checked_url(item, download_url)
        return Build(
            id=build_id,
            number=None,  # Capwrapper builds have no number
            platform=item.text("platform"),
            job_id=build_id,  # the build is the job
            url=None,  # no documented console page per build
        )

    @staticmethod
    def _checked_url(item: Record, text: str) -> str:
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise item.unusable("a 'downloadUrl' that is not an http(s) URL")
        return text

    def create_build(self, request: BuildRequest) -> Build:
        options = request.options
        body: dict[str, Any] = {wire: options[name] for name, wire in BUILD_OPTIONS.items() if options.get(name)}
        permissions = [item for item in options.get("permissions", "").split(",") if item]
        if permissions:
            body["permissions"] = permissions
        return self._build(self.api.object("POST", "/builds", json=body))

    def get_build(self, build_id: str) -> Build:
        return self._build(self._read_build(build_id))

    def _read_build(self, build_id: str) -> Record:
        return self.api.object("GET", f"/builds/{segment(build_id)}")

    def find_newest_build(self, bundle_id: str) -> Build:
        """The newest build of `bundle_id`, from `GET /builds` (newest first)."""
        response = self.api.request("GET", "/builds", params={"limit": LIST_LIMIT})
        for item in self._list(response):
            if item.text("bundleId") == bundle_id:
                return self._build(item)
        raise NotFoundError(f"no build of {bundle_id} among the {LIST_LIMIT} newest builds")

    @staticmethod
    def _list(response: httpx.Response) -> list[Record]:
        """A bare list, or one under `data` or `builds` (the list's shape is not published)."""
        method, path = response.request.method, wire_path(response.request.url)
        value = read_answer(response)
        if isinstance(value, dict):
            value = next((value[key] for key in ("data", "builds") if isinstance(value.get(key), list)), value)
        if not isinstance(value, list):
            raise unusable(method, path, "no list of builds")
        return [Record.of(item, method, path) for item in value]

    # -- the build as a job ------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job:
        item = self._read_build(job_id)
        self._build(item)  # keeps the freshest download URL for the download that may follow
        raw = item.token("status")
        return Job(
            id=job_id,
            status=JOB_STATUS.get(raw, RUNNING),
            raw_status=raw,
            status_message=item.text("error"),
            duration_seconds=_seconds_between(item.text("createdAt"), item.text("completedAt")),
        )

    # -- the binary --------------------------------------------------------------------------------
    def list_artifacts(self, build_id: str) -> list[Artifact]:
        """The one binary of a successful build; its name and size from a one-byte look at the URL."""
        item = self._read_build(build_id)
        status = item.token("status")
        build = self._build(item)
        url = self._download_urls.get(build_id)
        platform = build.platform or ""
        if url is None:
            return [
                Artifact(id=build_id, build_id=build_id, type=DEFAULT_BINARY_TYPE.get(platform, "apk"), status=status)
            ]
        with self._open(build_id, {"Range": "bytes=0-0"}, None) as response:
            name = file_name_of(response)
            size = Download(response).total_size if response.status_code == 206 else None
        extension = (name or "").rsplit(".", 1)[-1].lower()
        binary_type = extension if extension in BINARY_TYPES else DEFAULT_BINARY_TYPE.get(platform, "apk")
        fallback = f"{item.text('bundleId') or build_id}-{item.text('version') or 'build'}.{binary_type}"
        return [
            Artifact(
                id=build_id,
                build_id=build_id,
                type=binary_type,
                status="ready" if status == "success" else status,
                file_name=name or fallback,  # the download step sanitises it
                size=size,
            )
        ]

    @contextmanager
    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> Iterator[Download]:
        headers = {"Range": f"bytes={start}-"} if start else {}
        with self._open(artifact.build_id, headers, stall_timeout) as response:
            yield Download(response)

    @contextmanager
    def _open(self, build_id: str, headers: dict[str, str], stall_timeout: float | None) -> Iterator[httpx.Response]:
        """GET the signed URL (no token); a 403 means it expired: fetch the build again for a new one, once."""
        while True:
            url = self._download_urls.get(build_id)
            if url is None:
                raise NotFoundError(f"build {build_id} has no downloadUrl (it has not succeeded)")
            response = self._send(url, headers, stall_timeout)
            if response.status_code == 403 and build_id not in self._refreshed:
                response.close()
                self._refreshed.add(build_id)
                self._download_urls.pop(build_id, None)
                self.get_build(build_id)
                continue
            try:
                if response.status_code == 403:
                    raise AuthError(
                        f"GET {wire_path(response.request.url)}: the download link was refused (HTTP 403) "
                        "even after a fresh one was fetched"
                    )
                raise_for_response(response, error_message)
                yield response
            finally:
                response.close()
            return

    def _send(self, url: str, headers: dict[str, str], stall_timeout: float | None) -> httpx.Response:
        request = download_request(self.downloads, url, headers, stall_timeout)
        try:
            # Redirects to storage are followed: this client has no token to lose.
            return self.downloads.send(request, stream=True, follow_redirects=True)
        except httpx.TooManyRedirects:
            raise TransientError(f"GET {wire_path(request.url)}: the download was redirected too many times") from None
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None

    # -- stores ------------------------------------------------------------------------------------
    def find_destination(self, name: str) -> Destination | None:
        platform = STORES.get(name)
        return None if platform is None else Destination(id=name, name=name, platform=platform)

    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]:
        return []  # no documented way to list deploys: a re-run deploys again

    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment:
        if destination is None:
            return super().create_deployment(build_id, channel=channel)
        body = deploy_body(build_id, destination.id, destination.options)
        answer = self.api.object("POST", "/deploys", json=body, empty=True)
        deployment_id = answer.maybe_id("id") or build_id
        return Deployment(id=deployment_id, build_id=build_id, destination_id=destination.id)
