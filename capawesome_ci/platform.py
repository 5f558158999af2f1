"""What a cloud platform offers the steps, in platform-neutral terms: the one seam between them.

Steps (capawesome_ci/steps/) talk only to `CloudPlatform`; each provider's adapter (capawesome_ci/cloud/)
implements the methods of its capabilities and inherits "not available" for the rest. The runner
refuses a step a platform cannot do before any request (its provider entry lists the capabilities:
capawesome_ci/providers.py), so these defaults are a safety net. Percentages here are always 0–100
and job statuses one vocabulary (`JOB_STATUSES`); converting to a platform's own units and words
happens inside its adapter, which keeps the raw status beside the normalised one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from capawesome_ci.errors import InputError


class Capability(str, enum.Enum):
    BUILD = "build"
    BUILD_SOURCES = "build-sources"  # build from uploaded local sources or a source zip's URL
    BUILD_NUMBERS = "build-numbers"  # look a build up by its number
    WAIT = "wait"  # follow a job to its end
    LOGS = "logs"  # the job's log lines
    CANCEL = "cancel"
    FAILURE_SUMMARY = "failure-summary"
    DOWNLOAD = "download"
    CHANNELS = "channels"  # deploy to live-update channels
    ROLLOUT = "rollout"  # change a channel's rollout percentage
    DESTINATIONS = "destinations"  # deploy to an app store
    SHARE = "share"  # tester links
    LIVE_UPDATE = "live-update"  # upload a local web build as a bundle
    RELEASES = "releases"  # deploy a versioned release to a named deployment, one revision each (Peak)


class NotAvailable(InputError):
    """A step or option the platform cannot do (exit 2), raised before any request is sent."""

    def __init__(self, capability: Capability, provider: str) -> None:
        super().__init__(f"{capability.value} is not available on {provider}")
        self.capability = capability


# The normalised job statuses; adapters map their platform's words onto these.
PENDING, RUNNING = "pending", "running"
SUCCEEDED, FAILED, CANCELED, TIMED_OUT, REJECTED = "succeeded", "failed", "canceled", "timed_out", "rejected"
TERMINAL_JOB_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELED, TIMED_OUT, REJECTED})
JOB_STATUSES = (PENDING, RUNNING, *sorted(TERMINAL_JOB_STATUSES))


FULL_BPS = 10_000  # a percentage in basis points, as Capgo takes rollouts


def to_bps(percentage: float) -> int:
    """0–100 → basis points, half up (12.345 % → 1235), within 0–10 000. A share strictly between 0
    and 100 stays so: 99.995 % is 9999, not every device; 0.001 % is 1, not none."""
    bps = min(FULL_BPS, max(0, int(percentage * 100 + 0.5)))
    return min(FULL_BPS - 1, max(1, bps)) if 0 < percentage < 100 else bps


@dataclass
class App:
    id: str
    name: str | None = None


@dataclass
class BuildRequest:
    platform: str
    type: str | None = None
    git_ref: str | None = None
    # Instead of a git ref: a prepared source zip to upload, or the URL of one served elsewhere.
    source: Path | None = None
    source_url: str | None = None
    # (bytes sent, total) while `source` uploads.
    source_progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)
    variables: dict[str, str] = field(default_factory=dict)
    # Channels the platform itself deploys a web build to once it succeeds (used with --no-wait).
    channels: list[str] = field(default_factory=list)
    # What only this platform knows (Capawesome: certificate, environment, configuration, stack),
    # passed through from the provider's own inputs.
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Build:
    id: str
    number: str | None = None
    platform: str | None = None
    type: str | None = None
    job_id: str | None = None
    git_ref: str | None = None
    url: str | None = None


@dataclass
class Job:
    id: str
    status: str  # one of JOB_STATUSES
    raw_status: str  # the platform's own word for it
    status_message: str | None = None
    duration_seconds: float | None = None
    # The parts of the job that failed, each with its status ("block api: failed"): what a job made
    # of parts (Peak's blocks) has to say beyond its own status.
    failed_parts: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


@dataclass
class LogLine:
    number: int
    text: str


@dataclass
class Artifact:
    id: str
    build_id: str
    type: str
    status: str
    file_name: str | None = None
    size: int | None = None


class ArtifactStream(Protocol):
    """An open download: `partial` means the server honoured the requested start offset."""

    partial: bool
    total_size: int | None

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill the start of `buffer` with the next bytes; 0 at the end of the body."""
        ...


@dataclass
class Deployment:
    id: str
    build_id: str | None = None
    channel_id: str | None = None
    destination_id: str | None = None
    job_id: str | None = None
    rollout_percentage: float | None = None
    url: str | None = None


@dataclass
class Channel:
    id: str
    name: str
    active_deployment: Deployment | None = None
    paused: bool = False


@dataclass
class Destination:
    id: str
    name: str
    platform: str | None = None
    # What only this platform takes for a deploy there (Capwrapper: the --deploy-field pass-through).
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Share:
    id: str
    url: str
    qr_code_url: str
    expires_at: str | None = None


