"""Capgo (capgo.app) behind the platform-neutral interface of `platform.py`, plus the bundle and
channel operations Capgo's own steps use (capawesome_ci/steps/capgo/).

The API: the raw key in `authorization:` (no Bearer); errors `{"error": snake_code, "message": …,
"moreInfo": …}`, mostly HTTP 400 — the code, not the status, says what went wrong, so well-known
codes are mapped here (not found, no permission, conflicts); 0-based `page` paging, 50 a page,
where the page past the end of the bundle list is a 400 `cannot_get_bundle`, not `[]`.

A channel has a stable bundle and an optional rollout target; `POST /channel` (an upsert by name)
sets either, and takes the rollout in basis points: our percentages stay 0–100 and are converted here.

The hosted upload uses Capgo's internal routes and lives in capgo_upload.py; Capgo Build lives in
capgo_build.py (tuspy, websockets), imported only when a build method is called.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from capawesome_ci.cloud.answers import Record, list_answer, read_answer, unusable
from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.capgo_upload import Encryption, HostedUpload
from capawesome_ci.cloud.errors import raise_for_response
from capawesome_ci.cloud.paths import wire_path
from capawesome_ci.cloud.transport import PLANNED_ID, make_http_client
from capawesome_ci.errors import AuthError, CiError, InputError, NotFoundError
from capawesome_ci.platform import (
    FULL_BPS,
    Artifact,
    ArtifactStream,
    Build,
    BuildRequest,
    Channel,
    CloudPlatform,
    Deployment,
    Job,
    LogLine,
    to_bps,
)
from capawesome_ci.providers import Connection

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from capawesome_ci.cloud.capgo_build import CapgoBuilds

PAGE_SIZE = 50  # Capgo's fetchLimit: a shorter page is the last
MAX_PAGES = 200
# Codes Capgo answers with (mostly HTTP 400) and what they mean for us.
NOT_FOUND_CODES = frozenset(
    {"cannot_find_app", "cannot_find_channel", "cannot_find_channels", "cannot_find_version", "app_not_found"}
)
PERMISSION_CODES = frozenset(
    {"cannot_access_app", "cannot_promote_bundle", "invalid_app_id_access", "no_permission", "not_authorized"}
)
TOKEN_CODES = frozenset({"invalid_apikey", "no_key_provided", "invalid_subkey", "invalid_key"})
# Refusals of what the user asked for (exit 2): a name taken, a rollout without a stable bundle,
# an organisation that enforces encrypted bundles.
USAGE_CODES = frozenset(
    {
        "version_already_exists",
        "missing_stable_version",
        "missing_rollout_version",
        "encryption_required",
        "encryption_key_required",
        "encryption_key_mismatch",
        "invalid_version_format",
        "invalid_protocol",
    }
)
# What the page past the end of the bundle list says (its permission refusal shares the code).
END_OF_BUNDLES = "cannot_get_bundle"
# What a channel looked up by a name that does not exist answers (sic: `getOne` reuses the code).
NO_SUCH_CHANNEL = frozenset({"cannot_find_version", "cannot_find_channel"})


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code else None


def error_message(response: httpx.Response) -> str:
    """`{"error": "cannot_find_channel", "message": "Cannot find channel"}` →
    "Cannot find channel (cannot_find_channel)"."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message, code = body.get("message"), body.get("error")
        message = message if isinstance(message, str) and message.strip() else None
        code = code if isinstance(code, str) and code.strip() else None
        if message and code:
            return f"{message} ({code})"
        if message or code:
            return str(message or code)
    return f"HTTP {response.status_code}"


def from_bps(bps: int | None) -> float | None:
    return None if bps is None else bps / 100


class CapgoApi(Api):
    """`Api` with Capgo's error codes: each well-known code becomes the error it means, and a caller
    may `tolerate` codes it expects (the response is then returned for it to read)."""

    def request(self, method: str, path: str, tolerate: frozenset[str] = frozenset(), **kwargs: Any) -> httpx.Response:
        response = self.send(method, path, **kwargs)
        if response.is_success:
            return response
        if 400 <= response.status_code < 500 and response.status_code != 429:
            code = error_code(response)
            if code in tolerate:
                return response
            mapped = self._mapped(response, code)
            if mapped is not None:
                raise mapped
        raise_for_response(response, error_message)
        return response  # not reached: raise_for_response raised

    @staticmethod
    def _mapped(response: httpx.Response, code: str | None) -> CiError | None:
        where = f"{response.request.method} {wire_path(response.request.url)}"
        text = f"{where}: {error_message(response)}"
        if code in TOKEN_CODES or response.status_code == 401:
            return AuthError(f"{text} — the API key is missing, invalid or expired", token_refused=True)
        if code == "cannot_access_app":  # Capgo answers this for an app that does not exist, too
            return AuthError(f"{text} — check the app id (reverse DNS, e.g. com.example.app) and the key's access")
        if code in PERMISSION_CODES:
            return AuthError(f"{text} — the API key lacks permission for this app or action")
        if code in NOT_FOUND_CODES:
            return NotFoundError(text)
        if code in USAGE_CODES:
            return InputError(text)
        return None


