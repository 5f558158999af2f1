"""The real Dockerfile, built with the Docker engine, run the way the GitHub runner runs a container
action (workspace and file-command mounts, INPUT_* variables, root user) against the sandbox."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox
from capawesome_ci.sandbox.artifacts import artifact_sha256
from tests.conftest import sandbox_client
from tests.test_github import parse_outputs

RUNNER_UID = 1001  # the runner user on GitHub-hosted runners: later steps run as it

pytestmark = pytest.mark.container


@dataclass
class ActionRun:
    code: int
    logs: str
    outputs: dict[str, str]
    summary: str
    workspace: Path


def start_action(
    docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path, step: str, inputs: dict[str, str]
) -> Any:
    workspace, commands = tmp_path / "workspace", tmp_path / "file_commands"
    for folder in (workspace, commands):
        folder.mkdir(parents=True, exist_ok=True)
    os.chown(workspace, RUNNER_UID, RUNNER_UID)
    for name in ("output", "summary"):
        (commands / name).touch()
    environment = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "HOME": "/github/home",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary",
        "INPUT_TOKEN": sandbox.token,
        "INPUT_APP-ID": sandbox.app_id,  # GitHub keeps the hyphen
        "INPUT_BASE-URL": sandbox.base_url,
        **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
    }
    return docker_client.containers.run(
        image,
        ["action", step],
        environment=environment,
        working_dir="/github/workspace",
        volumes={
            str(workspace): {"bind": "/github/workspace", "mode": "rw"},
            str(commands): {"bind": "/github/file_commands", "mode": "rw"},
        },
        network_mode="host",  # the sandbox listens on the host's loopback
        detach=True,
    )


def finish(container: Any, tmp_path: Path, timeout: float = 120) -> ActionRun:
    try:
        code = container.wait(timeout=timeout)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    commands = tmp_path / "file_commands"
    return ActionRun(
        code,
        logs,
        parse_outputs((commands / "output").read_text()),
        (commands / "summary").read_text(),
        tmp_path / "workspace",
    )


def run_action(docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path, step: str, **inputs: str) -> ActionRun:
    return finish(start_action(docker_client, image, sandbox, tmp_path, step, inputs), tmp_path)


def test_build_action_outputs_summary_and_files(
    docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_action(
        docker_client,
        image,
        sandbox,
        tmp_path,
        "build",
        **{"platform": "android", "type": "release", "download": "aab\napk", "output-dir": "out/android"},
    )
    assert run.code == 0, run.logs
    out = run.outputs
    assert out["status"] == "succeeded" and out["job-status"] == "succeeded"
    assert out["build-number"] == "1" and out["build-id"]
    assert out["build-url"].endswith(f"/builds/{out['build-id']}")
    paths = out["artifact-paths"].splitlines()
    assert paths == ["out/android/app-release.aab", "out/android/app-release.apk"]
    for path, digest in zip(paths, out["artifact-sha256"].splitlines(), strict=True):
        file = run.workspace / path
        assert file.stat().st_uid == RUNNER_UID  # later steps (as the runner user) can delete it
        assert (run.workspace / "out").stat().st_uid == RUNNER_UID
        assert len(digest) == 64
    artifact_ids = [a["id"] for a in __import__("json").loads(out["result"])["artifacts"]]
    assert out["artifact-sha256"].splitlines()[0] == artifact_sha256(
        f"{sandbox.config.seed}:{artifact_ids[0]}", 256 * 1024
    )
    assert "| **Build** | \\#1 |" in run.summary  # server text is escaped, so "#1" links no issue
    assert "app-release.aab" in run.summary
    assert "::group::Capawesome build #1 logs" in run.logs
    assert "::stop-commands::" in run.logs
    assert f"::add-mask::{sandbox.token}" in run.logs
    assert sandbox.token not in run.logs.replace(f"::add-mask::{sandbox.token}", "")
    assert sandbox.token not in run.summary and sandbox.token not in (tmp_path / "file_commands" / "output").read_text()


def test_deploy_and_rollout_actions(docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path) -> None:
    built = run_action(docker_client, image, sandbox, tmp_path / "1", "build", platform="web")
    assert built.code == 0, built.logs
    deployed = run_action(
        docker_client,
        image,
        sandbox,
        tmp_path / "2",
        "deploy",
        **{"build-id": built.outputs["build-id"], "channel": "production", "rollout": "20%"},
    )
    assert deployed.code == 0, deployed.logs
    assert deployed.outputs["rollout-percentage"] == "20"
    assert deployed.outputs["channel"] == "production"
    assert "channel production" in deployed.summary
    rolled = run_action(docker_client, image, sandbox, tmp_path / "3", "rollout", channel="production", percentage="60")
    assert rolled.code == 0, rolled.logs
    assert rolled.outputs["rollout-percentage"] == "60"


def test_failed_build_reports_outputs_annotation_and_log_tail(
    docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_action(
        docker_client, image, sandbox, tmp_path, "build", platform="android", var="CAPAWESOME_SANDBOX_OUTCOME=failed"
    )
    assert run.code == 1
    assert run.outputs["status"] == "failed" and run.outputs["build-id"]
    assert "::error title=capawesome-ci::job" in run.logs
    assert "<details><summary>Last" in run.summary


def test_missing_required_input_is_one_annotation(
    docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_action(docker_client, image, sandbox, tmp_path, "rollout", channel="production")
    assert run.code == 2
    assert "::error title=capawesome-ci::missing input percentage" in run.logs
    assert "Traceback" not in run.logs


def test_sigterm_cancels_the_cloud_job(docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path) -> None:
    container = start_action(
        docker_client, image, sandbox, tmp_path, "build", {"platform": "ios", "var": "CAPAWESOME_SANDBOX_OUTCOME=never"}
    )
    deadline = time.monotonic() + 60
    while not any(r.method == "GET" and r.path.startswith("/v1/jobs/") for r in sandbox.state.requests):
        assert time.monotonic() < deadline, container.logs().decode()
        time.sleep(0.1)
    sent = time.monotonic()
    container.kill(signal="SIGTERM")  # as PID 1: only our own handler makes this stop the process
    run = finish(container, tmp_path, timeout=30)
    assert time.monotonic() - sent < 7.5  # inside the runner's grace period
    assert run.code == 143, run.logs
    assert run.outputs["status"] == "canceled"
    with sandbox_client(sandbox) as http:
        job = http.get(f"/v1/jobs/{run.outputs['job-id']}").json()
    assert job["status"] == "canceled"
