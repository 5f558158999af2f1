"""End to end with act: the root action (`uses: ./`, provider peak) deploys a release on the Peak
emulator, then a second step waits for the deployment by the id the first one output."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.sandbox.peak.start import PeakEmulator
from capawesome_ci.sandbox.peak.state import DEMO_SPEC_ID, PeakConfig
from tests.conftest import act_action_tag, build_image, run_workflow

pytestmark = pytest.mark.container
WORKFLOW = "tests/workflows/peak.yml"


def test_the_action_deploys_and_waits_on_peak(docker_client: Any, act: list[str]) -> None:
    build_image(docker_client, act_action_tag("./"))  # act cannot build the image without network
    # The job's containers reach the host's loopback through the host network act is run with.
    with PeakEmulator(PeakConfig(deploy_seconds=2.0)) as emulator:
        result = run_workflow(
            act,
            WORKFLOW,
            secrets={"PEAK_AUTH_TOKEN": emulator.token},
            env={"PEAK_PRESS_BASE_URL": emulator.base_url, "PEAK_SPEC_ID": DEMO_SPEC_ID},
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert "deployed=started waited=succeeded" in log
        assert "revision=1 release=1.4.2 raw=deployed" in log
        assert "| release 1.4.2, revision 1 |" in log  # the wait step's job summary
        assert emulator.token not in log
        assert [f"{r.method} {r.path}" for r in emulator.state.mutations()] == ["POST /v1/apps/deployments/"]
        (deployment,) = emulator.state.deployments.values()
        assert deployment.latest.parameters == {"forecast-api": {"run": {"region": "eu"}}}
