"""Capawesome Cloud behind the platform-neutral interface of `steps/platform.py`.

The official SDK serves every endpoint it covers; our own calls (same httpx client, same retry
policy) cover what it lacks: log lines from an offset, streamed downloads, build shares, channel
relations and the build-number lookup. The API's 0..1 rollout fraction is converted here and
nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import pydantic
from capawesome_cloud import CapawesomeCloud
from capawesome_cloud.exceptions import CapawesomeCloudError
from capawesome_cloud.models import AppBuild, AppDeployment
from capawesome_cloud.models import Job as SdkJob

from capawesome_ci.cloud.body_reader import BodyReader
from capawesome_ci.cloud.bundles import bundle_body, upload_file
from capawesome_ci.cloud.errors import map_sdk_error, map_transport_error, raise_for_response
from capawesome_ci.errors import NotFoundError, TransientError
from capawesome_ci.steps.platform import (
    PLANNED_ID,
    App,
    Artifact,
    Build,
    BuildRequest,
    Bundle,
    BundleRequest,
    BundleUpload,
    Channel,
    Deployment,
    Destination,
    Job,
    LogLine,
    Share,
)

DEFAULT_BASE_URL = "https://api.cloud.capawesome.io"
DEFAULT_CONSOLE_URL = "https://console.cloud.capawesome.io"
LOG_PAGE_SIZE = 1000
T = TypeVar("T")

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


def _extra(model: pydantic.BaseModel, key: str) -> Any:
    """A response field the SDK's models do not declare: kept under the API's camelCase name."""
    return (model.model_extra or {}).get(key)


def console_url_for(base_url: str) -> str:
    """api.cloud.capawesome.io → console.cloud.capawesome.io (also for regional hosts);
    any other host (a sandbox, a proxy) serves its own /console pages."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.startswith("api."):
        return f"{parts.scheme}://console.{host[4:]}"
    return base_url.rstrip("/") + "/console"


class _Download:
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


