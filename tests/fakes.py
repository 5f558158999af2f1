"""In-memory stand-ins for running a step in-process: a `FakePlatform`, a `RecordingReporter`, a
virtual clock and `make_ctx`.

`FakePlatform` implements every method of `capawesome_ci.platform.CloudPlatform` over plain Python
state. Jobs move through a scripted list of normalised statuses, one step per `get_job`; log lines
appear in scripted batches, one batch per `get_job`. Every call is recorded (`calls`), any method
can be told to raise (`fail_on`), and with `dry_run` the mutations are planned, not applied, and
answered with placeholders: what the dry-run transport does for the real adapter.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from capawesome_ci import deadline as deadline_module
from capawesome_ci.errors import InputError, NotFoundError, TransientError
from capawesome_ci.platform import (
    CANCELED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    App,
    Artifact,
    ArtifactStream,
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
from capawesome_ci.result import StepResult
from capawesome_ci.steps.context import StepContext

# The id of everything a dry run would have created (the real transport answers with the same).
PLANNED_ID = "<planned>"
# The fake platform's own words for the normalised statuses: a step must report both.
RAW_STATUS = {
    "pending": "QUEUED",
    "running": "IN_PROGRESS",
    "succeeded": "SUCCESS",
    "failed": "FAILURE",
    "canceled": "CANCELLED",
    "timed_out": "TIMEOUT",
    "rejected": "REJECTED",
}
MUTATIONS = frozenset(
    {
        "create_build",
        "cancel_job",
        "create_channel",
        "create_deployment",
        "set_rollout",
        "create_share",
        "publish_bundle",
    }
)
DEFAULT_STATUSES = (PENDING, RUNNING, SUCCEEDED)
# More calls of one polling method than this is a step that would never stop.
MAX_CALLS = 500
# How an input model refuses a value: pydantic's error, or an InputError naming the field.
INPUT_REFUSED = (ValidationError, InputError)


# -- the clock ------------------------------------------------------------------------------------
class FakeClock:
    """`sleep` advances `monotonic`; no real time passes. `drive_deadlines` makes the step deadlines
    (capawesome_ci/deadline.py, real time.monotonic() otherwise) run on this clock too."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"slept a negative time: {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds

    def drive_deadlines(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # deadline.py reads `time.monotonic()` through its module global `time`.
        monkeypatch.setattr(deadline_module, "time", self)


# -- the reporter ---------------------------------------------------------------------------------
@dataclass
class Group:
    title: str
    lines: list[str] = field(default_factory=list)
    closed: bool = False

    def line(self, text: str) -> None:  # the LogSink protocol
        self.lines.append(text)


class RecordingReporter:
    """The Reporter protocol in memory."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.debugs: list[str] = []
        self.masks: list[str] = []
        self.groups: list[Group] = []
        self.progress_calls: list[tuple[str, int, int | None]] = []
        self.published: list[StepResult] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warning(self, message: str, title: str | None = None) -> None:
        self.warnings.append(message)

    def error(self, message: str, title: str | None = None) -> None:
        self.errors.append(message)

    def debug(self, message: str) -> None:
        self.debugs.append(message)

    def mask(self, secret: str) -> None:
        self.masks.append(secret)

    @contextmanager
    def log_group(self, title: str) -> Iterator[Group]:
        group = Group(title)
        self.groups.append(group)
        try:
            yield group
        finally:
            group.closed = True

    def progress(self, label: str, done: int, total: int | None) -> None:
        self.progress_calls.append((label, done, total))

    def publish(self, result: StepResult) -> None:
        self.published.append(result)

    @property
    def log_lines(self) -> list[str]:
        return [line for group in self.groups for line in group.lines]

    def text(self) -> str:
        """Everything said, one message a line (for `in` checks)."""
        return "\n".join([*self.infos, *self.warnings, *self.errors, *self.log_lines])


def make_ctx(
    platform: FakePlatform,
    dry_run: bool = False,
    environ: dict[str, str] | None = None,
    *,
    clock: FakeClock | None = None,
    reporter: RecordingReporter | None = None,
    command: str = "test",
) -> StepContext:
    """A StepContext on `platform` with a virtual clock; the platform plans instead of applying
    mutations in a dry run, as the runner wires the real one."""
    clock = clock or FakeClock()
    platform.dry_run = dry_run
    return StepContext(
        platform=platform,
        reporter=reporter or RecordingReporter(),
        result=StepResult(command=command, dry_run=dry_run, app_id=platform.app_id),
        dry_run=dry_run,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        environ=dict(environ or {}),
    )


# -- the platform ---------------------------------------------------------------------------------
@dataclass
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    planned: bool = False


@dataclass
class FakeJob:
    id: str
    statuses: list[str]
    # Batch k (0-based) becomes readable with the (k+1)-th get_job.
    log_batches: list[list[str]] = field(default_factory=list)
    status_message: str | None = None
    duration_seconds: float | None = None
    failure_summary: str | None = None
    polls: int = 0
    canceled: bool = False

    def status(self) -> str:
        if self.canceled:
            return CANCELED
        return self.statuses[min(max(self.polls - 1, 0), len(self.statuses) - 1)]

    def visible_lines(self) -> list[LogLine]:
        texts = [text for batch in self.log_batches[: self.polls] for text in batch]
        return [LogLine(number, text) for number, text in enumerate(texts, start=1)]

    def as_job(self) -> Job:
        status = self.status()
        return Job(
            id=self.id,
            status=status,
            raw_status=RAW_STATUS[status],
            status_message=self.status_message,
            duration_seconds=self.duration_seconds,
        )


@dataclass
class FakeArtifact:
    artifact: Artifact
    data: bytes
    honour_range: bool = True  # False: a server that answers every request with the whole body
    send_size: bool = True  # False: no Content-Length
    # Per open: the offset (into the whole body) where the connection breaks; consumed in order.
    breaks: deque[int] = field(default_factory=deque)
    chunk: int = 4096  # bytes per readinto, at most
    on_read: Callable[[], None] | None = None


class FakeStream:
    """An ArtifactStream over bytes in memory."""

    def __init__(self, item: FakeArtifact, start: int) -> None:
        self.partial = bool(start) and item.honour_range
        self.total_size: int | None = len(item.data) if item.send_size else None
        self._data = item.data
        self._position = start if self.partial else 0
        self._break_at = item.breaks.popleft() if item.breaks else None
        self._chunk = item.chunk
        self._on_read = item.on_read

    def readinto(self, buffer: memoryview, /) -> int:
        if self._on_read is not None:
            self._on_read()
        end = len(self._data)
        if self._break_at is not None:
            if self._position >= self._break_at:
                raise TransientError(f"connection reset at byte {self._position}")
            end = min(end, self._break_at)
        count = min(len(buffer), self._chunk, end - self._position)
        if count <= 0:
            return 0
        buffer[:count] = self._data[self._position : self._position + count]
        self._position += count
        return count


@dataclass
class PublishedBundle:
    request: BundleRequest
    uploads: list[BundleUpload]
    contents: dict[str, bytes]  # read at publish time: the step's temporary files go away after
    bundle: Bundle


class FakePlatform(CloudPlatform):
    provider = "fake"

    def __init__(self, app_id: str = "app-1", *, dry_run: bool = False) -> None:
        self.app_id = app_id
        self.dry_run = dry_run
        self.calls: list[Call] = []
        self.builds: dict[str, Build] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.artifacts: dict[str, list[FakeArtifact]] = {}
        self.channels: dict[str, Channel] = {}
        self.destinations: dict[str, Destination] = {}
        self.deployments: dict[str, Deployment] = {}
        self.shares: list[Share] = []
        self.bundles: list[PublishedBundle] = []
        self.build_requests: list[BuildRequest] = []
        self.build_sources: list[bytes] = []  # `request.source`, read at create time (a temporary file)
        # Scripts for the jobs of builds created from now on, in order; then DEFAULT_STATUSES.
        self.next_build_statuses: deque[Sequence[str]] = deque()
        self.next_build_logs: deque[list[list[str]]] = deque()
        # Artifacts of builds created from now on, in order: (type, bytes, file name) each.
        self.next_build_artifacts: deque[list[tuple[str, bytes, str | None]]] = deque()
        # The jobs of destination deployments created from now on.
        self.deployment_statuses: Sequence[str] = DEFAULT_STATUSES
        self.ignore_log_offset = False  # a server that always answers with every line so far
        self._failures: dict[str, list[tuple[BaseException, int | None]]] = {}
        self._counter = 0
        self._number = 0

    # -- scripting ----------------------------------------------------------------------------
    def _next_id(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}-{self._counter}"

    def add_job(
        self,
        statuses: Sequence[str] = DEFAULT_STATUSES,
        logs: Sequence[Sequence[str]] = (),
        *,
        status_message: str | None = None,
        duration_seconds: float | None = None,
        failure_summary: str | None = None,
        job_id: str | None = None,
    ) -> FakeJob:
        assert statuses, "a job needs at least one status"
        job = FakeJob(
            id=job_id or self._next_id("job"),
            statuses=list(statuses),
            log_batches=[list(batch) for batch in logs],
            status_message=status_message,
            duration_seconds=duration_seconds,
            failure_summary=failure_summary,
        )
        self.jobs[job.id] = job
        return job

    def add_build(
        self,
        platform: str = "web",
        statuses: Sequence[str] = DEFAULT_STATUSES,
        logs: Sequence[Sequence[str]] = (),
        *,
        type: str | None = None,
        with_job: bool = True,
        **job_options: Any,
    ) -> Build:
        self._number += 1
        build_id = self._next_id("build")
        job = self.add_job(statuses, logs, **job_options) if with_job else None
        build = Build(
            id=build_id,
            number=str(self._number),
            platform=platform,
            type=type,
            job_id=job.id if job else None,
            url=f"https://fake.example/builds/{build_id}",
        )
        self.builds[build_id] = build
        return build

    def add_artifact(
        self,
        build: Build,
        type: str,
        data: bytes,
        *,
        status: str = "ready",
        file_name: str | None = None,
        size: int | None = None,
        **options: Any,
    ) -> FakeArtifact:
        artifact = Artifact(
            id=self._next_id("artifact"),
            build_id=build.id,
            type=type,
            status=status,
            file_name=file_name,
            size=len(data) if size is None else size,
        )
        if "breaks" in options:
            options["breaks"] = deque(options["breaks"])
        item = FakeArtifact(artifact, data, **options)
        self.artifacts.setdefault(build.id, []).append(item)
        return item

    def add_channel(self, name: str, active: Deployment | None = None) -> Channel:
        channel = Channel(id=self._next_id("channel"), name=name, active_deployment=active)
        if active is not None:
            active.channel_id = channel.id
            self.deployments[active.id] = active
        self.channels[name] = channel
        return channel

    def add_deployment(self, build: Build, rollout_percentage: float | None = None, **fields: Any) -> Deployment:
        deployment = Deployment(
            id=self._next_id("deployment"), build_id=build.id, rollout_percentage=rollout_percentage, **fields
        )
        self.deployments[deployment.id] = deployment
        return deployment

    def add_destination(self, name: str, platform: str = "android") -> Destination:
        destination = Destination(id=self._next_id("destination"), name=name, platform=platform)
        self.destinations[name] = destination
        return destination

    def fail_on(self, method: str, error: BaseException, times: int | None = None) -> None:
        """Raise `error` on the next `times` calls of `method` (None: on every call from now on)."""
        assert hasattr(CloudPlatform, method), method
        self._failures.setdefault(method, []).append((error, times))

    # -- inspection ---------------------------------------------------------------------------
    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def sent_mutations(self) -> list[Call]:
        """Mutations that took effect (not the ones a dry run only planned)."""
        return [call for call in self.calls if call.method in MUTATIONS and not call.planned]

    def planned(self) -> list[Call]:
        return [call for call in self.calls if call.planned]

    # -- bookkeeping --------------------------------------------------------------------------
    def _record(self, method: str, *args: Any, **kwargs: Any) -> bool:
        """Record the call, raise a scripted failure; True when a dry run only plans it."""
        planned = self.dry_run and method in MUTATIONS
        self.calls.append(Call(method, args, kwargs, planned))
        scripted = self._failures.get(method)
        if scripted:
            error, times = scripted[0]
            if times is not None:
                if times <= 1:
                    scripted.pop(0)
                else:
                    scripted[0] = (error, times - 1)
            raise error
        return planned

    def _job(self, job_id: str) -> FakeJob:
        if job_id not in self.jobs:
            raise NotFoundError(f"job {job_id} not found")
        return self.jobs[job_id]

    def _build(self, build_id: str) -> Build:
        if build_id not in self.builds:
            raise NotFoundError(f"build {build_id} not found in app {self.app_id}")
        return self.builds[build_id]

    # -- CloudPlatform --------------------------------------------------------------------------
    def get_app(self) -> App:
        self._record("get_app")
        return App(id=self.app_id, name="Fake app")

    def create_build(self, request: BuildRequest) -> Build:
        if self._record("create_build", request):
            return Build(id=PLANNED_ID, job_id=PLANNED_ID, platform=request.platform, type=request.type)
        self.build_requests.append(request)
        if request.source is not None:
            self.build_sources.append(request.source.read_bytes())
        statuses = self.next_build_statuses.popleft() if self.next_build_statuses else DEFAULT_STATUSES
        logs = self.next_build_logs.popleft() if self.next_build_logs else []
        build = self.add_build(request.platform, statuses, logs, type=request.type)
        build.git_ref = request.git_ref
        for artifact_type, data, file_name in self.next_build_artifacts.popleft() if self.next_build_artifacts else []:
            self.add_artifact(build, artifact_type, data, file_name=file_name)
        return build

    def get_build(self, build_id: str) -> Build:
        self._record("get_build", build_id)
        return self._build(build_id)

    def find_build_by_number(self, number: str) -> Build:
        self._record("find_build_by_number", number)
        for build in self.builds.values():
            if build.number == number:
                return build
        raise NotFoundError(f"build number {number} not found in app {self.app_id}")

    def get_job(self, job_id: str) -> Job:
        self._record("get_job", job_id)
        assert len(self.called("get_job")) <= MAX_CALLS, f"get_job called over {MAX_CALLS} times"
        job = self._job(job_id)
        job.polls += 1
        return job.as_job()

    def read_log_lines(self, job_id: str, offset: int) -> list[LogLine]:
        self._record("read_log_lines", job_id, offset)
        lines = self._job(job_id).visible_lines()
        return lines if self.ignore_log_offset else lines[offset:]

    def cancel_job(self, job_id: str) -> Job:
        if self._record("cancel_job", job_id):
            return Job(id=job_id, status=PENDING, raw_status="planned")
        job = self._job(job_id)
        job.canceled = True
        return job.as_job()

    def failure_summary(self, job_id: str) -> str | None:
        self._record("failure_summary", job_id)
        return self._job(job_id).failure_summary

    def list_artifacts(self, build_id: str) -> list[Artifact]:
        self._record("list_artifacts", build_id)
        self._build(build_id)
        return [item.artifact for item in self.artifacts.get(build_id, [])]

    def _fake_artifact(self, artifact: Artifact) -> FakeArtifact:
        for item in self.artifacts.get(artifact.build_id, []):
            if item.artifact.id == artifact.id:
                return item
        raise NotFoundError(f"artifact {artifact.id} not found")

    def open_artifact(
        self, artifact: Artifact, start: int = 0, stall_timeout: float | None = None
    ) -> AbstractContextManager[ArtifactStream]:
        self._record("open_artifact", artifact.id, start=start, stall_timeout=stall_timeout)
        # A step that never stops reopening fails the test instead of hanging it.
        assert len(self.called("open_artifact")) <= MAX_CALLS, f"open_artifact called over {MAX_CALLS} times"
        item = self._fake_artifact(artifact)

        @contextmanager
        def opened() -> Iterator[ArtifactStream]:
            yield FakeStream(item, start)

        return opened()

    def find_channel(self, name: str) -> Channel | None:
        self._record("find_channel", name)
        return self.channels.get(name)

    def create_channel(self, name: str) -> Channel:
        if self._record("create_channel", name):
            return Channel(id=PLANNED_ID, name=name)
        channel = Channel(id=self._next_id("channel"), name=name)
        self.channels[name] = channel
        return channel

    def find_destination(self, name: str) -> Destination | None:
        self._record("find_destination", name)
        return self.destinations.get(name)

    def list_deployments(self, build_id: str, destination_id: str | None = None) -> list[Deployment]:
        self._record("list_deployments", build_id, destination_id)
        return [
            deployment
            for deployment in self.deployments.values()
            if deployment.build_id == build_id
            and (destination_id is None or deployment.destination_id == destination_id)
        ]

    def create_deployment(
        self,
        build_id: str,
        *,
        channel: Channel | None = None,
        destination: Destination | None = None,
        rollout_percentage: float | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> Deployment:
        planned = self._record(
            "create_deployment",
            build_id,
            channel=channel,
            destination=destination,
            rollout_percentage=rollout_percentage,
            release_notes=release_notes,
        )
        if planned:
            return Deployment(id=PLANNED_ID, job_id=PLANNED_ID)
        self._build(build_id)
        job = self.add_job(self.deployment_statuses) if destination is not None else None
        deployment = Deployment(
            id=self._next_id("deployment"),
            build_id=build_id,
            channel_id=channel.id if channel else None,
            destination_id=destination.id if destination else None,
            job_id=job.id if job else None,
            rollout_percentage=rollout_percentage if channel else None,
            url="https://fake.example/deployments/new",
        )
        self.deployments[deployment.id] = deployment
        if channel is not None:
            self.channels[channel.name].active_deployment = deployment
        return deployment

    def get_deployment(self, deployment_id: str) -> Deployment:
        self._record("get_deployment", deployment_id)
        if deployment_id not in self.deployments:
            raise NotFoundError(f"deployment {deployment_id} not found")
        return self.deployments[deployment_id]

    def set_rollout(self, deployment_id: str, rollout_percentage: float) -> Deployment:
        if self._record("set_rollout", deployment_id, rollout_percentage):
            return Deployment(id=PLANNED_ID)
        deployment = self.deployments[deployment_id]
        deployment.rollout_percentage = rollout_percentage
        return deployment

    def create_share(self, build_id: str, expires_in_days: int | None) -> Share:
        if self._record("create_share", build_id, expires_in_days):
            return Share(id=PLANNED_ID, url="", qr_code_url="")
        self._build(build_id)
        share_id = self._next_id("share")
        share = Share(
            id=share_id,
            url=f"https://fake.example/shares/{share_id}",
            qr_code_url=f"https://fake.example/qr/{share_id}.png",
            expires_at=None if expires_in_days is None else f"in {expires_in_days} days",
        )
        self.shares.append(share)
        return share

    def publish_bundle(
        self, request: BundleRequest, uploads: list[BundleUpload], progress: Callable[[int, int], None] | None = None
    ) -> Bundle:
        if self._record("publish_bundle", request, list(uploads), progress=progress):
            return Bundle(id=PLANNED_ID, build_id=PLANNED_ID)
        contents: dict[str, bytes] = {}
        total = sum(upload.size for upload in uploads)
        done = 0
        for upload in uploads:
            data = upload.path.read_bytes()
            assert len(data) == upload.size, f"{upload.name}: size {upload.size} but {len(data)} bytes"
            assert hashlib.sha256(data).hexdigest() == upload.checksum, f"{upload.name}: wrong checksum"
            contents[upload.name] = data
            done += upload.size
            if progress is not None:
                progress(done, total)
        build = self.add_build("web", (SUCCEEDED,), with_job=False)
        build.git_ref = request.git_ref
        bundle = Bundle(id=self._next_id("bundle"), build_id=build.id)
        self.bundles.append(PublishedBundle(request, list(uploads), contents, bundle))
        return bundle
