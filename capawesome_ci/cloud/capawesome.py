"""Capawesome Cloud behind the platform-neutral interface of `steps/platform.py`.

Every request is built here (ids through `paths.segment`, the one encoding rule) and sent through
the shared httpx client and its retry policy; every answer is read through `answers.py`, the one
place that decides what the server sent is usable. The official SDK's request helpers are not used:
they put ids into paths unencoded and read answers with models that coerce some wrong types, fail on
fields we never use and turn an object where a list belongs into an empty list. Its error-body
parsing is still used (cloud/errors.py). The API's 0..1 rollout fraction is converted here and
nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from capawesome_ci.cloud.answers import Record, list_answer
from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.body_reader import Download, download_request
from capawesome_ci.cloud.build_sources import create_source_from_url, upload_source
from capawesome_ci.cloud.bundles import publish_bundle
from capawesome_ci.cloud.errors import map_transport_error, raise_for_response
from capawesome_ci.cloud.paths import segment, wire_path
from capawesome_ci.cloud.transport import PLANNED_ID, make_http_client
from capawesome_ci.errors import NotFoundError, TransientError
from capawesome_ci.platform import (
    PENDING,
    RUNNING,
    TERMINAL_JOB_STATUSES,
    App,
    Artifact,
    Build,
    BuildRequest,
    Bundle,
    BundleRequest,
    BundleUpload,
    Channel,
    CloudPlatform,
    Deployment,
    Destination,
    Job,
    LogLine,
    Share,
)
from capawesome_ci.providers import Connection

DEFAULT_CONSOLE_URL = "https://console.cloud.capawesome.io"
LOG_PAGE_SIZE = 1000
MAX_LOG_PAGES = 20

# Job log payloads carry escape sequences as literal text (`\x1b[32m`); the API doc says clients
# turn them into real characters. Sanitising for the terminal/CI happens later, in the reporter.
_ESCAPES = re.compile(r"\\(x1b|x1B|033|u001b|u001B|e|n|r|t)")
_ESCAPE_VALUES = {"n": "\n", "r": "\r", "t": "\t"}


def unescape_log_payload(payload: str) -> str:
    return _ESCAPES.sub(lambda m: _ESCAPE_VALUES.get(m.group(1), "\x1b"), payload)


def to_api_fraction(percentage: float | None) -> float | None:
    """0–100 (what users read and write) → 0..1 (what the API takes). The only place it happens."""
    return None if percentage is None else round(percentage / 100, 6)


def from_api_fraction(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 4)


def console_url_for(base_url: str) -> str:
    """api.cloud.capawesome.io → console.cloud.capawesome.io (also for regional hosts);
    any other host (a sandbox, a proxy) serves its own /console pages."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.startswith("api."):
        return f"{parts.scheme}://console.{host[4:]}"
    return base_url.rstrip("/") + "/console"


# Capawesome's job statuses in the normalised vocabulary of capawesome_ci/platform.py.
JOB_STATUS = {"queued": PENDING, "pending": PENDING, "in_progress": RUNNING}


@contextmanager
def connect(connection: Connection) -> Iterator[CapawesomePlatform]:
    """The adapter's entry point (providers.py names it): one client, closed at the end of the run."""
    with make_http_client(
        connection.base_url, connection.token, dry_run_recorder=connection.dry_run_recorder, debug=connection.debug
    ) as http:
        yield CapawesomePlatform(http, connection.app_id)


