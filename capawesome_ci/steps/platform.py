"""What a cloud platform must offer the steps, in platform-neutral terms.

`steps/` talks only to this interface; `cloud/capawesome.py` implements it over HTTP (a second
platform such as Capgo would add its own implementation). Percentages here are always 0–100;
converting to a platform's own unit happens inside the implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "canceled", "rejected", "timed_out"})
PLANNED_ID = "<planned>"


@dataclass
class App:
    id: str
    name: str | None = None


@dataclass
class BuildRequest:
    platform: str
    type: str | None = None
    git_ref: str | None = None
    certificate: str | None = None
    environment: str | None = None
    configuration: str | None = None
    stack: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    # Channels the platform itself deploys a web build to once it succeeds (used with --no-wait).
    channels: list[str] = field(default_factory=list)


@dataclass
class Build:
    id: str
    number: str | None = None
    platform: str | None = None
    type: str | None = None
    job_id: str | None = None
    git_ref: str | None = None
    url: str | None = None
    planned: bool = False


@dataclass
class Job:
    id: str
    status: str
    status_message: str | None = None
    duration_seconds: float | None = None
    planned: bool = False

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
    planned: bool = False


@dataclass
class Channel:
    id: str
    name: str
    active_deployment: Deployment | None = None
    paused: bool = False
    planned: bool = False


@dataclass
class Destination:
    id: str
    name: str
    platform: str | None = None


@dataclass
class Share:
    id: str
    url: str
    qr_code_url: str
    expires_at: str | None = None
    planned: bool = False


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
    planned: bool = False


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


class CloudPlatform(Protocol):
    """Every call may raise a `capawesome_ci.errors.CiError` (mapped from the platform's errors)."""

    app_id: str

    def get_app(self) -> App: ...
    def create_build(self, request: BuildRequest) -> Build: ...
    def get_build(self, build_id: str) -> Build: ...
    def find_build_by_number(self, number: str) -> Build: ...
    def get_job(self, job_id: str) -> Job: ...
    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]: ...
    def cancel_job(self, job_id: str) -> Job: ...
    def failure_summary(self, job_id: str) -> str | None: ...
    def list_artifacts(self, build_id: str) -> list[Artifact]: ...
    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> AbstractContextManager[ArtifactStream]: ...
    def find_channel(self, name: str) -> Channel | None: ...
    def create_channel(self, name: str) -> Channel: ...
    def find_destination(self, name: str) -> Destination | None: ...
    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]: ...
    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment: ...
    def get_deployment(self, deployment_id: str) -> Deployment: ...
    def set_rollout(self, deployment_id: str, rollout_percentage: float) -> Deployment: ...
    def create_share(self, build_id: str, expires_in_days: int | None) -> Share: ...
    def create_bundle(self, request: BundleRequest) -> Bundle: ...
    def upload_bundle_file(
        self, bundle_id: str, upload: BundleUpload, progress: Callable[[int], None] | None = None
    ) -> str: ...
    def finalize_bundle(self, bundle_id: str, file_id: str | None) -> Bundle: ...
