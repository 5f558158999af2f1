"""download: stream a build's artifacts to disk with sha256, atomically, in constant memory."""

from __future__ import annotations

import hashlib
import os
import queue
import secrets
import threading
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from capawesome_ci.deadline import current_deadline
from capawesome_ci.errors import LocalIOError, NotFoundError, TransientError
from capawesome_ci.platform import Artifact, ArtifactStream, Build, Capability
from capawesome_ci.result import ArtifactResult
from capawesome_ci.steps.context import StepContext, resolve_build
from capawesome_ci.steps.inputs import (
    ARTIFACT_TYPES,
    BuildSelector,
    StepInputs,
    TimeoutOption,
    parse_artifact_types,
    parse_duration,
)
from capawesome_ci.steps.names import safe_name, unique_name

# Breaks in a row without progress before a download counts as failed (exit 75).
DOWNLOAD_ATTEMPTS = 4
# A transfer that moves fewer bytes than this in a whole --stall-timeout has stalled (curl's
# --speed-limit/--speed-time): it is resumed with Range, and a break counts as progress only when it
# got this much further than ever before, so a server that trickles a byte a second cannot hold a
# download forever.
STALL_MIN_BYTES = 1024
DEFAULT_STALL_SECONDS = 30.0
# Bytes move a buffer at a time: filled from the network, written, then hashed on another thread.
# Four 1 MiB buffers keep both threads busy in 4 MiB, whatever the artifact's size.
BUFFER_SIZE = 1 << 20
BUFFERS = 4
# Each buffer goes to the kernel in 16 KiB writes. On VMs that hand freed memory back to the host
# (virtio-balloon free page reporting), larger writes make the page cache take large folios from
# memory the host must fault in again: 1 GiB took 3.0 s in 1 MiB writes, 0.3 s in 16 KiB ones
# (bench/CHANGES.md). Where memory is warm, the smaller writes cost about 0.05 s per GiB.
WRITE_SIZE = 16 << 10
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
    stall_timeout: float = Field(
        default=DEFAULT_STALL_SECONDS,
        description=f"Resume a download that moves less than {STALL_MIN_BYTES} bytes in this long (e.g. 30s)",
        json_schema_extra={"metavar": "DURATION"},
    )

    @field_validator("type", mode="before")
    @classmethod
    def _types(cls, value: Any) -> list[str]:
        return parse_artifact_types(value)

    @field_validator("stall_timeout", mode="before")
    @classmethod
    def _stall_timeout(cls, value: Any) -> float:
        return parse_duration(value)


class DownloadInputs(DownloadOptions, BuildSelector, TimeoutOption):
    @model_validator(mode="after")
    def _one_build(self) -> DownloadInputs:
        self.check_one_build()
        return self


def safe_file_name(artifact: Artifact, build: Build) -> str:
    """A name that stays inside the output folder on every OS, whatever the server sent: its
    `fileName`, else `build-NUMBER.EXT` — built from remote values too, so sanitised the same way."""
    name = safe_name(artifact.file_name)
    if not name:
        fallback = f"build-{build.number or build.id}.{EXTENSIONS.get(artifact.type, artifact.type)}"
        name = safe_name(fallback, path=False) or "artifact"
    return name


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


def download_artifacts(
    ctx: StepContext, build: Build, types: list[str], output_dir: Path, stall_timeout: float = DEFAULT_STALL_SECONDS
) -> None:
    artifacts = select_artifacts(ctx, build, types)
    if ctx.dry_run:
        for artifact in artifacts:
            ctx.reporter.info(f"dry run: would download {artifact.type} {artifact.id} into {output_dir}")
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalIOError(f"cannot create {output_dir}: {error.strerror}", field="output_dir") from None
    taken: set[str] = set()
    for artifact in artifacts:
        target = output_dir / unique_name(safe_file_name(artifact, build), taken)
        size, digest = stream_to_file(ctx, artifact, target, stall_timeout)
        ctx.result.artifacts.append(
            ArtifactResult(id=artifact.id, type=artifact.type, path=str(target), size=size, sha256=digest)
        )
        ctx.reporter.info(f"Downloaded {artifact.type} to {target} ({size} bytes, sha256 {digest})")


