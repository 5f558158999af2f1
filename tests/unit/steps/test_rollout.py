"""steps/rollout.py in-process against FakePlatform."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.errors import ExitCode, InputError, NotFoundError
from capawesome_ci.steps import rollout
from capawesome_ci.steps.rollout import RolloutInputs
from tests.fakes import INPUT_REFUSED, FakePlatform, RecordingReporter, make_ctx


def inputs(**given: Any) -> RolloutInputs:
    return RolloutInputs.model_validate({"app_id": "app-1", **given})


def platform_with_channel(rollout_percentage: float | None = 25.0) -> tuple[FakePlatform, str]:
    platform = FakePlatform()
    build = platform.add_build()
    deployment = platform.add_deployment(build, rollout_percentage=rollout_percentage)
    platform.add_channel("production", deployment)
    return platform, deployment.id


def test_changes_the_rollout_of_the_active_deployment() -> None:
    platform, deployment_id = platform_with_channel(25.0)
    ctx = make_ctx(platform)
    rollout.run(inputs(channel="production", percentage="50%"), ctx)

    assert [call.args for call in platform.called("set_rollout")] == [(deployment_id, 50.0)]
    assert platform.deployments[deployment_id].rollout_percentage == 50.0
    assert ctx.result.status == "succeeded"
    assert not ctx.result.noop
    (entry,) = ctx.result.deployments
    assert (entry.id, entry.channel, entry.rollout_percentage, entry.noop) == (deployment_id, "production", 50.0, False)
    assert isinstance(ctx.reporter, RecordingReporter)
    assert "Changed the rollout of channel production from 25 % to 50 %" in ctx.reporter.infos


def test_the_same_percentage_again_sends_nothing_and_reports_noop() -> None:
    platform, _ = platform_with_channel(50.0)
    ctx = make_ctx(platform)
    rollout.run(inputs(channel="production", percentage=50), ctx)
    assert platform.sent_mutations() == []
    assert ctx.result.noop
    assert ctx.result.deployments[0].noop
    assert ctx.result.status == "succeeded"


def test_a_second_run_is_a_noop() -> None:
    platform, _ = platform_with_channel(10.0)
    rollout.run(inputs(channel="production", percentage=75), make_ctx(platform))
    assert len(platform.sent_mutations()) == 1
    ctx = make_ctx(platform)
    rollout.run(inputs(channel="production", percentage=75), ctx)
    assert len(platform.sent_mutations()) == 1
    assert ctx.result.noop


def test_an_unknown_previous_rollout_is_changed_and_shown_as_unknown() -> None:
    platform, deployment_id = platform_with_channel(None)
    ctx = make_ctx(platform)
    rollout.run(inputs(channel="production", percentage=0), ctx)
    assert [call.args for call in platform.called("set_rollout")] == [(deployment_id, 0.0)]
    assert isinstance(ctx.reporter, RecordingReporter)
    assert any("from ? % to 0 %" in info for info in ctx.reporter.infos)


def test_dry_run_plans_the_change_and_applies_nothing() -> None:
    platform, deployment_id = platform_with_channel(25.0)
    ctx = make_ctx(platform, dry_run=True)
    rollout.run(inputs(channel="production", percentage=50), ctx)
    assert platform.sent_mutations() == []
    assert [call.method for call in platform.planned()] == ["set_rollout"]
    assert platform.deployments[deployment_id].rollout_percentage == 25.0
    assert ctx.result.deployments[0].rollout_percentage == 50.0
    assert isinstance(ctx.reporter, RecordingReporter)
    assert any(info.startswith("Would change") for info in ctx.reporter.infos)


def test_a_missing_channel_is_not_found() -> None:
    platform, _ = platform_with_channel()
    with pytest.raises(NotFoundError) as raised:
        rollout.run(inputs(channel="staging", percentage=50), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert "'staging'" in raised.value.message
    assert platform.sent_mutations() == []


def test_a_channel_without_an_active_deployment_is_not_found() -> None:
    platform = FakePlatform()
    platform.add_channel("empty")
    with pytest.raises(NotFoundError, match="no active deployment"):
        rollout.run(inputs(channel="empty", percentage=50), make_ctx(platform))
    assert platform.sent_mutations() == []


@pytest.mark.parametrize(
    "given",
    [
        {"channel": "production", "percentage": 101},
        {"channel": "production", "percentage": "-1"},
        {"channel": "production", "percentage": "1e2"},
        {"channel": "production", "percentage": "nan"},
        {"channel": "", "percentage": 50},
        {"channel": "production"},
        {"percentage": 50},
        {"channel": "production", "percentage": 50, "rollout": 50},
    ],
)
def test_refuses_bad_inputs(given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(**given)


def test_needs_an_app_id_before_any_call() -> None:
    platform, _ = platform_with_channel()
    with pytest.raises(InputError, match="--app-id"):
        rollout.run(RolloutInputs.model_validate({"channel": "production", "percentage": 5}), make_ctx(platform))
    assert platform.calls == []