class CapawesomePlatform:
    def __init__(self, http: httpx.Client, app_id: str) -> None:
        self.http = http
        self.app_id = app_id
        self.base_url = str(http.base_url).rstrip("/")
        self.console_url = console_url_for(self.base_url)
        # max_retries=0: retries belong to our transport, in one place, for SDK and own calls alike.
        # The SDK (re)sets Authorization on the client it is given: hand it the same token.
        token = http.headers.get("Authorization", "").removeprefix("Bearer ")
        self.sdk = CapawesomeCloud(token=token or "-", http_client=http, max_retries=0)
        self._app_path = f"/v1/apps/{quote(app_id, safe='')}"

    # -- plumbing ------------------------------------------------------------------------------
    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except CapawesomeCloudError as error:
            raise map_sdk_error(error) from None
        except (ValueError, pydantic.ValidationError) as error:  # a 2xx whose body is not what the API sends
            raise TransientError(
                f"the API answered with an unreadable body ({type(error).__name__}); "
                "if this was a change, it may have taken effect: check before running again"
            ) from None
        except httpx.TransportError as error:  # a body cut short while the SDK read it
            raise TransientError(f"the connection broke while reading an answer ({type(error).__name__})") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise map_transport_error(error, self.http.build_request(method, path)) from None
        raise_for_response(response)
        try:
            return response.json() if response.content else None
        except ValueError:
            maybe = "; it may have taken effect: check before running again" if method in ("POST", "PATCH") else ""
            raise TransientError(f"{method} {path}: the API answered with a body that is not JSON{maybe}") from None

    def build_url(self, build_id: str) -> str:
        return f"{self.console_url}/apps/{self.app_id}/builds/{build_id}"

    def _build(self, model: AppBuild) -> Build:
        build_id = model.id or ""
        planned = build_id == PLANNED_ID
        return Build(
            id=build_id,
            number=model.number_as_string,
            platform=model.platform,
            type=model.type,
            job_id=model.job_id,
            git_ref=_extra(model, "gitRef"),
            url=None if planned else self.build_url(build_id),
            planned=planned,
        )

    def _deployment(self, model: AppDeployment) -> Deployment:
        deployment_id = model.id or ""
        return Deployment(
            id=deployment_id,
            build_id=model.app_build_id,
            channel_id=model.app_channel_id,
            destination_id=model.app_destination_id,
            job_id=model.job_id,
            rollout_percentage=from_api_fraction(model.rollout_percentage),
            url=f"{self.console_url}/apps/{self.app_id}/deployments/{deployment_id}",
            planned=deployment_id == PLANNED_ID,
        )

    @staticmethod
    def _job(model: SdkJob) -> Job:
        total = _extra(model, "totalTimeInSeconds")
        return Job(
            id=model.id or "",
            status=model.status or "unknown",
            status_message=_extra(model, "statusMessage"),
            duration_seconds=float(total) if isinstance(total, (int, float)) else None,
            planned=model.id == PLANNED_ID,
        )

    # -- apps and builds -----------------------------------------------------------------------
    def get_app(self) -> App:
        app = self._call(lambda: self.sdk.apps.get(self.app_id))
        return App(id=app.id or self.app_id, name=app.name)

    def create_build(self, request: BuildRequest) -> Build:
        # Names, not ids: the API resolves them, so the dry-run plan shows what the user typed.
        kwargs = {
            "platform": request.platform,
            "type": request.type,
            "stack": request.stack,
            "git_ref": request.git_ref,
            "app_certificate_name": request.certificate,
            "app_environment_name": request.environment,
            "app_configuration_name": request.configuration,
            "ad_hoc_environment_variables": request.variables or None,
            "app_channel_names": request.channels or None,
        }
        given: dict[str, Any] = {key: value for key, value in kwargs.items() if value is not None}
        return self._build(self._call(lambda: self.sdk.apps.builds.create(self.app_id, **given)))

    def get_build(self, build_id: str) -> Build:
        return self._build(self._call(lambda: self.sdk.apps.builds.get(self.app_id, build_id)))

    def find_build_by_number(self, number: str) -> Build:
        found = self._request("GET", f"{self._app_path}/builds", params={"numberAsString": number, "limit": 1})
        if not found:
            raise NotFoundError(f"build number {number} not found in app {self.app_id}")
        return self._build(AppBuild.model_validate(found[0]))

    # -- jobs ---------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job:
        return self._job(self._call(lambda: self.sdk.jobs.get(job_id)))

    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        """Lines from `offset` on, page by page, so a long log is never fetched twice."""
        lines: list[LogLine] = []
        while True:
            page = self._request(
                "GET",
                f"/v1/jobs/{quote(job_id, safe='')}/logs",
                params={"offset": offset + len(lines), "limit": LOG_PAGE_SIZE},
            )
            if not isinstance(page, list):
                return lines
            for item in page:
                if isinstance(item, dict) and isinstance(item.get("number"), int):
                    lines.append(LogLine(item["number"], unescape_log_payload(str(item.get("payload") or ""))))
            if len(page) < LOG_PAGE_SIZE:
                return lines

    def cancel_job(self, job_id: str) -> Job:
        return self._job(self._call(lambda: self.sdk.jobs.cancel(job_id)))

    def failure_summary(self, job_id: str) -> str | None:
        return self._call(lambda: self.sdk.jobs.get_failure_summary(job_id)).summary

    # -- artifacts ----------------------------------------------------------------------------
    def list_artifacts(self, build_id: str) -> list[Artifact]:
        models = self._call(lambda: list(self.sdk.apps.builds.artifacts.list(self.app_id, build_id)))
        return [
            Artifact(
                id=m.id or "",
                build_id=build_id,
                type=m.type or "unknown",
                status=m.status or "unknown",
                file_name=_extra(m, "fileName"),
                size=m.total_size_in_bytes,
            )
            for m in models
        ]

    @contextmanager
    def open_artifact(self, artifact: Artifact, start: int = 0) -> Iterator[_Download]:
        build, artifact_id = quote(artifact.build_id, safe=""), quote(artifact.id, safe="")
        path = f"{self._app_path}/builds/{build}/artifacts/{artifact_id}/download"
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        request = self.http.build_request("GET", path, headers=headers)
        try:
            # Redirects to storage are followed; httpx drops Authorization on a cross-origin hop.
            response = self.http.send(request, stream=True, follow_redirects=True)
        except httpx.TransportError as error:
            raise map_transport_error(error, request) from None
        try:
            raise_for_response(response)
            yield _Download(response)
        finally:
            response.close()

    # -- channels, destinations, deployments --------------------------------------------------
    def find_channel(self, name: str) -> Channel | None:
        found = self._call(lambda: self.sdk.apps.channels.list_page(self.app_id, name=name, limit=1))
        if not found or not found[0].id:
            return None
        channel_id = found[0].id
        data = self._request(
            "GET",
            f"{self._app_path}/channels/{quote(channel_id, safe='')}",
            params={"relations": "appDeployment"},
        )
        active = data.get("appDeployment") if isinstance(data, dict) else None
        return Channel(
            id=channel_id,
            name=name,
            active_deployment=self._deployment(AppDeployment.model_validate(active)) if active else None,
            paused=bool(isinstance(data, dict) and data.get("pausedAt")),
        )

    def create_channel(self, name: str) -> Channel:
        model = self._call(lambda: self.sdk.apps.channels.create(self.app_id, name=name))
        return Channel(id=model.id or "", name=name, planned=model.id == PLANNED_ID)

    def find_destination(self, name: str) -> Destination | None:
        found = self._call(lambda: self.sdk.apps.destinations.list_page(self.app_id, name=name, limit=1))
        if not found or not found[0].id:
            return None
        return Destination(id=found[0].id, name=name, platform=found[0].platform)

    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]:
        models = self._call(
            lambda: list(
                self.sdk.apps.deployments.list(self.app_id, app_build_id=build_id, app_destination_id=destination_id)
            )
        )
        return [self._deployment(m) for m in models]

    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment:
        kwargs: dict[str, Any] = {"app_build_id": build_id}
        if channel is not None:
            kwargs["app_channel_id"] = channel.id
            kwargs["rollout_percentage"] = to_api_fraction(rollout_percentage)
        if destination is not None:
            kwargs["app_destination_id"] = destination.id
        if release_notes:
            kwargs["release_notes"] = release_notes
        return self._deployment(self._call(lambda: self.sdk.apps.deployments.create(self.app_id, **kwargs)))

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._deployment(self._call(lambda: self.sdk.apps.deployments.get(self.app_id, deployment_id)))

    def set_rollout(self, deployment_id: str, rollout_percentage: float) -> Deployment:
        fraction = to_api_fraction(rollout_percentage) or 0.0
        return self._deployment(
            self._call(
                lambda: self.sdk.apps.deployments.update(self.app_id, deployment_id, rollout_percentage=fraction)
            )
        )

    # -- shares -------------------------------------------------------------------------------
    def create_share(self, build_id: str, expires_in_days: int | None) -> Share:
        body: dict[str, Any] = {}
        if expires_in_days:
            expires = datetime.now(timezone.utc) + timedelta(days=expires_in_days)
            body["expiresAt"] = expires.isoformat(timespec="seconds").replace("+00:00", "Z")
        data = self._request("POST", f"{self._app_path}/builds/{quote(build_id, safe='')}/shares", json=body)
        share_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        url = f"{self.console_url}/app-build-shares/{share_id}"
        return Share(
            id=share_id,
            url=url,
            qr_code_url=f"{self.base_url}/v1/qrcodes?content={quote(url, safe='')}&format=png",
            expires_at=data.get("expiresAt") if isinstance(data, dict) else None,
            planned=share_id == PLANNED_ID,
        )

    # -- live-update bundles (cloud/bundles.py has the upload protocol) -----------------------
    def create_bundle(self, request: BundleRequest) -> Bundle:
        data = self._request("POST", f"{self._app_path}/bundles", json=bundle_body(request))
        bundle_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        build_id = str(data.get("appBuildId") or "") if isinstance(data, dict) else ""
        return Bundle(id=bundle_id, build_id=build_id, planned=bundle_id == PLANNED_ID)

    def upload_bundle_file(
        self, bundle_id: str, upload: BundleUpload, progress: Callable[[int], None] | None = None
    ) -> str:
        return upload_file(self, bundle_id, upload, progress)

    def finalize_bundle(self, bundle_id: str, file_id: str | None) -> Bundle:
        body: dict[str, Any] = {"artifactStatus": "ready"}
        if file_id:
            body["appBundleFileId"] = file_id
        data = self._request("PATCH", f"{self._app_path}/bundles/{quote(bundle_id, safe='')}", json=body)
        build_id = str(data.get("appBuildId") or "") if isinstance(data, dict) else ""
        return Bundle(id=bundle_id, build_id=build_id, planned=bundle_id == PLANNED_ID)
