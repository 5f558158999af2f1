"""End to end with act: a real workflow uses ./actions/build, ./actions/download and ./actions/deploy in
sequence against the sandbox, passing outputs between steps."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox
from tests.conftest import act_action_tag, build_image, run_workflow, sandbox_client

pytestmark = pytest.mark.container
WORKFLOW = "tests/workflows/e2e.yml"


def test_workflow_build_download_deploy(docker_client: Any, act: list[str], sandbox: Sandbox) -> None:
    # act would build the action images without network; build them ourselves under act's names.
    build_image(docker_client, *(act_action_tag(f"./actions/{step}") for step in ("build", "download", "deploy")))
    result = run_workflow(
        act,
        WORKFLOW,
        secrets={"CAPAWESOME_CLOUD_TOKEN": sandbox.token},
        env={"CAPAWESOME_CLOUD_BASE_URL": sandbox.base_url, "CAPAWESOME_APP_ID": sandbox.app_id},
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "build-number=1 job-status=succeeded" in log
    assert "artifacts/web.zip: OK" in log
    assert "rollout=30" in log
    assert "Job succeeded" in log
    # act shows each step's $GITHUB_STEP_SUMMARY: the job summary of every action.
    assert "Summary - ### capawesome-ci build: succeeded" in log
    assert "| artifacts/web.zip | zip | 256.0 KiB |" in log
    assert "| channel production | 30 % | created |" in log
    assert sandbox.token not in log  # masked by ::add-mask:: and by act's secret masking
    # The deployment really happened, at 30 %, once.
    with sandbox_client(sandbox) as http:
        deployments = http.get(f"/v1/apps/{sandbox.app_id}/deployments").json()
    assert [d["rolloutPercentage"] for d in deployments] == [0.3]
