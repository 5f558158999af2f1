"""End to end with act: the root action (`uses: ./`, provider capwrapper) builds on the Capwrapper
emulator with a download, then downloads the newest build of the bundle id again."""

from __future__ import annotations

from typing import Any

import pytest

from capawesome_ci.sandbox.capwrapper.start import CapwrapperEmulator
from capawesome_ci.sandbox.capwrapper.state import CapwrapperConfig
from tests.conftest import act_action_tag, build_image, run_workflow

pytestmark = pytest.mark.container
WORKFLOW = "tests/workflows/capwrapper.yml"


def test_the_action_builds_and_downloads_on_capwrapper(docker_client: Any, act: list[str]) -> None:
    build_image(docker_client, act_action_tag("./"))  # act cannot build the image without network
    # The job's containers reach the host's loopback through the host network act is run with.
    with CapwrapperEmulator(
        CapwrapperConfig(queue_seconds=0.2, build_seconds=1.0, artifact_size=64 * 1024)
    ) as emulator:
        result = run_workflow(
            act,
            WORKFLOW,
            secrets={"CAPWRAPPER_API_KEY": emulator.token},
            env={"CAPWRAPPER_BASE_URL": emulator.api_url},
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert "job-status=succeeded" in log
        assert "OK" in log and "same binary: Example-1.4.2.apk" in log
        assert emulator.token not in log
        downloads = [r for r in emulator.state.requests if r.path.startswith("/files/")]
        assert downloads, "the binary came from the download origin"
        assert len(emulator.state.builds) == 1
