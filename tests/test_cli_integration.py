"""The CLI driven as a subprocess against the sandbox over real loopback HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from capawesome_ci.cloud.capawesome import unescape_log_payload
from capawesome_ci.sandbox import Sandbox
from capawesome_ci.sandbox.artifacts import artifact_sha256
from capawesome_ci.text import clean_log_text
from tests.conftest import CANARY_TOKEN, cli_env, run_cli


def app_path(sandbox: Sandbox) -> str:
    return f"/v1/apps/{sandbox.app_id}"


def mutations(sandbox: Sandbox) -> list[tuple[str, str]]:
    return [(record.method, record.path) for record in sandbox.state.mutations()]


def test_build_wait_download_deploy_flow(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    result = cli("build", "--platform", "android", "--type", "release", "--download", "aab,apk", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["status"] == "succeeded"
    assert data["jobStatus"] == "succeeded"
    assert data["buildNumber"] == "1"
    assert data["buildUrl"] == f"{sandbox.base_url}/console/apps/{sandbox.app_id}/builds/{data['buildId']}"
    assert sorted(a["type"] for a in data["artifacts"]) == ["aab", "apk"]
    for artifact in data["artifacts"]:
        path = tmp_path / artifact["path"]
        assert path.stat().st_size == artifact["size"] == 256 * 1024
        assert path.stat().st_mode & 0o777 == 0o644  # not the 0600 of a temporary file (umask 022)
        assert artifact["sha256"] == artifact_sha256(f"{sandbox.config.seed}:{artifact['id']}", artifact["size"])
    assert not list(tmp_path.glob(".*.part"))


def test_logs_are_streamed_once_and_in_order(cli: Any, sandbox: Sandbox, sandbox_http: httpx.Client) -> None:
    result = cli("build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_LOG_LINES=40")
    assert result.code == 0, result.stderr
    job_id = sandbox_http.get(f"{app_path(sandbox)}/builds").raise_for_status().json()[0]["jobId"]
    lines = sandbox_http.get(f"/v1/jobs/{job_id}/logs", params={"limit": 1000}).raise_for_status().json()
    streamed = [line.removeprefix("  │ ") for line in result.stderr.splitlines() if line.startswith("  │ ")]
    # Payloads carry escaped ANSI; on a non-TTY the colours are stripped, the text stays.
    expected = [clean_log_text(unescape_log_payload(line["payload"]), keep_colors=False) for line in lines]
    assert len(lines) == 40
    assert streamed == expected


def test_web_build_deploys_to_channel_with_rollout(cli: Any, sandbox: Sandbox, sandbox_http: httpx.Client) -> None:
    result = cli("build", "--platform", "web", "--channel", "production", "--rollout", "25%", "--json")
    assert result.code == 0, result.stderr
    deployment = result.json["deployments"][0]
    assert deployment["channel"] == "production"
    assert deployment["rolloutPercentage"] == 25
    stored = sandbox_http.get(f"{app_path(sandbox)}/deployments/{deployment['id']}").raise_for_status().json()
    assert stored["rolloutPercentage"] == 0.25  # 0-100 for users, 0..1 on the wire


def test_deploy_is_idempotent_and_rollout_changes(cli: Any, sandbox: Sandbox, sandbox_http: httpx.Client) -> None:
    build = cli("build", "--platform", "web", "--json").json
    first = cli("deploy", "--build-number", build["buildNumber"], "--channel", "beta", "--rollout", "10", "--json")
    assert first.code == 0, first.stderr
    assert first.json["deployments"][0]["noop"] is False
    again = cli("deploy", "--build-id", build["buildId"], "--channel", "beta", "--rollout", "10", "--json")
    assert again.code == 0, again.stderr
    assert again.json["deployments"][0]["noop"] is True
    assert again.json["noop"] is True
    assert mutations(sandbox).count(("POST", f"{app_path(sandbox)}/deployments")) == 1

    raised = cli("rollout", "--channel", "beta", "--percentage", "50%", "--json")
    assert raised.code == 0, raised.stderr
    assert raised.json["deployments"][0]["rolloutPercentage"] == 50
    deployment_id = raised.json["deployments"][0]["id"]
    stored = sandbox_http.get(f"{app_path(sandbox)}/deployments/{deployment_id}").raise_for_status().json()
    assert stored["rolloutPercentage"] == 0.5
    same = cli("rollout", "--channel", "beta", "--percentage", "50", "--json")
    assert same.json["noop"] is True
    assert sum(1 for m in mutations(sandbox) if m[0] == "PATCH") == 1


def test_deploy_to_missing_channel_is_not_found_unless_created(cli: Any, sandbox: Sandbox) -> None:
    build = cli("build", "--platform", "web", "--json").json
    missing = cli("deploy", "--build-id", build["buildId"], "--channel", "nightly")
    assert missing.code == 4
    assert "--create-channel" in missing.stderr
    created = cli("deploy", "--build-id", build["buildId"], "--channel", "nightly", "--create-channel", "--json")
    assert created.code == 0, created.stderr
    assert created.json["deployments"][0]["channel"] == "nightly"


def test_native_deploy_to_destination_waits_for_its_job(
    cli: Any, sandbox: Sandbox, tmp_path: Path, sandbox_http: httpx.Client
) -> None:
    build = cli("build", "--platform", "android", "--type", "release", "--json").json
    notes = tmp_path / "notes.json"
    notes.write_text('{"default": "Bug fixes", "de-DE": "Fehlerbehebungen"}')
    result = cli(
        "deploy",
        "--build-id",
        build["buildId"],
        "--destination",
        "google-play-internal",
        "--release-notes-file",
        str(notes),
        "--json",
    )
    assert result.code == 0, result.stderr
    deployment = result.json["deployments"][0]
    assert deployment["destination"] == "google-play-internal"
    assert deployment["jobStatus"] == "succeeded"
    stored = sandbox_http.get(f"{app_path(sandbox)}/deployments/{deployment['id']}").raise_for_status().json()
    assert stored["releaseNotes"] == {"default": "Bug fixes", "de-DE": "Fehlerbehebungen"}
    again = cli("deploy", "--build-id", build["buildId"], "--destination", "google-play-internal", "--json")
    assert again.json["deployments"][0]["noop"] is True


def test_share_link(cli: Any, sandbox: Sandbox) -> None:
    result = cli("build", "--platform", "ios", "--type", "ad-hoc", "--share", "--share-expires-in-days", "7", "--json")
    assert result.code == 0, result.stderr
    share = result.json["share"]
    assert share["url"].startswith(f"{sandbox.base_url}/console/app-build-shares/")
    assert share["qrCodeUrl"].startswith(f"{sandbox.base_url}/v1/qrcodes?content=")
    assert httpx.get(share["qrCodeUrl"]).content.startswith(b"\x89PNG")


@pytest.mark.parametrize(("outcome", "code"), [("failed", 1), ("canceled", 5), ("rejected", 6), ("timed_out", 7)])
def test_terminal_statuses_map_to_exit_codes(cli: Any, outcome: str, code: int) -> None:
    result = cli("build", "--platform", "android", "--var", f"CAPAWESOME_SANDBOX_OUTCOME={outcome}", "--json")
    assert result.code == code, result.stderr
    data = result.json
    assert data["status"] == outcome
    assert data["jobStatus"] == outcome
    assert data["buildId"] and data["jobId"]  # ids are reported even on failure
    assert data["exitCode"] == code
    if outcome == "failed":
        assert data["logTail"]


def test_failure_summary_is_fetched_on_request(cli: Any) -> None:
    result = cli(
        "build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_OUTCOME=failed", "--failure-summary", "--json"
    )
    assert result.code == 1
    assert result.json["failureSummary"]


def test_local_timeout_cancels_the_job(cli: Any, sandbox: Sandbox, sandbox_http: httpx.Client) -> None:
    result = cli(
        "build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_OUTCOME=never", "--timeout", "2s", "--json"
    )
    assert result.code == 124, result.stderr
    job = sandbox_http.get(f"/v1/jobs/{result.json['jobId']}").raise_for_status().json()
    assert job["status"] == "canceled"
    assert result.json["status"] == "timed_out"


def test_local_timeout_without_cancel_leaves_the_job_running(
    cli: Any, sandbox: Sandbox, sandbox_http: httpx.Client
) -> None:
    result = cli(
        "build",
        "--platform",
        "android",
        "--var",
        "CAPAWESOME_SANDBOX_OUTCOME=never",
        "--timeout",
        "1",
        "--no-cancel-on-timeout",
        "--json",
    )
    assert result.code == 124
    assert sandbox_http.get(f"/v1/jobs/{result.json['jobId']}").raise_for_status().json()["status"] == "in_progress"


def test_no_wait_then_wait_by_build_number(cli: Any) -> None:
    started = cli("build", "--platform", "android", "--no-wait", "--json")
    assert started.code == 0
    assert started.json["status"] == "started"
    waited = cli("wait", "--build-number", started.json["buildNumber"], "--json")
    assert waited.code == 0, waited.stderr
    assert waited.json["jobStatus"] == "succeeded"
    by_job = cli("wait", "--job-id", started.json["jobId"], "--json")
    assert by_job.json["jobStatus"] == "succeeded"


def test_dry_run_sends_no_mutation(cli: Any, sandbox: Sandbox) -> None:
    result = cli(
        "--dry-run", "build", "--platform", "web", "--channel", "production", "--var", "SECRET_KEY=hunter2", "--json"
    )
    assert result.code == 0, result.stderr
    assert mutations(sandbox) == []
    planned = result.json["plannedRequests"]
    assert planned[0]["method"] == "POST"
    assert planned[0]["path"] == f"{app_path(sandbox)}/builds"
    assert planned[0]["body"]["platform"] == "web"
    assert planned[0]["body"]["adHocEnvironmentVariables"] == {"SECRET_KEY": "***"}
    assert "hunter2" not in result.output
    assert "would send POST" in result.stderr
    assert result.json["dryRun"] is True


def test_dry_run_deploy_and_rollout_read_but_do_not_write(cli: Any, sandbox: Sandbox) -> None:
    build = cli("build", "--platform", "web", "--channel", "beta", "--json").json
    before = len(sandbox.state.mutations())
    deploy = cli(
        "deploy", "--build-id", build["buildId"], "--channel", "production", "--rollout", "5", "--dry-run", "--json"
    )
    assert deploy.code == 0, deploy.stderr
    assert deploy.json["plannedRequests"][0]["body"]["rolloutPercentage"] == 0.05
    rollout = cli("rollout", "--channel", "beta", "--percentage", "30", "--dry-run", "--json")
    assert rollout.code == 0, rollout.stderr
    assert rollout.json["plannedRequests"][0]["method"] == "PATCH"
    assert len(sandbox.state.mutations()) == before
    missing = cli("deploy", "--build-id", "nope", "--channel", "production", "--dry-run")
    assert missing.code == 4  # a dry run fails the way the real run would


def test_download_errors(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    build = cli("build", "--platform", "android", "--json").json
    wrong_type = cli("download", "--build-id", build["buildId"], "--type", "ipa")
    assert wrong_type.code == 4
    assert "no ipa artifact (available: apk)" in wrong_type.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = cli("download", "--build-id", build["buildId"], "--output-dir", str(blocker / "sub"))
    assert unwritable.code == 8
    assert len(unwritable.stderr.strip().splitlines()) == 1
    missing = cli("download", "--build-number", "999")
    assert missing.code == 4


def test_auth_failure_never_shows_the_token(sandbox: Sandbox, tmp_path: Path) -> None:
    env = cli_env(sandbox, CAPAWESOME_CLOUD_TOKEN="cap_wrong_token_value")
    for extra in ([], ["--debug"], ["--json"]):
        result = run_cli(["build", "--platform", "android", *extra], env=env, cwd=tmp_path)
        assert result.code == 3, result.stderr
        assert "cap_wrong_token_value" not in result.output
        assert "401" in result.stderr


def test_the_token_never_appears_in_any_mode(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    for args in (
        ["build", "--platform", "android", "--debug", "--output-file", str(out)],
        ["build", "--platform", "android", "--json", "--var", "CAPAWESOME_SANDBOX_OUTCOME=failed"],
        ["--dry-run", "--debug", "build", "--platform", "web"],
        ["deploy", "--build-id", "missing", "--channel", "x", "--debug"],
    ):
        result = cli(*args)
        assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in out.read_text()


def test_unreachable_api_is_transient(tmp_path: Path) -> None:
    env = cli_env(
        None, CAPAWESOME_CLOUD_TOKEN="cap_x", CAPAWESOME_CLOUD_BASE_URL="http://127.0.0.1:9", CAPAWESOME_APP_ID="a"
    )
    result = run_cli(["download", "--build-id", "b"], env=env, cwd=tmp_path, timeout=120)
    assert result.code == 75
    assert len(result.stderr.strip().splitlines()) <= 1 + result.stderr.count("warning")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_wait_cancels_the_cloud_job(
    sandbox: Sandbox, tmp_path: Path, sig: int, code: int, sandbox_http: httpx.Client
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capawesome_ci",
            "build",
            "--platform",
            "android",
            "--json",
            "--var",
            "CAPAWESOME_SANDBOX_OUTCOME=never",
        ],
        env=cli_env(sandbox),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(r.method == "GET" and r.path.startswith("/v1/jobs/") for r in sandbox.state.requests):
        assert time.monotonic() < deadline, "the CLI never started polling"
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=20)
    assert time.monotonic() - sent < 2.0
    assert process.returncode == code, stderr
    import json

    data = json.loads(stdout)
    assert data["status"] == "canceled"
    job = sandbox_http.get(f"/v1/jobs/{data['jobId']}").raise_for_status().json()
    assert job["status"] == "canceled"
    assert ("PATCH", f"/v1/jobs/{data['jobId']}") in mutations(sandbox)


def test_embedded_sandbox_flag_runs_the_whole_flow(tmp_path: Path) -> None:
    env = cli_env(None, CAPAWESOME_SANDBOX_RUN_SECONDS="0.5", CAPAWESOME_SANDBOX_QUEUE_SECONDS="0.1")
    result = run_cli(
        [
            "--sandbox",
            "build",
            "--platform",
            "web",
            "--download",
            "zip",
            "--output-dir",
            "out",
            "--channel",
            "production",
            "--rollout",
            "20",
            "--json",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    data = result.json
    assert (tmp_path / data["artifacts"][0]["path"]).is_file()
    assert data["deployments"][0]["rolloutPercentage"] == 20


def test_without_token_outside_ci_the_sandbox_is_used_but_in_ci_it_is_an_error(tmp_path: Path) -> None:
    env = cli_env(None, CAPAWESOME_SANDBOX_RUN_SECONDS="0.3")
    local = run_cli(["build", "--platform", "android", "--json"], env=env, cwd=tmp_path)
    assert local.code == 0, local.stderr
    assert "embedded sandbox" in local.stderr
    in_ci = run_cli(["build", "--platform", "android"], env={**env, "CI": "true"}, cwd=tmp_path)
    assert in_ci.code == 2
    assert (
        in_ci.stderr.strip()
        == "error: missing token: set CAPAWESOME_CLOUD_TOKEN (or pass --token-file), or use --sandbox"
    )


def test_json_mode_prints_exactly_one_document(cli: Any) -> None:
    result = cli("build", "--platform", "android", "--json")
    import json

    json.loads(result.stdout)  # would fail on any extra line
    assert result.stdout.strip().startswith("{") and result.stdout.strip().endswith("}")


def test_version_and_module_entry_point() -> None:
    result = run_cli(["--version"])
    assert result.code == 0
    assert result.stdout.startswith("capawesome-ci ")