class CapawesomePlatform(CloudPlatform):
    provider = "capawesome"

    def __init__(self, http: httpx.Client, app_id: str) -> None:
        self.http = http
        self.app_id = app_id
        self.base_url = str(http.base_url).rstrip("/")
        self.console_url = console_url_for(self.base_url)
        self.api = Api(http)
        self._app_path = f"/v1/apps/{segment(app_id)}"

    def build_url(self, build_id: str) -> str:
        return f"{self.console_url}/apps/{segment(self.app_id)}/builds/{segment(build_id)}"

    def _build(self, item: Record) -> Build:
        build_id = item.id("id")
        return Build(
            id=build_id,
            number=item.text("numberAsString"),
            platform=item.text("platform"),
            type=item.text("type"),
            job_id=item.maybe_id("jobId"),
            git_ref=item.text("gitRef"),
            url=None if build_id == PLANNED_ID else self.build_url(build_id),
        )

    def _deployment(self, item: Record) -> Deployment:
        deployment_id = item.id("id")
        return Deployment(
            id=deployment_id,
            build_id=item.maybe_id("appBuildId"),
            channel_id=item.maybe_id("appChannelId"),
            destination_id=item.maybe_id("appDestinationId"),
            job_id=item.maybe_id("jobId"),
            rollout_percentage=from_api_fraction(item.number("rolloutPercentage", maximum=1)),
            url=None
            if deployment_id == PLANNED_ID
            else f"{self.console_url}/apps/{segment(self.app_id)}/deployments/{segment(deployment_id)}",
        )

    @staticmethod
    def _job(item: Record, job_id: str) -> Job:
        # A job without a status cannot be waited for; an unknown one counts as still running.
        raw = item.token("status")
        return Job(
            id=item.maybe_id("id") or job_id,
            status=raw if raw in TERMINAL_JOB_STATUSES else JOB_STATUS.get(raw, RUNNING),
            raw_status=raw,
            status_message=item.text("statusMessage"),
            duration_seconds=item.number("totalTimeInSeconds"),
        )

    # -- apps and builds -----------------------------------------------------------------------
    def get_app(self) -> App:
        app = self.api.object("GET", self._app_path)
        return App(id=app.maybe_id("id") or self.app_id, name=app.text("name"))

    def create_build(self, request: BuildRequest) -> Build:
        # Names, not ids: the API resolves them, so the dry-run plan shows what the user typed.
        # Keys in the order the official SDK sent them, so dry-run plans stay as they were.
        fields = {
            "platform": request.platform,
            "type": request.type,
            "stack": request.options.get("stack"),
            "gitRef": request.git_ref,
            "appBuildSourceId": self._build_source(request),
            "appCertificateName": request.options.get("certificate"),
            "appChannelNames": request.channels or None,
            "appConfigurationName": request.options.get("configuration"),
            "appEnvironmentName": request.options.get("environment"),
            "adHocEnvironmentVariables": request.variables or None,
        }
        body = {key: value for key, value in fields.items() if value is not None}
        return self._build(self.api.object("POST", f"{self._app_path}/builds", json=body))

    def _build_source(self, request: BuildRequest) -> str | None:
        """The build source the build is made from (cloud/build_sources.py), when not a git ref."""
        if request.source is not None:
            return upload_source(self.api, self._app_path, request.source, request.source_progress)
        if request.source_url is not None:
            return create_source_from_url(self.api, self._app_path, request.source_url)
        return None

    def get_build(self, build_id: str) -> Build:
        return self._build(self.api.object("GET", f"{self._app_path}/builds/{segment(build_id)}"))

    def find_build_by_number(self, number: str) -> Build:
        found = self.api.first(f"{self._app_path}/builds", "numberAsString", number)
        if found is None:
            raise NotFoundError(f"build number {number} not found in app {self.app_id}")
        return self._build(found)

    # -- jobs ---------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job:
        return self._job(self.api.object("GET", f"/v1/jobs/{segment(job_id)}"), job_id)

    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        """Lines from `offset` on, page by page, so a long log is never fetched twice. At most
        MAX_LOG_PAGES per call (the next poll goes on from there): a server that ignores `offset`
        cannot keep us reading."""
        lines: list[LogLine] = []
        for _ in range(MAX_LOG_PAGES):
            response = self.api.request(
                "GET",
                f"/v1/jobs/{segment(job_id)}/logs",
                params={"offset": offset + len(lines), "limit": LOG_PAGE_SIZE},
            )
            # Invalid UTF-8 in a log line is replaced, not a reason to lose the page: it is only shown.
            page = list_answer(response, lenient_text=True)
            for item in page:
                number = item.integer("number")
                if number is None:
                    raise item.unusable("a log line without a 'number'")
                lines.append(LogLine(number, unescape_log_payload(item.text("payload") or "")))
            if len(page) < LOG_PAGE_SIZE:
                break
        return lines

    def cancel_job(self, job_id: str) -> Job:
        return self._job(self.api.object("PATCH", f"/v1/jobs/{segment(job_id)}", json={"status": "canceled"}), job_id)

    def failure_summary(self, job_id: str) -> str | None:
        return self.api.object("POST", f"/v1/jobs/{segment(job_id)}/failure-summary").text("summary")

    # -- artifacts ----------------------------------------------------------------------------
    def list_artifacts(self, build_id: str) -> list[Artifact]:
        return [
            Artifact(
                id=item.id("id"),
                build_id=build_id,
                type=item.text("type") or "unknown",
                status=item.text("status") or "unknown",
                file_name=item.text("fileName"),
                size=item.integer("totalSizeInBytes"),
            )
            for item in self.api.pages(f"{self._app_path}/builds/{segment(build_id)}/artifacts", {})
        ]

    @contextmanager
    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> Iterator[Download]:
        path = f"{self._app_path}/builds/{segment(artifact.build_id)}/artifacts/{segment(artifact.id)}/download"
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        request = download_request(self.http, path, headers, stall_timeout)
        try:
            # Redirects to storage are followed; httpx drops Authorization on a cross-origin hop.
            response = self.http.send(request, stream=True, follow_redirects=True)
        except httpx.TooManyRedirects:
            raise TransientError(f"GET {wire_path(request.url)}: the download was redirected too many times") from None
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None
        try:
            raise_for_response(response)
            yield Download(response)
        finally:
            response.close()

    # -- channels, destinations, deployments --------------------------------------------------
    def find_channel(self, name: str) -> Channel | None:
        found = self.api.first(f"{self._app_path}/channels", "name", name)
        if found is None:
            return None
        channel_id = found.id("id")
        channel = self.api.object(
            "GET", f"{self._app_path}/channels/{segment(channel_id)}", params={"relations": "appDeployment"}
        )
        active = channel.record("appDeployment")
        return Channel(
            id=channel_id,
            name=name,
            active_deployment=None if active is None else self._deployment(active),
            paused=channel.text("pausedAt") is not None,
        )

    def create_channel(self, name: str) -> Channel:
        channel_id = self.api.object("POST", f"{self._app_path}/channels", json={"name": name}).id("id")
        return Channel(id=channel_id, name=name)

    def find_destination(self, name: str) -> Destination | None:
        found = self.api.first(f"{self._app_path}/destinations", "name", name)
        if found is None:
            return None
        return Destination(id=found.id("id"), name=name, platform=found.text("platform"))

    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]:
        params = {"appBuildId": build_id}
        if destination_id is not None:
            params["appDestinationId"] = destination_id
        return [self._deployment(item) for item in self.api.pages(f"{self._app_path}/deployments", params)]

    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment:
        # Keys in the order the official SDK sent them, so dry-run plans stay as they were.
        body: dict[str, Any] = {"appBuildId": build_id}
        if channel is not None:
            body["appChannelId"] = channel.id
        if destination is not None:
            body["appDestinationId"] = destination.id
        if channel is not None:
            body["rolloutPercentage"] = to_api_fraction(rollout_percentage)
        if release_notes:
            body["releaseNotes"] = release_notes
        return self._deployment(self.api.object("POST", f"{self._app_path}/deployments", json=body))

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._deployment(self.api.object("GET", f"{self._app_path}/deployments/{segment(deployment_id)}"))

    def set_rollout(self, deployment_id: str, rollout_percentage: float) -> Deployment:
        fraction = to_api_fraction(rollout_percentage) or 0.0
        path = f"{self._app_path}/deployments/{segment(deployment_id)}"
        return self._deployment(self.api.object("PATCH", path, json={"rolloutPercentage": fraction}))

    # -- shares -------------------------------------------------------------------------------
    def create_share(self, build_id: str, expires_in_days: int | None) -> Share:
        body: dict[str, Any] = {}
        if expires_in_days:
            expires = datetime.now(timezone.utc) + timedelta(days=expires_in_days)
            body["expiresAt"] = expires.isoformat(timespec="seconds").replace("+00:00", "Z")
        share = self.api.object("POST", f"{self._app_path}/builds/{segment(build_id)}/shares", json=body)
        share_id = share.id("id")
        url = f"{self.console_url}/app-build-shares/{segment(share_id)}"
        return Share(
            id=share_id,
            url=url,
            qr_code_url=f"{self.base_url}/v1/qrcodes?content={quote(url, safe='')}&format=png",
            expires_at=share.text("expiresAt"),
        )

    # -- live-update bundles (cloud/bundles.py has the upload protocol) -----------------------
    def publish_bundle(
        self, request: BundleRequest, uploads: list[BundleUpload], progress: Callable[[int, int], None] | None = None
    ) -> Bundle:
        return publish_bundle(self.api, self._app_path, request, uploads, progress)