@dataclass(frozen=True)
class CapgoBundle:
    """A bundle (Capgo: an `app_versions` row): its id (a number, as text) and semver name."""

    id: str
    name: str
    checksum: str | None = None


@dataclass(frozen=True)
class CapgoChannel:
    """A channel as the steps need it: stable bundle, rollout target, rollout in basis points."""

    id: str
    name: str
    stable: str | None  # the stable bundle's name
    rollout_bundle: str | None  # the rollout target's name
    rollout_bps: int
    rollout_enabled: bool
    rollout_paused: bool

    @property
    def rollout_active(self) -> bool:
        return self.rollout_bundle is not None and self.rollout_enabled


@contextmanager
def connect(connection: Connection) -> Iterator[CapgoPlatform]:
    """The adapter's entry point (providers.py names it)."""
    with make_http_client(
        connection.base_url,
        connection.token,
        dry_run_recorder=connection.dry_run_recorder,
        debug=connection.debug,
        auth_scheme=None,  # Capgo takes the key raw
    ) as http:
        platform = CapgoPlatform(http, connection)
        try:
            yield platform
        finally:
            platform.close()


class CapgoPlatform(CloudPlatform):
    provider = "capgo"

    def __init__(self, http: httpx.Client, connection: Connection) -> None:
        self.http = http
        self.connection = connection
        self.app_id = connection.app_id
        self.api = CapgoApi(http, message_of=error_message)
        self._builds: CapgoBuilds | None = None

    def close(self) -> None:
        if self._builds is not None:
            self._builds.close()
            self._builds = None

    # -- Capgo Build (capgo_build.py: its imports load only when a build method is called) ---------
    @property
    def builds(self) -> CapgoBuilds:
        if self._builds is None:
            from capawesome_ci.cloud.capgo_build import CapgoBuilds

            self._builds = CapgoBuilds(self.api, self.app_id, self.connection)
        return self._builds

    def create_build(self, request: BuildRequest) -> Build:
        return self.builds.create_build(request)

    def get_build(self, build_id: str) -> Build:
        return self.builds.get_build(build_id)

    def get_job(self, job_id: str) -> Job:
        return self.builds.get_job(job_id)

    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        return self.builds.read_log_lines(job_id, offset)

    def cancel_job(self, job_id: str) -> Job:
        return self.builds.cancel_job(job_id)

    def failure_summary(self, job_id: str) -> str | None:
        return self.builds.failure_summary(job_id)

    def list_artifacts(self, build_id: str) -> list[Artifact]:
        return self.builds.list_artifacts(build_id)

    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> AbstractContextManager[ArtifactStream]:
        return self.builds.open_artifact(artifact, start, stall_timeout)

    # -- bundles -----------------------------------------------------------------------------------
    @property
    def dry_run(self) -> bool:
        return self.connection.dry_run_recorder is not None

    def list_bundles(self) -> Iterator[CapgoBundle]:
        """Every bundle of the app, newest first (deleted ones are not listed, though their names
        stay taken: the hosted upload checks those through Capgo's own existence check)."""
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            response = self.api.request(
                "GET", "/bundle/", tolerate=frozenset({END_OF_BUNDLES}), params={"app_id": self.app_id, "page": page}
            )
            if not response.is_success:
                if page == 0 and "access" in error_message(response).lower():  # the code is shared
                    raise CapgoApi._mapped(response, "cannot_access_app") or AuthError(error_message(response))
                return
            items = list_answer(response)
            bundles = [self._bundle(item) for item in items]
            # A server that ignores `page` sends the same rows forever: stop at the first repeat, not page 200.
            if bundles and all(bundle.id in seen for bundle in bundles):
                raise unusable("GET", "/bundle/", f"page {page} repeating the bundles of an earlier page")
            seen.update(bundle.id for bundle in bundles)
            yield from bundles
            if len(items) < PAGE_SIZE:
                return
        raise unusable("GET", "/bundle/", f"a list longer than {MAX_PAGES} pages")

    @staticmethod
    def _bundle(item: Record) -> CapgoBundle:
        return CapgoBundle(id=_number_id(item, "id"), name=item.token("name"), checksum=item.text("checksum"))

    def find_bundle(self, name: str) -> CapgoBundle | None:
        return next((bundle for bundle in self.list_bundles() if bundle.name == name), None)

    def register_bundle(
        self, name: str, url: str, checksum: str, session_key: str | None = None, key_id: str | None = None
    ) -> CapgoBundle:
        """A self-hosted zip: `POST /bundle` (Capgo checks the URL serves a zip)."""
        body: dict[str, Any] = {"app_id": self.app_id, "version": name, "external_url": url, "checksum": checksum}
        if session_key:
            body["session_key"] = session_key
        if key_id:
            body["key_id"] = key_id
        answer = self.api.object("POST", "/bundle/", json=body)
        bundle = answer.record("bundle")
        if bundle is None or answer.text("status") == "planned":
            return CapgoBundle(id=PLANNED_ID, name=name, checksum=checksum)
        return CapgoBundle(id=_number_id(bundle, "id"), name=name, checksum=checksum)

    def upload_bundle(
        self,
        name: str,
        archive: Path,
        checksum: str,
        session_key: str | None = None,
        key_id: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CapgoBundle:
        """A Capgo-hosted bundle, uploaded the way Capgo's own CLI does it (capgo_upload.py)."""
        size = archive.stat().st_size
        upload = HostedUpload(
            self.api,
            self.connection,
            files_url=os.environ.get("CAPGO_FILES_URL") or None,
        )
        recorder = self.connection.dry_run_recorder
        if recorder is not None:  # the upload's internal requests are not worth planning one by one
            upload.refuse_taken_name(name)  # as the upload would: a deleted bundle's name is taken too
            recorder("PUT", "<Capgo upload link>", {"name": name, "size": size, "checksum": checksum})
            return CapgoBundle(id=PLANNED_ID, name=name, checksum=checksum)
        encryption = Encryption(session_key, key_id) if session_key else None
        version_id = upload.run(name, archive, checksum, encryption, progress)
        return CapgoBundle(id=version_id, name=name, checksum=checksum)

    # -- channels ----------------------------------------------------------------------------------
    def channel_state(self, name: str) -> CapgoChannel | None:
        response = self.api.request(
            "GET", "/channel/", tolerate=NO_SUCH_CHANNEL, params={"app_id": self.app_id, "channel": name}
        )
        if not response.is_success:
            return None
        value = read_answer(response)
        item = Record.of(value, "GET", "/channel/")
        if item.text("name") != name:
            raise item.unusable(f"a channel whose 'name' is not the {name!r} asked for")
        stable = item.record("version")
        rollout = item.record("rollout_version_info")
        bps = item.integer("rolloutPercentageBps")
        if bps is not None and bps > FULL_BPS:
            raise item.unusable("a 'rolloutPercentageBps' over 10000")
        return CapgoChannel(
            id=_number_id(item, "id"),
            name=name,
            stable=stable.text("name") if stable is not None else None,
            rollout_bundle=rollout.text("name") if rollout is not None else None,
            rollout_bps=bps or 0,
            rollout_enabled=_flag(item, value, "rolloutEnabled"),
            rollout_paused=item.text("rolloutPausedAt") is not None,
        )

    def _post_channel(self, name: str, **fields: Any) -> None:
        self.api.object("POST", "/channel/", json={"app_id": self.app_id, "channel": name, **fields}, empty=True)

    def create_capgo_channel(self, name: str) -> None:
        """A new channel without a bundle (POST /channel is an upsert by name)."""
        self._post_channel(name)

    def set_stable(self, channel: str, bundle: str) -> None:
        """The channel's stable bundle; creates the channel when it does not exist."""
        self._post_channel(channel, version=bundle)

    def start_rollout(self, channel: str, bundle: str, percentage: float) -> None:
        """A rollout of `bundle` (a new target: a new cohort) on a channel with a stable bundle."""
        self._post_channel(channel, rolloutVersion=bundle, rolloutPercentageBps=to_bps(percentage), rolloutEnabled=True)

    def set_rollout_percentage(self, channel: str, percentage: float) -> None:
        """The same target at another share (devices already selected stay selected)."""
        self._post_channel(channel, rolloutPercentageBps=to_bps(percentage), rolloutEnabled=True)

    def promote_rollout(self, channel: str) -> None:
        self._post_channel(channel, promoteToStable=True)

    def rollback_rollout(self, channel: str) -> None:
        self._post_channel(channel, rollback=True)

    def pause_rollout(self, channel: str, paused: bool) -> None:
        """Capgo's only pause: new devices stop entering the rollout (there is no channel pause)."""
        self._post_channel(channel, rolloutPaused=paused)

    # -- the neutral channel methods -----------------------------------------------------------------
    def find_channel(self, name: str) -> Channel | None:
        state = self.channel_state(name)
        if state is None:
            return None
        active = None
        if state.rollout_active:
            active = Deployment(
                id=state.id,
                build_id=state.rollout_bundle,
                channel_id=state.id,
                rollout_percentage=from_bps(state.rollout_bps),
            )
        elif state.stable is not None:
            active = Deployment(id=state.id, build_id=state.stable, channel_id=state.id, rollout_percentage=100.0)
        return Channel(id=state.id, name=name, active_deployment=active)

    def create_channel(self, name: str) -> Channel:
        self.create_capgo_channel(name)
        return Channel(id=PLANNED_ID if self.dry_run else name, name=name)


def _number_id(item: Record, key: str) -> str:
    """Capgo's ids are numbers (they are sent back as numbers, or shown as text)."""
    value = item.integer(key)
    if value is None:
        raise item.unusable(f"no {key!r}")
    return str(value)


def _flag(item: Record, value: dict[str, Any], key: str) -> bool:
    flag = value.get(key)
    if flag is None or isinstance(flag, bool):
        return bool(flag)
    raise item.unusable(f"a {key!r} that is not a boolean")
