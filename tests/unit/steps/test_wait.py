"""steps/wait.py in-process against FakePlatform: polling, logs, terminal statuses, timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.errors import (
    CiError,
    ExitCode,
    InputError,
    Interrupted,
    JobEndedError,
    LocalTimeoutError,
    NotFoundError,
    TransientError,
    UnreachableError,
)
from capawesome_ci.steps import wait
from capawesome_ci.steps.wait import WaitInputs
from tests.fakes import INPUT_REFUSED, FakeClock, FakePlatform, RecordingReporter, make_ctx


def inputs(**given: Any) -> WaitInputs:
    return WaitInputs.model_validate({"app_id": "app-1", **given})


def run(platform: FakePlatform, clock: FakeClock | None = None, dry_run: bool = False, **given: Any) -> Any:
    ctx = make_ctx(platform, dry_run=dry_run, clock=clock)
    wait.run(inputs(**given), ctx)
    return ctx


def reporter_of(ctx: Any) -> RecordingReporter:
    assert isinstance(ctx.reporter, RecordingReporter)
    return ctx.reporter


def test_follows_a_job_to_success_printing_every_line_in_order() -> None:
    platform = FakePlatform()
    job = platform.add_job(["pending", "running", "running", "succeeded"], [[], ["one", "two"], ["three"], ["four"]])
    job.duration_seconds = 42.0
    ctx = run(platform, job_id=job.id)

    assert ctx.result.status == "succeeded"
    assert (ctx.result.job_status, ctx.result.job_status_raw) == ("succeeded", "SUCCESS")
    assert ctx.result.job_id == job.id
    assert ctx.result.duration_seconds == 42.0
    (group,) = reporter_of(ctx).groups
    assert group.lines == ["one", "two", "three", "four"]
    assert group.closed
    assert platform.methods().count("get_job") == 4
    # Log lines are asked from where the last read ended.
    assert [call.args[1] for call in platform.called("read_log_lines")] == [0, 0, 2, 3]


def test_a_platform_that_repeats_lines_still_prints_each_once_and_in_order() -> None:
    platform = FakePlatform()
    platform.ignore_log_offset = True  # every read answers with all lines so far
    job = platform.add_job(["running", "running", "succeeded"], [["a", "b"], ["c"], ["d", "e"]])
    ctx = run(platform, job_id=job.id)
    assert reporter_of(ctx).log_lines == ["a", "b", "c", "d", "e"]


def test_a_multi_line_log_entry_is_split_and_kept_in_the_tail() -> None:
    platform = FakePlatform()
    job = platform.add_job(["failed"], [["first\nsecond", "\x1b[31mred\x1b[0m"]])
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError):
        wait.run(inputs(job_id=job.id), ctx)
    assert reporter_of(ctx).log_lines == ["first", "second", "\x1b[31mred\x1b[0m"]
    # The tail goes into summaries and JSON: plain text, colours removed.
    assert ctx.result.log_tail == ["first", "second", "red"]


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [
        ("failed", ExitCode.JOB_FAILED),
        ("canceled", ExitCode.JOB_CANCELED),
        ("rejected", ExitCode.JOB_REJECTED),
        ("timed_out", ExitCode.JOB_TIMED_OUT),
    ],
)
def test_a_job_ending_unsuccessfully_raises_its_exit_code(status: str, exit_code: ExitCode) -> None:
    platform = FakePlatform()
    job = platform.add_job(["running", status], [["working"], ["boom"]], status_message="it broke")
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError) as raised:
        wait.run(inputs(job_id=job.id), ctx)
    assert raised.value.exit_code == exit_code
    assert raised.value.status == status
    assert f"job {job.id} ended {status}: it broke" in raised.value.message
    assert ctx.result.job_status == status
    assert ctx.result.job_status_message == "it broke"
    assert ctx.result.log_tail == ["working", "boom"]
    assert not platform.called("failure_summary")  # not asked for
    assert not platform.called("cancel_job")


def test_failure_summary_is_fetched_only_for_a_failed_job_when_asked() -> None:
    platform = FakePlatform()
    job = platform.add_job(["failed"], failure_summary="Gradle ran out of memory")
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError):
        wait.run(inputs(job_id=job.id, failure_summary=True), ctx)
    assert ctx.result.failure_summary == "Gradle ran out of memory"

    canceled = platform.add_job(["canceled"])
    with pytest.raises(JobEndedError):
        wait.run(inputs(job_id=canceled.id, failure_summary=True), make_ctx(platform))
    assert [call.args for call in platform.called("failure_summary")] == [(job.id,)]


def test_a_failure_summary_that_cannot_be_had_is_a_warning_not_a_new_error() -> None:
    platform = FakePlatform()
    job = platform.add_job(["failed"])
    platform.fail_on("failure_summary", TransientError("summary service down"))
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError) as raised:
        wait.run(inputs(job_id=job.id, failure_summary=True), ctx)
    assert raised.value.exit_code == ExitCode.JOB_FAILED
    assert any("summary service down" in w for w in reporter_of(ctx).warnings)


def test_polling_backs_off_while_quiet_and_speeds_up_when_lines_arrive() -> None:
    platform = FakePlatform()
    statuses = ["running"] * 9 + ["succeeded"]
    logs: list[list[str]] = [[], [], [], [], [], [], ["line"], [], [], []]
    job = platform.add_job(statuses, logs)
    clock = FakeClock()
    run(platform, clock, job_id=job.id)
    assert clock.sleeps == pytest.approx([1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 1.0, 1.5, 1.5 * 1.5])


def test_transient_poll_failures_are_ridden_out_with_a_warning() -> None:
    platform = FakePlatform()
    job = platform.add_job(["running", "succeeded"], [["x"], ["y"]])
    platform.fail_on("get_job", TransientError("502 from the API"), times=wait.MAX_POLL_FAILURES - 1)
    ctx = run(platform, job_id=job.id)
    assert ctx.result.status == "succeeded"
    assert len(reporter_of(ctx).warnings) == wait.MAX_POLL_FAILURES - 1
    assert reporter_of(ctx).log_lines == ["x", "y"]


def test_too_many_failed_polls_in_a_row_give_up_with_the_transient_error() -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    platform.fail_on("get_job", TransientError("502 from the API"))
    ctx = make_ctx(platform)
    with pytest.raises(TransientError) as raised:
        wait.run(inputs(job_id=job.id), ctx)
    assert raised.value.exit_code == ExitCode.TRANSIENT
    assert len(platform.called("get_job")) == wait.MAX_POLL_FAILURES


def test_an_unreachable_api_on_the_first_poll_fails_at_once() -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    platform.fail_on("get_job", UnreachableError("cannot connect"))
    with pytest.raises(UnreachableError):
        wait.run(inputs(job_id=job.id), make_ctx(platform))
    assert len(platform.called("get_job")) == 1


def test_timeout_cancels_the_job_and_exits_124_in_virtual_time(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    clock = FakeClock()
    clock.drive_deadlines(monkeypatch)
    started = clock.now
    ctx = make_ctx(platform, clock=clock)
    with pytest.raises(LocalTimeoutError) as raised:
        wait.run(inputs(job_id=job.id, timeout="30s"), ctx)
    assert raised.value.exit_code == ExitCode.LOCAL_TIMEOUT
    assert "was canceled" in raised.value.message
    # Never slept past the deadline: the last sleep is cut to what was left.
    assert clock.now - started == pytest.approx(30.0)
    assert [call.args for call in platform.called("cancel_job")] == [(job.id,)]
    assert ctx.result.status == "timed_out"
    assert (ctx.result.job_status, ctx.result.job_status_raw) == ("canceled", "CANCELLED")


def test_timeout_without_cancel_leaves_the_job_running(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    clock = FakeClock()
    clock.drive_deadlines(monkeypatch)
    with pytest.raises(LocalTimeoutError) as raised:
        wait.run(inputs(job_id=job.id, timeout=5, cancel_on_timeout=False), make_ctx(platform, clock=clock))
    assert "still running" in raised.value.message
    assert not platform.called("cancel_job")


def test_a_cancel_that_fails_on_timeout_says_the_job_may_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    platform.fail_on("cancel_job", TransientError("503"))
    clock = FakeClock()
    clock.drive_deadlines(monkeypatch)
    ctx = make_ctx(platform, clock=clock)
    with pytest.raises(LocalTimeoutError) as raised:
        wait.run(inputs(job_id=job.id, timeout=5), ctx)
    assert "may still be running" in raised.value.message
    assert any("could not cancel" in w for w in reporter_of(ctx).warnings)


def test_dry_run_never_cancels_on_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"])
    clock = FakeClock()
    clock.drive_deadlines(monkeypatch)
    with pytest.raises(LocalTimeoutError):
        wait.run(inputs(job_id=job.id, timeout=5), make_ctx(platform, dry_run=True, clock=clock))
    assert not platform.called("cancel_job")
    assert platform.sent_mutations() == []


def test_an_interrupt_cancels_the_job_and_is_raised_again() -> None:
    platform = FakePlatform()
    job = platform.add_job(["running"], [["before"]])
    platform.fail_on("read_log_lines", Interrupted(15))
    ctx = make_ctx(platform)
    with pytest.raises(Interrupted):
        wait.run(inputs(job_id=job.id), ctx)
    assert [call.args for call in platform.called("cancel_job")] == [(job.id,)]
    assert platform.jobs[job.id].canceled


def test_waits_for_a_build_by_number() -> None:
    platform = FakePlatform()
    platform.add_build("android")
    build = platform.add_build("ios", ["running", "succeeded"])
    ctx = run(platform, build_number="#0" + (build.number or ""))  # as typed: '#02'
    assert platform.called("find_build_by_number")[0].args == (build.number,)
    assert [call.args for call in platform.called("get_job")] == [(build.job_id,)] * 2
    assert ctx.result.build_id == build.id
    assert reporter_of(ctx).groups[0].title.endswith(f" build {build.number} logs")


def test_waits_for_a_deployment_job() -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    job = platform.add_job(["succeeded"])
    deployment = platform.add_deployment(build, job_id=job.id)
    ctx = run(platform, deployment_id=deployment.id)
    assert ctx.result.job_id == job.id
    assert reporter_of(ctx).groups[0].title.endswith(f" deployment {deployment.id} logs")


def test_a_deployment_without_a_job_is_refused() -> None:
    platform = FakePlatform()
    deployment = platform.add_deployment(platform.add_build(), rollout_percentage=100)
    with pytest.raises(InputError, match="has no job"):
        wait.run(inputs(deployment_id=deployment.id), make_ctx(platform))


def test_a_build_without_a_job_is_not_found() -> None:
    platform = FakePlatform()
    build = platform.add_build(with_job=False)
    with pytest.raises(CiError) as raised:
        wait.run(inputs(build_id=build.id), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert not platform.called("get_job")


def test_an_unknown_build_number_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        wait.run(inputs(build_number="99"), make_ctx(FakePlatform()))


@pytest.mark.parametrize(
    "given",
    [{}, {"job_id": "j", "build_id": "b"}, {"build_number": "v2"}, {"job_id": ".."}, {"job_id": "a\u202eb"}],
)
def test_refuses_inputs_that_do_not_name_exactly_one_job(given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(**given)


def test_a_build_selector_without_an_app_id_is_refused_before_any_call() -> None:
    platform = FakePlatform()
    with pytest.raises(InputError, match="missing --app-id"):
        wait.run(WaitInputs.model_validate({"build_id": "b"}), make_ctx(platform))
    assert platform.calls == []
