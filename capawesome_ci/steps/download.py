"""download: stream a build's artifacts to disk with sha256, atomically, in constant memory."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import LocalIOError, NotFoundError, TransientError
from capawesome_ci.steps.context import StepContext, resolve_build
from capawesome_ci.steps.inputs import ARTIFACT_TYPES, BuildSelector, StepInputs, parse_artifact_types
from capawesome_ci.steps.platform import Artifact, Build
from capawesome_ci.steps.result import ArtifactResult

# Breaks in a row without a new byte before a download counts as failed (progress resets it).
DOWNLOAD_ATTEMPTS = 4
# Network reads arrive in 64 KiB pieces; hashing and writing them a MiB at a time costs less.
WRITE_BATCH = 1 << 20
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
# Temporary files are created 0600; the finished file gets the usual permissions (0666 & ~umask).
_UMASK = os.umask(0)
os.umask(_UMASK)
EXTENSIONS = {"dsym": "dSYM.zip", "xcarchive": "xcarchive.zip", "app": "app.zip", "manifest": "json"}


class DownloadOptions(StepInputs):
    type: list[str] = Field(
        default_factory=list,
        description=f"Artifact types to download ({', '.join(ARTIFACT_TYPES)}); default: all ready ones",
        json_schema_extra={"metavar": "TYPES"},
    )
    output_dir: Path = Field(
        default=Path("."), description="Folder to write artifacts into", json_schema_extra={"metavar": "DIR"}
    )

    @field_validator("type", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        return parse_artifact_types(value)


class DownloadInputs(DownloadOptions, BuildSelector):
    @model_validator(mode="after")
    def _one_build(self) -> DownloadInputs:
        self.check_one_build()
        return self


def safe_file_name(artifact: Artifact, build: Build) -> str:
    """A name that stays inside the output folder on every OS, whatever the server sent."""
    raw = (artifact.file_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_CHARS.sub("_", raw).strip(" .")
    if not name or _WINDOWS_RESERVED.match(name):
        stem = f"build-{build.number}" if build.number else f"build-{build.id}"
        name = f"{stem}.{EXTENSIONS.get(artifact.type, artifact.type)}"
    return name[:200]


def _unique(name: str, taken: set[str]) -> str:
    candidate, counter = name, 2
    stem, dot, ext = name.partition(".")
    while candidate.lower() in taken:
        candidate = f"{stem}-{counter}{dot}{ext}"
        counter += 1
    taken.add(candidate.lower())
    return candidate


def select_artifacts(ctx: StepContext, build: Build, types: list[str]) -> list[Artifact]:
    artifacts = ctx.platform.list_artifacts(build.id)
    label = f"build {build.number or build.id}"
    if not types:
        ready = [a for a in artifacts if a.status == "ready"]
        for artifact in artifacts:
            if artifact.status != "ready":
                ctx.reporter.warning(f"skipping {artifact.type} artifact {artifact.id}: status {artifact.status}")
        if not ready:
            raise NotFoundError(f"{label} has no ready artifacts")
        return ready
    chosen: list[Artifact] = []
    for wanted in types:
        matching = [a for a in artifacts if a.type == wanted]
        if not matching:
            available = ", ".join(sorted({a.type for a in artifacts})) or "none"
            raise NotFoundError(f"{label} has no {wanted} artifact (available: {available})")
        not_ready = [a for a in matching if a.status != "ready"]
        if len(not_ready) == len(matching):
            raise NotFoundError(f"{label}: the {wanted} artifact is not ready (status {not_ready[0].status})")
        chosen.extend(a for a in matching if a.status == "ready")
    return chosen


def download_artifacts(ctx: StepContext, build: Build, types: list[str], output_dir: Path) -> None:
    artifacts = select_artifacts(ctx, build, types)
    if ctx.dry_run:
        for artifact in artifacts:
            ctx.reporter.info(f"dry run: would download {artifact.type} {artifact.id} into {output_dir}")
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalIOError(f"invalid --output-dir: cannot create {output_dir}: {error.strerror}") from None
    taken: set[str] = set()
    for artifact in artifacts:
        target = output_dir / _unique(safe_file_name(artifact, build), taken)
        size, digest = stream_to_file(ctx, artifact, target)
        ctx.result.artifacts.append(
            ArtifactResult(id=artifact.id, type=artifact.type, path=str(target), size=size, sha256=digest)
        )
        ctx.reporter.info(f"Downloaded {artifact.type} to {target} ({size} bytes, sha256 {digest})")


class WritableFile(Protocol):
    def write(self, data: bytes, /) -> int | None: ...
    def seek(self, offset: int, /) -> int: ...
    def truncate(self) -> int: ...


class HashingWriter:
    """Hashes and writes chunks on a second thread: SHA-256 and file writes release the GIL, so
    they overlap with reading the network. The queue is bounded, so memory stays constant."""

    def __init__(self, handle: WritableFile, depth: int = 4) -> None:
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self.sha = hashlib.sha256()
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="download-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:
                    self.sha.update(chunk)
                    self._handle.write(chunk)
            except BaseException as error:  # reported to the reading thread on its next call
                self._error = error
            finally:
                self._queue.task_done()

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)
        self.written += len(chunk)

    def restart(self) -> None:
        """Throw away what was written (the server ignored our Range request)."""
        self.flush()
        self._handle.seek(0)
        self._handle.truncate()
        self.sha, self.written = hashlib.sha256(), 0

    def flush(self) -> None:
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def stream_to_file(ctx: StepContext, artifact: Artifact, target: Path) -> tuple[int, str]:
    """Write to a temporary file beside `target`, hash while writing, then rename atomically.
    A broken transfer resumes with a Range request (or restarts); nothing partial is left behind."""
    try:
        # Closed by the `with handle` below; delete=False because we rename it on success.
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False, buffering=0
        )
    except OSError as error:
        raise LocalIOError(f"cannot write into {target.parent}: {error.strerror}") from None
    temp = Path(handle.name)
    try:
        with handle:
            writer = HashingWriter(handle)
            try:
                size, digest = _transfer(ctx, artifact, writer, target.name)
            finally:
                writer.close()
        os.chmod(temp, 0o666 & ~_UMASK)
        os.replace(temp, target)
        return size, digest
    except OSError as error:
        raise LocalIOError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        temp.unlink(missing_ok=True)


def _transfer(ctx: StepContext, artifact: Artifact, writer: HashingWriter, label: str) -> tuple[int, str]:
    """Resume after every break that moved the transfer forward; give up after
    DOWNLOAD_ATTEMPTS breaks in a row without a single new byte."""
    expected = artifact.size
    stalled = 0
    furthest = 0  # progress means getting further than ever before, not refetching the same bytes
    while True:
        try:
            with ctx.platform.open_artifact(artifact, start=writer.written) as stream:
                if writer.written and not stream.partial:
                    writer.restart()  # the server ignored Range: start over
                if stream.total_size is not None and expected is None:
                    expected = stream.total_size
                elif stream.total_size is not None and stream.total_size != expected:
                    raise LocalIOError(
                        f"download of {label}: the server sends {stream.total_size} bytes, the build lists {expected}"
                    )
                batch = bytearray()
                try:
                    for chunk in stream.chunks():
                        batch += chunk
                        if len(batch) >= WRITE_BATCH:
                            writer.write(bytes(batch))
                            batch.clear()
                            ctx.reporter.progress(label, writer.written, expected)
                finally:
                    if batch:  # bytes received before a reset are good: resume after them
                        writer.write(bytes(batch))
            writer.flush()
            if expected is not None and writer.written != expected:
                raise TransientError(f"download of {label} ended after {writer.written} of {expected} bytes")
            return writer.written, writer.sha.hexdigest()
        except TransientError as error:
            stalled = 0 if writer.written > furthest else stalled + 1
            furthest = max(furthest, writer.written)
            if stalled >= DOWNLOAD_ATTEMPTS:
                raise LocalIOError(
                    f"download of {label} failed: {stalled} attempts in a row without progress ({error.message})"
                ) from None
            ctx.reporter.warning(
                f"download of {label} interrupted at {writer.written} bytes ({error.message}); resuming"
            )
            ctx.sleep(min(2.0 * max(stalled, 1), 10.0))


def run(inputs: DownloadInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    build = resolve_build(ctx, inputs.build_id, inputs.build_number)
    download_artifacts(ctx, build, inputs.type, inputs.output_dir)
    ctx.result.status = "succeeded"
