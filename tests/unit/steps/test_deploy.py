"""steps/deploy.py in-process against FakePlatform: channels with rollouts, destinations, re-runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.errors import ExitCode, InputError, JobEndedError, NotFoundError
from capawesome_ci.steps import deploy
from capawesome_ci.steps.deploy import DeployInputs
from tests.fakes import INPUT_REFUSED, FakePlatform, RecordingReporter, make_ctx


def inputs(**given: Any) -> DeployInputs:
    return DeployInputs.model_validate({"app_id": "app-1", **given})


def reporter_of(ctx: Any) -> RecordingReporter:
    assert isinstance(ctx.reporter, RecordingReporter)
    return ctx.reporter


# -- channels -------------------------------------------------------------------------------------
def test_deploys_a_build_to_each_channel_at_the_rollout() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    production = platform.add_channel("production")
    beta = platform.add_channel("beta")
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, channel="production,beta", rollout="25%"), ctx)

    calls = platform.called("create_deployment")
    assert [(c.args, c.kwargs["channel"].id, c.kwargs["rollout_percentage"]) for c in calls] == [
        ((build.id,), production.id, 25.0),
        ((build.id,), beta.id, 25.0),
    ]
    assert [(d.channel, d.rollout_percentage, d.noop) for d in ctx.result.deployments] == [
        ("production", 25.0, False),
        ("beta", 25.0, False),
    ]
    assert production.active_deployment is not None and production.active_deployment.build_id == build.id
    assert ctx.result.status == "succeeded"
    assert not ctx.result.noop
    assert ctx.result.build_id == build.id


def test_a_channel_already_serving_the_build_at_that_rollout_sends_nothing() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    active = platform.add_deployment(build, rollout_percentage=25.0)
    platform.add_channel("production", active)
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, channel="production", rollout=25), ctx)

    assert platform.sent_mutations() == []
    assert ctx.result.noop
    (entry,) = ctx.result.deployments
    assert (entry.id, entry.noop) == (active.id, True)
    assert any("nothing to do" in info for info in reporter_of(ctx).infos)


def test_running_the_same_deploy_twice_deploys_once() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    platform.add_channel("production")
    deploy.run(inputs(build_id=build.id, channel="production", rollout=40), make_ctx(platform))
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, channel="production", rollout=40), ctx)
    assert len(platform.called("create_deployment")) == 1
    assert ctx.result.noop


@pytest.mark.parametrize("active_rollout", [10.0, None])
def test_another_rollout_or_an_unknown_one_is_deployed_again(active_rollout: float | None) -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    platform.add_channel("production", platform.add_deployment(build, rollout_percentage=active_rollout))
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, channel="production", rollout=50), ctx)
    assert len(platform.called("create_deployment")) == 1
    assert not ctx.result.noop


def test_another_build_on_the_channel_is_replaced() -> None:
    platform = FakePlatform()
    old, new = platform.add_build("web"), platform.add_build("web")
    platform.add_channel("production", platform.add_deployment(old, rollout_percentage=100.0))
    deploy.run(inputs(build_number=new.number, channel="production"), make_ctx(platform))
    assert [c.args for c in platform.called("create_deployment")] == [(new.id,)]


def test_only_noop_channels_make_the_whole_step_a_noop() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    platform.add_channel("production", platform.add_deployment(build, rollout_percentage=100.0))
    platform.add_channel("beta")
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, channel=["production", "beta"]), ctx)
    assert [d.noop for d in ctx.result.deployments] == [True, False]
    assert not ctx.result.noop


def test_a_missing_channel_is_not_found_unless_it_may_be_created() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    with pytest.raises(NotFoundError) as raised:
        deploy.run(inputs(build_id=build.id, channel="nightly"), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert "--create-channel" in raised.value.message
    assert platform.sent_mutations() == []

    deploy.run(inputs(build_id=build.id, channel="nightly", create_channel=True), make_ctx(platform))
    assert platform.methods()[-2:] == ["create_channel", "create_deployment"]
    assert "nightly" in platform.channels


def test_dry_run_plans_the_deployment_and_changes_nothing() -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    channel = platform.add_channel("production")
    ctx = make_ctx(platform, dry_run=True)
    deploy.run(inputs(build_id=build.id, channel="production", rollout=30), ctx)
    assert platform.sent_mutations() == []
    assert [call.method for call in platform.planned()] == ["create_deployment"]
    assert channel.active_deployment is None
    # The planned answer carries no rollout: the result shows the one asked for.
    assert ctx.result.deployments[0].rollout_percentage == 30.0
    assert "Would deploy build #1 to channel production at 30 %" in reporter_of(ctx).infos


# -- destinations ---------------------------------------------------------------------------------
def test_deploys_to_a_destination_with_release_notes_and_waits_for_its_job(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    destination = platform.add_destination("Play Store")
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"default": "Fixes", "de-DE": "Korrekturen"}), encoding="utf-8")
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, destination="Play Store", release_notes_file=str(notes)), ctx)

    (call,) = platform.called("create_deployment")
    assert call.kwargs["destination"] == destination
    assert call.kwargs["release_notes"] == {"default": "Fixes", "de-DE": "Korrekturen"}
    (entry,) = ctx.result.deployments
    assert entry.destination == "Play Store"
    assert entry.job_status == "succeeded"
    assert platform.called("get_job")[-1].args == (entry.job_id,)
    assert ctx.result.status == "succeeded"


def test_a_destination_job_that_is_rejected_exits_6_and_records_the_status() -> None:
    platform = FakePlatform()
    build = platform.add_build("ios")
    platform.add_destination("App Store", "ios")
    platform.deployment_statuses = ("running", "rejected")
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError) as raised:
        deploy.run(inputs(build_id=build.id, destination="App Store", release_notes="Hi"), ctx)
    assert raised.value.exit_code == ExitCode.JOB_REJECTED
    assert ctx.result.deployments[0].job_status == "rejected"


def test_no_wait_returns_after_creating_the_destination_deployment() -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_destination("Play Store")
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, destination="Play Store", wait=False), ctx)
    assert len(platform.called("create_deployment")) == 1
    assert not platform.called("get_job")


@pytest.mark.parametrize("earlier_status", ["succeeded", "pending", "running"])
def test_a_build_already_sent_to_the_destination_is_not_sent_again(earlier_status: str) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    destination = platform.add_destination("Play Store")
    job = platform.add_job([earlier_status, "succeeded"])
    earlier = platform.add_deployment(build, destination_id=destination.id, job_id=job.id)
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, destination="Play Store"), ctx)

    assert platform.sent_mutations() == []
    (entry,) = ctx.result.deployments
    assert (entry.id, entry.noop) == (earlier.id, True)
    assert entry.job_status == "succeeded"  # an unfinished one is followed to its end
    assert ctx.result.noop


def test_a_build_whose_earlier_store_deployment_failed_is_deployed_again() -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    destination = platform.add_destination("Play Store")
    failed = platform.add_job(["failed"])
    platform.add_deployment(build, destination_id=destination.id, job_id=failed.id)
    ctx = make_ctx(platform)
    deploy.run(inputs(build_id=build.id, destination="Play Store"), ctx)
    assert len(platform.called("create_deployment")) == 1
    assert not ctx.result.noop


def test_dry_run_to_a_destination_plans_and_does_not_wait() -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_destination("Play Store")
    ctx = make_ctx(platform, dry_run=True)
    deploy.run(inputs(build_id=build.id, destination="Play Store"), ctx)
    assert [call.method for call in platform.planned()] == ["create_deployment"]
    assert not platform.called("get_job")
    assert platform.deployments == {}


def test_a_missing_destination_is_not_found() -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    with pytest.raises(NotFoundError, match="destination 'Nowhere'"):
        deploy.run(inputs(build_id=build.id, destination="Nowhere"), make_ctx(platform))
    assert platform.sent_mutations() == []


def test_an_unknown_build_is_not_found_before_any_mutation() -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    with pytest.raises(NotFoundError):
        deploy.run(inputs(build_id="nope", channel="production"), make_ctx(platform))
    assert platform.sent_mutations() == []


@pytest.mark.parametrize(
    "given",
    [
        {"build_id": "b"},  # no target
        {"channel": "production"},  # no build
        {"build_id": "b", "build_number": "3", "channel": "production"},
        {"build_id": "b", "channel": "production", "rollout": "250"},
        {"build_id": "b", "channel": "production", "release_notes": "only with a destination"},
        {"build_id": "b", "destination": "Play", "release_notes": "x", "release_notes_file": "notes.txt"},
        {"build_id": "b", "channel": "bad\x07name"},
        {"build_id": "..", "channel": "production"},
    ],
)
def test_refuses_bad_inputs(given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(**given)


def test_an_unreadable_release_notes_file_is_refused_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(build_id="b", destination="Play", release_notes_file=str(tmp_path / "missing.txt"))


def test_needs_an_app_id_before_any_call() -> None:
    platform = FakePlatform()
    with pytest.raises(InputError, match="--app-id"):
        deploy.run(DeployInputs.model_validate({"build_id": "b", "channel": "production"}), make_ctx(platform))
    assert platform.calls == []
