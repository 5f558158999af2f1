"""The image as a Bitbucket pipe: run with no arguments, variables in, result files in the clone dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox

pytestmark = pytest.mark.container
CLONE_DIR = "/opt/atlassian/pipelines/agent/build"


def run_pipe(docker_client: Any, image: str, clone: Path, variables: dict[str, str]) -> tuple[int, str]:
    container = docker_client.containers.run(
        image,
        environment={"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_CLONE_DIR": CLONE_DIR, "CI": "true", **variables},
        working_dir=CLONE_DIR,
        volumes={str(clone): {"bind": CLONE_DIR, "mode": "rw"}},
        network_mode="host",
        detach=True,
    )
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


def test_pipe_variables_lists_and_result_files(
    docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    connection = {"CAPAWESOME_CLOUD_TOKEN": sandbox.token, "APP_ID": sandbox.app_id, "BASE_URL": sandbox.base_url}
    code, logs = run_pipe(
        docker_client,
        image,
        tmp_path,
        {
            **connection,
            "COMMAND": "build",
            "PLATFORM": "web",
            "CHANNELS_COUNT": "2",
            "CHANNELS_0": "production",
            "CHANNELS_1": "beta",
            "ROLLOUT": "30",
        },
    )
    assert code == 0, logs
    dotenv = dict(line.split("=", 1) for line in (tmp_path / "capawesome.env").read_text().splitlines())
    assert dotenv["CAPAWESOME_STATUS"] == "succeeded"
    assert dotenv["CAPAWESOME_CHANNEL"] == "production,beta"
    assert dotenv["CAPAWESOME_ROLLOUT_PERCENTAGE"] == "30"
    result = json.loads((tmp_path / "capawesome-result.json").read_text())
    assert [d["channel"] for d in result["deployments"]] == ["production", "beta"]
    assert sandbox.token not in logs

    # A later step `source`s the dotenv: the next pipe picks the build up from CAPAWESOME_BUILD_ID.
    code, logs = run_pipe(
        docker_client,
        image,
        tmp_path,
        {
            **connection,
            "COMMAND": "download",
            "CAPAWESOME_BUILD_ID": dotenv["CAPAWESOME_BUILD_ID"],
            "OUTPUT_DIR": "out",
        },
    )
    assert code == 0, logs
    assert (tmp_path / "out" / "web.zip").is_file()


def test_pipe_bad_variable_is_one_line(docker_client: Any, image: str, sandbox: Sandbox, tmp_path: Path) -> None:
    code, logs = run_pipe(
        docker_client,
        image,
        tmp_path,
        {"CAPAWESOME_CLOUD_TOKEN": sandbox.token, "COMMAND": "rollout", "CHANNEL": "beta", "PERCENTAGE": "lots"},
    )
    assert code == 2
    assert "error: invalid variable PERCENTAGE" in logs
    missing = run_pipe(docker_client, image, tmp_path, {"COMMAND": "launch"})
    assert missing[0] == 2 and "invalid variable COMMAND" in missing[1]


def test_pipe_uploads_live_updates_to_capgo(docker_client: Any, image: str, tmp_path: Path) -> None:
    """PROVIDER: capgo with Capgo's own variables: a stable bundle, then a 10 % rollout of the next."""
    from capawesome_ci.sandbox.capgo.start import CapgoEmulator

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("<!doctype html><title>1.4.2</title>\n")
    with CapgoEmulator() as emulator:
        connection = {"PROVIDER": "capgo", "CAPGO_TOKEN": emulator.token, "BASE_URL": emulator.base_url}
        connection["APP_ID"] = emulator.config.app_id
        upload = {**connection, "COMMAND": "live-update", "BUNDLE_PATH": "www", "CHANNEL": "production"}
        code, logs = run_pipe(docker_client, image, tmp_path, {**upload, "BUNDLE": "1.4.2"})
        assert code == 0, logs
        (tmp_path / "www" / "index.html").write_text("<!doctype html><title>1.4.3</title>\n")
        code, logs = run_pipe(docker_client, image, tmp_path, {**upload, "BUNDLE": "1.4.3", "ROLLOUT": "10"})
        assert code == 0, logs
        assert emulator.token not in logs
        channel = emulator.state.channel_named(emulator.config.app_id, "production")
    dotenv = dict(line.split("=", 1) for line in (tmp_path / "capawesome.env").read_text().splitlines())
    assert (dotenv["CAPAWESOME_BUNDLE"], dotenv["CAPAWESOME_BUNDLE_ROLE"]) == ("1.4.3", "rollout")
    assert (dotenv["CAPAWESOME_ROLLOUT_PERCENTAGE"], dotenv["CAPAWESOME_ROLLOUT_BPS"]) == ("10", "1000")
    assert channel is not None and channel["rollout_percentage_bps"] == 1000
