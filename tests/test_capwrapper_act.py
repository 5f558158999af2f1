"""End to end with act: the root action (`uses: ./`, provider capwrapper) builds on the Capwrapper
emulator with a download, then downloads the newest build of the bundle id again."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from capawesome_ci.sandbox.capwrapper.start import CapwrapperEmulator
from capawesome_ci.sandbox.capwrapper.state import CapwrapperConfig
from tests.conftest import REPO_ROOT, act_action_tag, build_image

pytestmark = pytest.mark.container
WORKFLOW = "tests/workflows/capwrapper.yml"


def test_the_action_builds_and_downloads_on_capwrapper(docker_client: Any, act: list[str]) -> None:
    build_image(docker_client, act_action_tag("./"))  # act cannot build the image without network
    # The job's containers reach the host's loopback through the host network act is run with.
    with CapwrapperEmulator(
        CapwrapperConfig(queue_seconds=0.2, build_seconds=1.0, artifact_size=64 * 1024)
    ) as emulator:
        result = subprocess.run(
            [
                *act,
                "--rebuild=false",
                "push",
                "-W",
                WORKFLOW,
                "-s",
                f"CAPWRAPPER_API_KEY={emulator.token}",
                "--env",
                f"CAPWRAPPER_BASE_URL={emulator.api_url}",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert "job-status=succeeded" in log
        assert "OK" in log and "same binary: Example-1.4.2.apk" in log
        assert emulator.token not in log
        downloads = [r for r in emulator.state.requests if r.path.startswith("/files/")]
        assert downloads, "the binary came from the download origin"
        assert len(emulator.state.builds) == 1
