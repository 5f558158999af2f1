"""The CLI with --provider peak against the Peak emulator over loopback: deploy and wait, a failing
block in the error line and the summary, the no-op re-run, rollback, redeploy, 409 → 6, what Peak
cannot do (2, before any request), the deadline (124) and unusable answers (75, never 70)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox.peak.start import PeakEmulator
from capawesome_ci.sandbox.peak.state import DEMO_SPEC_ID, PeakConfig
from tests.conftest import CliResult, cli_env, run_cli

FAST = 0.4  # seconds a revision deploys


def start(**config: Any) -> PeakEmulator:
    return PeakEmulator(PeakConfig(**{"deploy_seconds": FAST, **config})).start()


@pytest.fixture
def peak() -> Iterator[PeakEmulator]:
    emulator = start()
    yield emulator
    emulator.stop()


def peak_cli(
    emulator: PeakEmulator, *args: str, cwd: Path | None = None, **env: str
) -> tuple[CliResult, dict[str, Any]]:
    environ = cli_env(None, PEAK_AUTH_TOKEN=emulator.token, PEAK_PRESS_BASE_URL=emulator.base_url, **env)
    environ.pop("API_KEY", None)
    result = run_cli(["--json", "--provider", "peak", "--base-url", emulator.base_url, *args], env=environ, cwd=cwd)
    assert emulator.token not in result.stdout + result.stderr  # the token is never printed
    return result, json.loads(result.stdout)


def deploy(emulator: PeakEmulator, release: str, *more: str, **env: str) -> tuple[CliResult, dict[str, Any]]:
    return peak_cli(
        emulator, "deploy", "--spec-id", DEMO_SPEC_ID, "--release", release, "--deployment", "forecast", *more, **env
    )


def posts(emulator: PeakEmulator) -> list[str]:
    return [f"{record.method} {record.path}" for record in emulator.state.mutations()]


def test_deploy_creates_the_deployment_then_a_wait_and_a_rerun_send_nothing(peak: PeakEmulator) -> None:
    result, out = deploy(peak, "1.4.2", "--notes", "first", "--parameter", "forecast-api.run.region=eu", "--no-wait")
    assert result.code == 0, result.stderr
    assert out["status"] == "started"
    deployment_id = out["deployments"][0]["id"]
    assert posts(peak) == ["POST /v1/apps/deployments/"]  # peak-sdk's trailing slash
    revision = peak.state.deployments[deployment_id].latest
    assert (revision.notes, revision.parameters) == ("first", {"forecast-api": {"run": {"region": "eu"}}})

    result, out = peak_cli(peak, "wait", "--deployment-id", deployment_id)
    assert result.code == 0, result.stderr
    assert (out["jobStatus"], out["jobStatusRaw"]) == ("succeeded", "deployed")
    entry = out["deployments"][0]
    assert (entry["id"], entry["release"], entry["revision"]) == (deployment_id, "1.4.2", 1)

    result, out = deploy(peak, "1.4.2")
    assert result.code == 0, result.stderr
    assert out["noop"] is True and "already runs release 1.4.2: nothing to do" in result.stderr
    assert posts(peak) == ["POST /v1/apps/deployments/"]  # nothing sent the second time


def test_an_older_release_rolls_back_as_a_new_revision(peak: PeakEmulator, tmp_path: Path) -> None:
    assert deploy(peak, "1.4.2")[0].code == 0
    dotenv = tmp_path / "peak.env"
    result, out = deploy(peak, "1.3.0", "--notes", "roll back", "--dotenv", str(dotenv))
    assert result.code == 0, result.stderr
    assert out["deployments"][0]["revision"] == 2 and out["deployments"][0]["release"] == "1.3.0"
    assert posts(peak)[-1].endswith("/revisions")
    text = dotenv.read_text()
    assert "CAPAWESOME_RELEASE=1.3.0" in text and "CAPAWESOME_REVISION=2" in text
    assert "CAPAWESOME_JOB_STATUS_RAW=deployed" in text


def test_a_failing_block_is_in_the_error_line_and_the_summary_then_redeploy_fixes_it(tmp_path: Path) -> None:
    emulator = start(outcomes=("failed", "deployed"), failing_block="dashboard")
    try:
        summary = tmp_path / "summary.md"
        result, out = deploy(emulator, "1.4.2", "--summary-file", str(summary))
        assert result.code == 1, result.stderr
        assert out["jobStatusRaw"] == "failed" and out["failedParts"] == ["block dashboard: failed"]
        assert "block dashboard: failed" in out["error"]
        text = summary.read_text()
        assert "### Failed parts" in text and "| block dashboard | failed |" in text

        result, out = peak_cli(emulator, "deploy", "--deployment", "forecast", "--redeploy")
        assert result.code == 0, result.stderr
        assert out["jobStatusRaw"] == "deployed" and out["failedParts"] == []
        assert posts(emulator)[-1].endswith("/redeploy")
    finally:
        emulator.stop()


def test_a_warning_fails_unless_allowed(tmp_path: Path) -> None:
    emulator = start(outcomes=("warning",))
    try:
        result, out = deploy(emulator, "1.4.2")
        assert result.code == 1 and out["jobStatusRaw"] == "warning"
        result, out = peak_cli(emulator, "wait", "--deployment-id", "forecast", "--allow-warning")
        assert result.code == 0, result.stderr
        assert out["status"] == "succeeded" and "allowed by --allow-warning" in result.stderr
    finally:
        emulator.stop()


def test_a_conflict_is_exit_6_with_the_servers_reason_and_redeploying_a_healthy_one_too() -> None:
    emulator = start(outcomes=("never",))
    try:
        assert deploy(emulator, "1.4.2", "--no-wait")[0].code == 0
        result, out = deploy(emulator, "1.4.1")
        assert result.code == 6, result.stderr
        assert "HTTP 409" in out["error"] and "is still deploying" in out["error"]
        result, out = peak_cli(emulator, "deploy", "--deployment", "forecast", "--redeploy")
        assert result.code == 6 and "can be redeployed" in out["error"]
    finally:
        emulator.stop()


def test_a_release_that_does_not_exist_is_not_found(peak: PeakEmulator) -> None:
    result, out = deploy(peak, "9.9.9")
    assert result.code == 4, result.stderr
    assert "Release 9.9.9" in out["error"]


def test_a_revision_stuck_deploying_hits_the_timeout_quickly() -> None:
    emulator = start(outcomes=("never",))
    try:
        started = time.monotonic()
        result, out = deploy(emulator, "1.4.2", "--timeout", "2s")
        assert result.code == 124, result.stderr
        assert time.monotonic() - started < 15
        assert "cannot be canceled from here" in out["error"]
    finally:
        emulator.stop()


@pytest.mark.parametrize("fault", ["malformed-json", "truncated-json"])
def test_unusable_answers_while_waiting_are_75_never_70(fault: str) -> None:
    emulator = start(faults=(f"GET /v1/apps/deployments/*-* {fault} times=0",))
    try:
        result, _ = deploy(emulator, "1.4.2")
        assert result.code == 75, result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    finally:
        emulator.stop()


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["build", "--platform", "android"], "build is not available on peak"),
        (["download", "--build-id", "b1"], "download is not available on peak"),
        (["rollout", "--channel", "production", "--percentage", "50"], "rollout is not available on peak"),
        (
            ["live-update", "--channel", "production", "--url", "https://x.example/b.zip"],
            "live-update is not available",
        ),
        (["deploy", "--deployment", "x", "--release", "1", "--failure-summary"], "failure-summary is not available"),
    ],
)
def test_what_peak_cannot_do_is_refused_before_any_request(peak: PeakEmulator, argv: list[str], refused: str) -> None:
    result, out = peak_cli(peak, *argv)
    assert result.code == 2, result.stderr
    assert refused in out["error"]
    assert peak.state.requests == []


def test_a_neutral_deploy_option_is_refused_as_unknown() -> None:
    result = run_cli(["--provider", "peak", "deploy", "--deployment", "x", "--release", "1", "--channel", "beta"])
    assert result.code == 2 and "unrecognized arguments: --channel" in result.stderr


def test_the_readme_command_runs_on_the_embedded_emulator(tmp_path: Path) -> None:
    environ = cli_env(None, PEAK_SANDBOX_DEPLOY_SECONDS="0.5")
    result = run_cli(
        [
            "--sandbox",
            "--provider",
            "peak",
            "deploy",
            "--spec-id",
            DEMO_SPEC_ID,
            "--release",
            "1.4.2",
            "--deployment",
            "demand-forecast",
            "--notes",
            "Release 1.4.2 from CI",
        ],
        env=environ,
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    assert "deploying" in result.stderr and "deployed" in result.stderr
