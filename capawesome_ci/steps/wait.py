"""wait: follow a cloud job to its end, streaming each log line once and in order."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import NoReturn

from pydantic import Field, model_validator

from capawesome_ci.deadline import CANCEL_GRACE_SECONDS, DeadlineExceeded, deadline_scope, timeout_label
from capawesome_ci.errors import (
    CiError,
    ExitCode,
    InputError,
    Interrupted,
    JobEndedError,
    LocalTimeoutError,
    TransientError,
    UnreachableError,
)
from capawesome_ci.platform import FAILED, SUCCEEDED, Capability, Job
from capawesome_ci.result import FAILURE_LOG_TAIL
from capawesome_ci.steps.context import StepContext, resolve_build
from capawesome_ci.steps.inputs import BuildSelector, StepInputs, WaitOptions
from capawesome_ci.text import clean_log_text

# Poll quickly while a job starts or logs flow, back off to at most MAX_POLL when it is quiet.
FIRST_POLL = 1.0
MAX_POLL = 10.0
BACKOFF = 1.5
# Consecutive failed polls (each already retried by the transport) tolerated before giving up.
MAX_POLL_FAILURES = 5
# The cancel request, retries included, ends within this: GitHub sends SIGTERM 7.5 s after its
# SIGINT and kills 2.5 s later, and the outputs must be written before that.


SELECTORS = ("job_id", "build_id", "build_number", "deployment_id")


class WaitInputs(StepInputs, BuildSelector, WaitOptions):
    job_id: str | None = Field(default=None, description="Id of the job to follow")
    deployment_id: str | None = Field(default=None, description="Id of a deployment whose job to follow")

    @model_validator(mode="after")
    def _one_selector(self) -> WaitInputs:
        if sum(1 for name in SELECTORS if getattr(self, name)) != 1:
            raise InputError(
                lambda name: f"give exactly one of {', '.join(name(selector) for selector in SELECTORS)}",
                field="job_id",
            )
        return self


class JobFollower:
    """Polls one job; prints new log lines (deduplicated by line number) as they arrive."""

    def __init__(self, ctx: StepContext, job_id: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.last_number = 0
        self.received = 0
        self.tail: deque[str] = deque(maxlen=FAILURE_LOG_TAIL)

    def poll_logs(self, emit: Callable[[str], None]) -> int:
        if not self.ctx.can(Capability.LOGS):
            return 0
        lines = self.ctx.platform.read_log_lines(self.job_id, self.received)
        self.received += len(lines)
        new = 0
        for line in sorted(lines, key=lambda item: item.number):
            if line.number <= self.last_number:
                continue  # a server that ignores `offset` must not make us print twice
            self.last_number = line.number
            new += 1
            for piece in line.text.splitlines() or [""]:
                # The tail goes into summaries and JSON: plain, bounded text.
                self.tail.append(clean_log_text(piece, keep_colors=False))
                emit(piece)
        return new


def follow_job(ctx: StepContext, job_id: str, title: str, options: WaitOptions) -> Job:
    """Follow `job_id` until it ends; raise the mapped error unless it succeeded.

    On --timeout the job is cancelled (unless --no-cancel-on-timeout) and 124 is raised;
    on SIGINT/SIGTERM the job is cancelled and the interrupt re-raised.
    """
    ctx.result.job_id = job_id
    follower = JobFollower(ctx, job_id)
    interval = FIRST_POLL
    failures = 0
    job: Job | None = None
    # The step's deadline when it has one (runner.py), else --timeout from now: nested scopes only shorten.
    with deadline_scope(options.timeout, timeout_label(options.timeout)) as deadline:
        try:
            with ctx.reporter.log_group(title) as sink:
                while True:
                    try:
                        job = ctx.platform.get_job(job_id)
                        new_lines = follower.poll_logs(sink.line)
                        failures = 0
                    except DeadlineExceeded:
                        _on_timeout(ctx, job_id, options)
                    except TransientError as error:
                        failures += 1
                        # Blips are ridden out, but an API that cannot be reached at all on the first poll
                        # is a wrong URL or an outage: say so now rather than after minutes of retries.
                        unreachable = job is None and isinstance(error, UnreachableError)
                        if unreachable or failures >= MAX_POLL_FAILURES:
                            raise
                        ctx.reporter.warning(f"polling failed ({error.message}); trying again")
                        new_lines = 0
                    if job is not None:
                        if not ctx.can(Capability.LOGS) and job.raw_status != ctx.result.job_status_raw:
                            # No logs to follow: each change of status is the progress there is.
                            ctx.reporter.info(f"{time.strftime('%H:%M:%S')} job {job_id}: {job.raw_status}")
                        ctx.result.job_status, ctx.result.job_status_raw = job.status, job.raw_status
                        if job.terminal:
                            break
                    if deadline.expired:
                        _on_timeout(ctx, job_id, options)
                    interval = FIRST_POLL if new_lines else min(MAX_POLL, interval * BACKOFF)
                    ctx.sleep(deadline.cap(interval))
        except Interrupted:
            ctx.result.log_tail = list(follower.tail)
            _cancel(ctx, job_id, "interrupted")
            raise
        finally:
            ctx.result.log_tail = list(follower.tail)
    ctx.result.job_status, ctx.result.job_status_raw = job.status, job.raw_status
    ctx.result.job_status_message = job.status_message
    ctx.result.failed_parts = list(job.failed_parts)
    if job.duration_seconds is not None:
        ctx.result.duration_seconds = job.duration_seconds
    if job.status != SUCCEEDED:
        reason = f": {job.status_message}" if job.status_message else ""
        if job.failed_parts:
            reason += f" ({'; '.join(job.failed_parts)})"
        if options.failure_summary and job.status == FAILED:
            _fetch_failure_summary(ctx, job_id)
        raise JobEndedError(f"job {job_id} ended {job.status}{reason}", job.status)
    return job


def _fetch_failure_summary(ctx: StepContext, job_id: str) -> None:
    ctx.reporter.info(f"Asking {ctx.title} for a failure summary (this can take a minute)…")
    try:
        ctx.result.failure_summary = ctx.platform.failure_summary(job_id)
    except CiError as error:
        ctx.reporter.warning(f"no failure summary: {error.message}")


def _on_timeout(ctx: StepContext, job_id: str, options: WaitOptions) -> NoReturn:
    ctx.result.status = "timed_out"
    reached = f"{timeout_label(options.timeout)} reached"
    if not ctx.can(Capability.CANCEL):
        raise LocalTimeoutError(f"{reached}; job {job_id} keeps running (it cannot be canceled from here)")
    if options.cancel_on_timeout:
        canceled = _cancel(ctx, job_id, reached)
        outcome = "was canceled" if canceled else "may still be running"
        raise LocalTimeoutError(f"{reached}; job {job_id} {outcome}")
    raise LocalTimeoutError(f"{reached}; job {job_id} is still running (--no-cancel-on-timeout)")


def _cancel(ctx: StepContext, job_id: str, why: str) -> bool:
    """Best effort, within CANCEL_GRACE_SECONDS whatever deadline has passed: a cancel that fails
    must not hide why we stopped. Whether the cloud job was canceled."""
    if ctx.dry_run or not ctx.can(Capability.CANCEL):
        return False
    ctx.reporter.warning(f"{why}: canceling cloud job {job_id}")
    try:
        with deadline_scope(CANCEL_GRACE_SECONDS, f"the cancel grace of {CANCEL_GRACE_SECONDS:g} s", replace=True):
            job = ctx.platform.cancel_job(job_id)
        ctx.result.job_status, ctx.result.job_status_raw = job.status, job.raw_status
        return True
    except CiError as error:
        ctx.reporter.warning(f"could not cancel job {job_id}: {error.message}")
        return False


def run(inputs: WaitInputs, ctx: StepContext) -> None:
    title = f"{ctx.title} job logs"
    if inputs.job_id:
        job_id = inputs.job_id
    elif inputs.deployment_id:
        inputs.require_app_id()
        deployment = ctx.platform.get_deployment(inputs.deployment_id)
        if not deployment.job_id:
            raise InputError(f"deployment {deployment.id} has no job to wait for", field="deployment_id")
        job_id = deployment.job_id
        title = f"{ctx.title} deployment {deployment.id} logs"
    else:
        inputs.require_app_id()
        build = resolve_build(ctx, inputs.build_id, inputs.build_number)
        if not build.job_id:
            raise CiError(f"build {build.id} has no job", ExitCode.NOT_FOUND)
        job_id = build.job_id
        title = f"{ctx.title} build {build.number or build.id} logs"
    follow_job(ctx, job_id, title, inputs)
    ctx.result.status = "succeeded"


def needs(inputs: WaitInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed: list[tuple[Capability, str | None]] = [(Capability.WAIT, None)]
    if inputs.build_number:
        needed.append((Capability.BUILD_NUMBERS, "build_number"))
    if inputs.failure_summary:
        needed.append((Capability.FAILURE_SUMMARY, "failure_summary"))
    return needed