@dataclass
class ReleaseRequest:
    """A versioned release to deploy (Peak Press: a release of an app spec) and what goes with it."""

    version: str
    notes: str
    spec_id: str | None = None  # what the release belongs to: needed for a deployment's first revision
    # Parameters per part of the release: part → phase ("build" or "run") → key → value.
    parameters: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class ReleaseDeployment:
    """A named deployment of releases, changed one numbered revision at a time; `job` follows its
    latest revision (a job id is the deployment id: get_job reads the latest revision)."""

    id: str
    name: str | None = None
    revision: int | None = None
    release: str | None = None  # the version the latest revision deploys
    job: Job | None = None


@dataclass
class BundleRequest:
    artifact_type: str  # "zip" or "manifest"
    git_ref: str | None = None
    custom_properties: dict[str, str] = field(default_factory=dict)
    # Native-version guards: keys android_min, android_max, android_eq, ios_min, ios_max, ios_eq.
    version_constraints: dict[str, str] = field(default_factory=dict)
    # A self-hosted bundle: registered by URL, nothing uploaded.
    url: str | None = None
    checksum: str | None = None
    signature: str | None = None


@dataclass
class Bundle:
    id: str
    build_id: str


@dataclass
class BundleUpload:
    """One file of a bundle, ready to upload: its bytes are read from `path` in pieces."""

    path: Path
    name: str
    href: str | None
    mime_type: str
    size: int
    checksum: str
    signature: str | None = None


class CloudPlatform:
    """Every call may raise a `capawesome_ci.errors.CiError` (mapped from the platform's errors).
    A method outside the platform's capabilities raises `NotAvailable`."""

    provider = "this platform"
    app_id = ""

    def _not_available(self, capability: Capability) -> NotAvailable:
        return NotAvailable(capability, self.provider)

    def get_app(self) -> App:
        return App(id=self.app_id)

    def create_build(self, request: BuildRequest) -> Build:
        raise self._not_available(Capability.BUILD)

    def get_build(self, build_id: str) -> Build:
        raise self._not_available(Capability.BUILD)

    def find_build_by_number(self, number: str) -> Build:
        raise self._not_available(Capability.BUILD_NUMBERS)

    def find_newest_build(self, bundle_id: str) -> Build:
        """The newest build of an app by its bundle id (Capwrapper, which has no app ids)."""
        raise self._not_available(Capability.BUILD)

    def get_job(self, job_id: str) -> Job:
        raise self._not_available(Capability.WAIT)

    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        raise self._not_available(Capability.LOGS)

    def cancel_job(self, job_id: str) -> Job:
        raise self._not_available(Capability.CANCEL)

    def failure_summary(self, job_id: str) -> str | None:
        raise self._not_available(Capability.FAILURE_SUMMARY)

    def list_artifacts(self, build_id: str) -> list[Artifact]:
        raise self._not_available(Capability.DOWNLOAD)

    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> AbstractContextManager[ArtifactStream]:
        raise self._not_available(Capability.DOWNLOAD)

    def find_channel(self, name: str) -> Channel | None:
        raise self._not_available(Capability.CHANNELS)

    def create_channel(self, name: str) -> Channel:
        raise self._not_available(Capability.CHANNELS)

    def find_destination(self, name: str) -> Destination | None:
        raise self._not_available(Capability.DESTINATIONS)

    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]:
        raise self._not_available(Capability.DESTINATIONS)

    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment:
        raise self._not_available(Capability.CHANNELS if channel is not None else Capability.DESTINATIONS)

    def get_deployment(self, deployment_id: str) -> Deployment:
        raise self._not_available(Capability.CHANNELS)

    def set_rollout(self, deployment_id: str, rollout_percentage: float) -> Deployment:
        raise self._not_available(Capability.ROLLOUT)

    def create_share(self, build_id: str, expires_in_days: int | None) -> Share:
        raise self._not_available(Capability.SHARE)

    def publish_bundle(
        self, request: BundleRequest, uploads: list[BundleUpload], progress: Callable[[int, int], None] | None = None
    ) -> Bundle:
        """Create the bundle, upload its files (none for a self-hosted URL) and make it deployable;
        a failure after the bundle exists says so."""
        raise self._not_available(Capability.LIVE_UPDATE)

    def find_release_deployment(self, name_or_id: str) -> ReleaseDeployment | None:
        """The deployment with this exact name, else with this id; None when there is neither."""
        raise self._not_available(Capability.RELEASES)

    def create_release_deployment(self, name: str, request: ReleaseRequest) -> ReleaseDeployment:
        """A new deployment named `name`, its first revision deploying `request`."""
        raise self._not_available(Capability.RELEASES)

    def create_revision(self, deployment_id: str, request: ReleaseRequest) -> ReleaseDeployment:
        """A new revision of an existing deployment, deploying `request` (an older release rolls back)."""
        raise self._not_available(Capability.RELEASES)

    def redeploy(self, deployment_id: str) -> ReleaseDeployment:
        """Deploy the latest revision again (after it failed or ended with a warning)."""
        raise self._not_available(Capability.RELEASES)
