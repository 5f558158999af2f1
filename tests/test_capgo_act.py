"""End to end with act: the root action (`uses: ./`, provider capgo) uploads live updates to the Capgo
emulator, starts a rollout, widens it and promotes it (tests/workflows/capgo.yml)."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.sandbox.capgo.start import CapgoEmulator
from tests.conftest import act_action_tag, build_image, run_workflow

pytestmark = pytest.mark.container
WORKFLOW = "tests/workflows/capgo.yml"


def test_the_action_uploads_rolls_out_and_promotes_on_capgo(docker_client: Any, act: list[str]) -> None:
    build_image(docker_client, act_action_tag("./"))  # act cannot build the image without network
    # The job's containers reach the host's loopback through the host network act is run with.
    with CapgoEmulator() as emulator:
        result = run_workflow(
            act, WORKFLOW, secrets={"CAPGO_TOKEN": emulator.token}, env={"CAPGO_BASE_URL": emulator.base_url}
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert "stable=1.4.2/stable" in log
        assert "canary=1.4.3/rollout@10" in log
        assert "widen=50% bps=5000" in log
        assert "promote=1.4.3/stable" in log
        assert emulator.token not in log
        channel = emulator.state.channel_named(emulator.state.config.app_id, "production")
        assert channel is not None
        assert emulator.state.versions[channel["version"]]["name"] == "1.4.3"
        assert not channel["rollout_enabled"]
