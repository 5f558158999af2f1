"""steps/build.py in-process against FakePlatform: the request, following the job, the follow-ups."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.errors import ExitCode, InputError, JobEndedError, NotFoundError
from capawesome_ci.steps import build as build_step
from capawesome_ci.steps.build import BuildInputs, default_git_ref
from tests.fakes import INPUT_REFUSED, FakePlatform, RecordingReporter, make_ctx


def inputs(**given: Any) -> BuildInputs:
    return BuildInputs.model_validate({"app_id": "app-1", **given})


def reporter_of(ctx: Any) -> RecordingReporter:
    assert isinstance(ctx.reporter, RecordingReporter)
    return ctx.reporter


def test_creates_the_build_and_follows_it_to_success() -> None:
    platform = FakePlatform()
    platform.next_build_logs.append([["Installing"], ["Compiling", "Signing"], ["Done"]])
    ctx = make_ctx(platform, environ={"CI_COMMIT_SHA": "abc123"})
    build_step.run(
        inputs(
            platform="android",
            type="release",
            certificate="Upload key",
            environment="staging",
            var=["API_URL=https://x", "MODE=a=b"],
        ),
        ctx,
    )
    (request,) = platform.build_requests
    assert (request.platform, request.type, request.git_ref) == ("android", "release", "abc123")
    assert request.variables == {"API_URL": "https://x", "MODE": "a=b"}
    assert request.options == {"certificate": "Upload key", "environment": "staging"}
    assert request.channels == []  # waiting: we deploy ourselves
    built = next(iter(platform.builds.values()))
    assert ctx.result.status == "succeeded"
    assert (ctx.result.build_id, ctx.result.build_number, ctx.result.job_id) == (built.id, "1", built.job_id)
    assert (ctx.result.job_status, ctx.result.job_status_raw) == ("succeeded", "SUCCESS")
    assert reporter_of(ctx).log_lines == ["Installing", "Compiling", "Signing", "Done"]
    assert "Build #1 succeeded" in reporter_of(ctx).infos


def test_var_overrides_the_same_key_of_the_var_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nexport A=from-file\nB='quoted'\n", encoding="utf-8")
    platform = FakePlatform()
    build_step.run(inputs(platform="web", var_file=str(dotenv), var="A=from-flag"), make_ctx(platform))
    assert platform.build_requests[0].variables == {"A": "from-flag", "B": "quoted"}


def test_no_wait_returns_at_once_and_lets_the_platform_deploy_the_web_build() -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    ctx = make_ctx(platform)
    build_step.run(inputs(platform="web", wait=False, channel="production"), ctx)
    assert platform.build_requests[0].channels == ["production"]
    assert not platform.called("get_job")
    assert not platform.called("create_deployment")
    assert (ctx.result.status, ctx.result.job_status) == ("started", "pending")


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [("failed", ExitCode.JOB_FAILED), ("canceled", ExitCode.JOB_CANCELED), ("timed_out", ExitCode.JOB_TIMED_OUT)],
)
def test_a_build_that_ends_unsuccessfully_does_no_follow_ups(tmp_path: Path, status: str, exit_code: ExitCode) -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    platform.next_build_statuses.append(["running", status])
    ctx = make_ctx(platform)
    with pytest.raises(JobEndedError) as raised:
        build_step.run(
            inputs(platform="web", download="zip", output_dir=str(tmp_path), channel="production", share=True), ctx
        )
    assert raised.value.exit_code == exit_code
    assert ctx.result.job_status == status
    assert not {"list_artifacts", "open_artifact", "create_deployment", "create_share"} & set(platform.methods())
    assert os.listdir(tmp_path) == []


def test_after_success_downloads_deploys_and_shares(tmp_path: Path) -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    platform.next_build_logs.append([["ok"]])
    platform.next_build_artifacts.append([("zip", b"web build", "www.zip")])
    ctx = make_ctx(platform)
    build_step.run(
        inputs(
            platform="web",
            download="zip",
            output_dir=str(tmp_path / "out"),
            channel="production",
            rollout="25",
            share=True,
            share_expires_in_days="7",
        ),
        ctx,
    )
    assert platform.build_requests[0].channels == []  # we deploy ourselves, at the rollout
    assert (tmp_path / "out" / "www.zip").read_bytes() == b"web build"
    assert ctx.result.artifacts[0].path == str(tmp_path / "out" / "www.zip")
    (deployment,) = ctx.result.deployments
    assert (deployment.channel, deployment.rollout_percentage) == ("production", 25.0)
    assert platform.called("create_share")[0].args[1] == 7
    assert ctx.result.share is not None and ctx.result.share.url == platform.shares[0].url
    # The follow-ups run in this order, after the job succeeded.
    order = [m for m in platform.methods() if m in ("get_job", "open_artifact", "create_deployment", "create_share")]
    assert order[-3:] == ["open_artifact", "create_deployment", "create_share"]


def test_a_native_build_goes_to_its_destination_and_waits_for_the_store_job() -> None:
    platform = FakePlatform()
    destination = platform.add_destination("Play Store")
    ctx = make_ctx(platform)
    build_step.run(inputs(platform="android", type="release", destination="Play Store", release_notes="New"), ctx)
    (call,) = platform.called("create_deployment")
    assert call.kwargs["destination"] == destination
    assert call.kwargs["release_notes"] == {"default": "New"}
    assert ctx.result.deployments[0].job_status == "succeeded"


def test_a_missing_channel_fails_before_the_build_is_created() -> None:
    platform = FakePlatform()
    with pytest.raises(NotFoundError) as raised:
        build_step.run(inputs(platform="web", channel="production"), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert not platform.called("create_build")


def test_create_channel_creates_it_after_the_build() -> None:
    platform = FakePlatform()
    build_step.run(inputs(platform="web", channel="nightly", create_channel=True), make_ctx(platform))
    assert platform.methods().index("create_build") < platform.methods().index("create_channel")
    assert platform.channels["nightly"].active_deployment is not None


def test_dry_run_checks_the_app_plans_the_build_and_nothing_more(tmp_path: Path) -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    ctx = make_ctx(platform, dry_run=True)
    build_step.run(
        inputs(platform="web", download="zip", output_dir=str(tmp_path / "out"), channel="production", share=True),
        ctx,
    )
    assert platform.called("get_app")
    assert platform.sent_mutations() == []
    assert [call.method for call in platform.planned()] == ["create_build"]
    assert not {"get_job", "list_artifacts", "open_artifact", "create_share"} & set(platform.methods())
    assert platform.builds == {}
    assert not (tmp_path / "out").exists()
    assert ctx.result.status == "succeeded"
    assert ctx.result.build_id is None  # a planned build is not recorded as one
    (plan,) = [info for info in reporter_of(ctx).infos if info.startswith("dry run: after the build succeeds")]
    assert "download zip" in plan and "deploy to channel(s) production at 100 %" in plan and "share" in plan


def test_git_ref_defaults_to_the_pull_request_head_on_github(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "head-sha"}}}), encoding="utf-8")
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "merge-sha",
    }
    assert default_git_ref(environ) == "head-sha"
    assert default_git_ref({**environ, "GITHUB_EVENT_NAME": "push"}) == "merge-sha"
    assert default_git_ref({"BITBUCKET_COMMIT": "bb"}) == "bb"
    assert default_git_ref({}) is None
    platform = FakePlatform()
    build_step.run(inputs(platform="web", git_ref="v1.2"), make_ctx(platform, environ=environ))
    assert platform.build_requests[0].git_ref == "v1.2"  # an explicit ref wins


@pytest.mark.parametrize(
    "given",
    [
        {"platform": "windows"},
        {"platform": "web", "type": "release"},
        {"platform": "android", "type": "app-store"},
        {"platform": "web", "destination": "Play Store"},
        {"platform": "android", "channel": "production"},
        {"platform": "web", "wait": False, "download": "zip"},
        {"platform": "web", "wait": False, "channel": "production", "rollout": 50},
        {"platform": "web", "download": "exe"},
        {"platform": "web", "var": "NOT A PAIR"},
        {"platform": "web", "share": True, "share_expires_in_days": 0},
        {"platform": "ios", "stack": "macos-ventura"},
        {"platform": "web", "unknown": 1},
    ],
)
def test_refuses_bad_inputs(given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(**given)


def test_an_unreadable_var_file_is_refused_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(platform="web", var_file=str(tmp_path / "missing.env"))


def test_needs_an_app_id_before_any_call() -> None:
    platform = FakePlatform()
    with pytest.raises(InputError, match="--app-id"):
        build_step.run(BuildInputs.model_validate({"platform": "web"}), make_ctx(platform))
    assert platform.calls == []