class HashingFile:
    """The download's temporary file and its running SHA-256. `commit` writes a filled buffer on
    the calling thread and hands it to a hashing thread, which returns it to the pool when done:
    reading, writing and hashing overlap (all three release the GIL), and memory stays at
    `buffers × buffer_size` whatever the artifact's size.

    The two threads talk only through `queue.SimpleQueue`, whose put and get are single C calls.
    SIGINT/SIGTERM raise `Interrupted` in the reading thread between any two bytecodes; inside
    `queue.Queue`'s Python-level Condition code that can lose a wake-up (an interrupted notify()
    leaves a stale waiter behind, CPython gh-92530) and leave the hashing thread waiting forever.
    A cancelled 4 GiB download hung that way once here, in `close()`."""

    def __init__(self, fd: int, buffers: int = BUFFERS, buffer_size: int = BUFFER_SIZE) -> None:
        self._fd = fd
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        for _ in range(buffers):
            self._free.put(memoryview(bytearray(buffer_size)))
        # Filled buffers to hash, an Event to set once everything before it is hashed, or None: stop.
        self._hashing: queue.SimpleQueue[tuple[memoryview, int] | threading.Event | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._sha = hashlib.sha256()
        self.written = 0
        self._thread = threading.Thread(target=self._hash_forever, name="download-hasher", daemon=True)
        self._thread.start()

    def _hash_forever(self) -> None:
        while (item := self._hashing.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            buffer, length = item
            try:
                if self._error is None:
                    self._sha.update(buffer[:length])
            except BaseException as error:  # reported to the reading thread on its next call
                self._error = error
            finally:
                self._free.put(buffer)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def buffer(self) -> memoryview:
        """A free buffer to fill; waits while all of them are being hashed."""
        self._check()
        return self._free.get()

    def commit(self, buffer: memoryview, length: int) -> None:
        """Write the first `length` bytes of `buffer` and hash them; the buffer goes back to the pool."""
        if not length:
            self._free.put(buffer)
            return
        try:
            for start in range(0, length, WRITE_SIZE):
                view = buffer[start : min(start + WRITE_SIZE, length)]
                while view:
                    view = view[os.write(self._fd, view) :]
        except BaseException:
            self._free.put(buffer)
            raise
        self._hashing.put((buffer, length))
        self.written += length

    def restart(self) -> None:
        """Throw away what was written (the server ignored our Range request)."""
        self.flush()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        self._sha, self.written = hashlib.sha256(), 0

    def flush(self) -> None:
        """Wait until everything committed so far is hashed."""
        hashed = threading.Event()
        self._hashing.put(hashed)
        hashed.wait()
        self._check()

    def hexdigest(self) -> str:
        self.flush()
        return self._sha.hexdigest()

    def close(self) -> None:
        self._hashing.put(None)
        self._thread.join()


def stream_to_file(
    ctx: StepContext, artifact: Artifact, target: Path, stall_timeout: float = DEFAULT_STALL_SECONDS
) -> tuple[int, str]:
    """Write to a temporary file beside `target`, hash while writing, then rename atomically.
    A broken transfer resumes with a Range request (or restarts); nothing partial is left behind."""
    # Named before it exists: a signal between creating the file and entering `try` (the test of an
    # interrupted download sends one the moment the file appears) would otherwise leave it behind.
    temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as error:
            raise LocalIOError(f"cannot write into {target.parent}: {error.strerror}") from None
        with open(fd, "wb", buffering=0) as handle:
            file = HashingFile(handle.fileno())
            try:
                size, digest = _transfer(ctx, artifact, file, target.name, stall_timeout)
            finally:
                file.close()
        os.chmod(temp, 0o666 & ~_UMASK)
        os.replace(temp, target)
        return size, digest
    except OSError as error:
        raise LocalIOError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        temp.unlink(missing_ok=True)


def _copy_body(
    ctx: StepContext, stream: ArtifactStream, file: HashingFile, label: str, expected: int | None, stall: float
) -> None:
    """Fill buffers from the stream until its end, committing each one (a partly filled one too,
    when the connection breaks: the bytes received before a reset are good; we resume after them).
    A silent connection ends in a read timeout of `stall` seconds; a trickling one is cut here."""
    window_start, window_bytes = ctx.monotonic(), 0
    while True:
        buffer = file.buffer()
        filled = 0
        try:
            while filled < len(buffer):
                count = stream.readinto(buffer[filled:])
                if not count:
                    break
                filled += count
                window_bytes += count
                now = ctx.monotonic()
                if now - window_start >= stall:
                    if window_bytes < STALL_MIN_BYTES:
                        raise TransientError(f"stalled: {window_bytes} bytes in the last {now - window_start:.0f} s")
                    window_start, window_bytes = now, 0
        finally:
            file.commit(buffer, filled)
        ctx.reporter.progress(label, file.written, expected)
        if filled < len(buffer):
            return


def _transfer(ctx: StepContext, artifact: Artifact, file: HashingFile, label: str, stall: float) -> tuple[int, str]:
    """Resume after every break that moved the transfer forward; give up (exit 75) after
    DOWNLOAD_ATTEMPTS breaks in a row that got less than STALL_MIN_BYTES further than ever before.
    The step's deadline, if any, bounds it all (exit 124, nothing left behind)."""
    expected = artifact.size
    stalled = 0
    furthest = 0  # progress means getting further than ever before, not refetching the same bytes
    while True:
        try:
            with ctx.platform.open_artifact(artifact, start=file.written, stall_timeout=stall) as stream:
                if file.written and not stream.partial:
                    file.restart()  # the server ignored Range: start over
                if stream.total_size is not None and expected is None:
                    expected = stream.total_size
                elif stream.total_size is not None and stream.total_size != expected:
                    raise LocalIOError(
                        f"download of {label}: the server sends {stream.total_size} bytes, the build lists {expected}"
                    )
                _copy_body(ctx, stream, file, label, expected, stall)
            file.flush()
            if expected is not None and file.written != expected:
                raise TransientError(f"download of {label} ended after {file.written} of {expected} bytes")
            return file.written, file.hexdigest()
        except TransientError as error:
            progressed = file.written >= furthest + STALL_MIN_BYTES
            stalled = 0 if progressed else stalled + 1
            furthest = max(furthest, file.written)
            if stalled >= DOWNLOAD_ATTEMPTS:
                raise TransientError(
                    f"download of {label} failed: {stalled} attempts in a row without progress ({error.message})"
                ) from None
            delay = min(float(1 << max(stalled - 1, 0)), 10.0)
            current_deadline().check_sleep(delay, f"the download of {label} could resume")
            ctx.reporter.warning(f"download of {label} interrupted at {file.written} bytes ({error.message}); resuming")
            ctx.sleep(delay)


def run(inputs: DownloadInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    build = resolve_build(ctx, inputs.build_id, inputs.build_number)
    download_artifacts(ctx, build, inputs.type, inputs.output_dir, inputs.stall_timeout)
    ctx.result.status = "succeeded"


def needs(inputs: DownloadInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed: list[tuple[Capability, str | None]] = [(Capability.DOWNLOAD, None)]
    if inputs.build_number:
        needed.append((Capability.BUILD_NUMBERS, "build_number"))
    return needed
