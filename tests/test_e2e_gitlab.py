"""End to end with gitlab-ci-local: the component templates run in the docker executor with our
image against the sandbox, and the build id travels to later jobs through the dotenv report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox
from tests.conftest import IMAGE_TAG, REPO_ROOT, _unavailable, sandbox_client

pytestmark = pytest.mark.container


@pytest.fixture(scope="session")
def gitlab_ci_local(docker_client: Any) -> list[str]:
    exe = os.environ.get("CONTAINER_ENV_GITLAB_CI_LOCAL") or shutil.which("gitlab-ci-local")
    if not exe:
        _unavailable("gitlab-ci-local is not installed")
    helper = os.environ.get("GCL_HELPER_IMAGE", "container-env/ci-runner:bookworm")
    return [exe, "--pull-policy", "if-not-present", "--helper-image", helper]


def read_dotenv(job_artifacts: Path) -> dict[str, str]:
    report = job_artifacts / ".gitlab-ci-reports" / "dotenv" / "capawesome.env"
    return dict(line.split("=", 1) for line in report.read_text().splitlines() if line)


def test_pipeline_build_then_download_and_deploy(
    image: str, gitlab_ci_local: list[str], sandbox: Sandbox, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "templates", project / "templates")
    shutil.copy(REPO_ROOT / "tests" / "gitlab" / ".gitlab-ci.yml", project / ".gitlab-ci.yml")
    # `include: local` resolves tracked files: make the project a git repository.
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "pipeline"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    result = subprocess.run(
        [
            *gitlab_ci_local,
            "--no-artifacts-to-source",
            "--network",
            "host",
            "--variable",
            f"CAPAWESOME_CLOUD_TOKEN={sandbox.token}",
            "--variable",
            f"CAPAWESOME_CLOUD_BASE_URL={sandbox.base_url}",
            "--variable",
            f"CAPAWESOME_APP_ID={sandbox.app_id}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert image == IMAGE_TAG
    artifacts = project / ".gitlab-ci-local" / "artifacts"
    built = read_dotenv(artifacts / "capawesome-build")
    assert built["CAPAWESOME_STATUS"] == "succeeded"
    assert built["CAPAWESOME_BUILD_NUMBER"] == "1"
    downloaded = read_dotenv(artifacts / "capawesome-download")
    assert downloaded["CAPAWESOME_BUILD_ID"] == built["CAPAWESOME_BUILD_ID"]
    assert (artifacts / "capawesome-download" / downloaded["CAPAWESOME_ARTIFACT_PATH"]).is_file()
    deployed = read_dotenv(artifacts / "capawesome-deploy")
    assert deployed["CAPAWESOME_ROLLOUT_PERCENTAGE"] == "40"
    assert deployed["CAPAWESOME_CHANNEL"] == "production"
    summary = (artifacts / "capawesome-build" / "capawesome-summary.md").read_text()
    assert "### capawesome-ci build: succeeded" in summary
    assert not (artifacts / "capawesome-build" / "templates").exists()  # artifacts are only our files
    result_json = json.loads((artifacts / "capawesome-deploy" / "capawesome-result.json").read_text())
    assert result_json["deployments"][0]["rolloutPercentage"] == 40
    assert "artifacts/web.zip: OK" in log  # the check job verified the file against the dotenv sha256
    assert "capawesome_logs_1_started" in log  # a collapsible section, as gitlab-ci-local renders it
    assert sandbox.token not in log
    with sandbox_client(sandbox) as http:
        deployments = http.get(f"/v1/apps/{sandbox.app_id}/deployments").json()
    assert [d["rolloutPercentage"] for d in deployments] == [0.4]


def test_capgo_pipeline_uploads_then_rolls_out(image: str, gitlab_ci_local: list[str], tmp_path: Path) -> None:
    from capawesome_ci.sandbox.capgo.start import CapgoEmulator

    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "templates", project / "templates")
    shutil.copy(REPO_ROOT / "tests" / "gitlab" / "capgo" / ".gitlab-ci.yml", project / ".gitlab-ci.yml")
    for folder, title in (("dist", "1.4.2"), ("next", "1.4.3")):
        (project / "web" / folder).mkdir(parents=True)
        (project / "web" / folder / "index.html").write_text(f"<!doctype html><title>app {title}</title>\n")
    (project / "web" / "package.json").write_text('{"name": "app", "version": "1.4.2"}\n')
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "pipeline"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    with CapgoEmulator() as emulator:
        variables = {
            "CAPAWESOME_CI_PROVIDER": "capgo",
            "CAPGO_TOKEN": emulator.token,
            "CAPGO_BASE_URL": emulator.base_url,
            "CAPGO_APP_ID": emulator.config.app_id,
        }
        result = subprocess.run(
            [
                *gitlab_ci_local,
                "--no-artifacts-to-source",
                "--network",
                "host",
                *(part for name, value in variables.items() for part in ("--variable", f"{name}={value}")),
            ],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert image == IMAGE_TAG
        artifacts = project / ".gitlab-ci-local" / "artifacts"
        stable = read_dotenv(artifacts / "capgo-stable")
        assert (stable["CAPAWESOME_BUNDLE"], stable["CAPAWESOME_BUNDLE_ROLE"]) == ("1.4.2", "stable")
        widened = read_dotenv(artifacts / "capgo-widen")
        assert widened["CAPAWESOME_ROLLOUT_PERCENTAGE"] == "50"
        assert "widened=1.4.3/rollout@50 bps=5000" in log
        summary = (artifacts / "capgo-canary" / "capawesome-summary.md").read_text()
        assert "rollout 1.4.3" in summary
        assert emulator.token not in log
        channel = emulator.state.channel_named(emulator.config.app_id, "production")
        assert channel is not None and channel["rollout_percentage_bps"] == 5000
