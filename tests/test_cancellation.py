"""SIGINT/SIGTERM during wait, download and live-update upload: the cloud job is cancelled (when one
runs), temporary files are removed, outputs say `canceled`, and the exit is 130/143 within 2 s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox, parse_fault
from tests import reliability
from tests.conftest import cli_env, make_site, run_cli


def start(args: list[str], sandbox: Sandbox, cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", "--json", *args],
        env=cli_env(sandbox, **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert process.poll() is None, f"exited early: {process.communicate()}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


def interrupt(process: subprocess.Popen[str], sig: int) -> tuple[int, dict[str, Any], float]:
    sent = time.monotonic()
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=20)
    took = time.monotonic() - sent
    assert "Traceback" not in stderr, stderr
    return process.returncode, json.loads(stdout), took


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_download_removes_its_temporary_file(sandbox: Sandbox, tmp_path: Path, sig: int, code: int) -> None:
    built = run_cli(
        ["build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_ARTIFACT_SIZE=400000000", "--json"],
        sandbox,
        cwd=tmp_path,
    ).json
    sandbox.faults.add(parse_fault("GET */download latency=0.5 times=0"))  # time to interrupt it mid-way
    process = start(["download", "--build-id", built["buildId"], "--output-dir", "out"], sandbox, tmp_path)
    wait_for(
        lambda: (
            any(p.suffix == ".part" for p in (tmp_path / "out").glob(".*")) if (tmp_path / "out").exists() else False
        ),
        process,
        "started writing",
    )
    returncode, result, took = interrupt(process, sig)
    reliability.count("fault scenarios run")
    assert returncode == code
    assert took < 2.0
    assert result["status"] == "canceled"
    assert list((tmp_path / "out").iterdir()) == []
    reliability.count("fault scenarios survived")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_upload_removes_its_temporary_folder(sandbox: Sandbox, tmp_path: Path, sig: int, code: int) -> None:
    make_site(tmp_path / "www", big=60 * 1024 * 1024)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    sandbox.faults.add(parse_fault("PUT */upload latency=0.3 times=0"))
    process = start(["live-update", "--path", "www"], sandbox, tmp_path, TMPDIR=str(scratch))
    wait_for(lambda: any("mpu-uploadpart" in r.query for r in sandbox.state.requests), process, "started uploading")
    returncode, result, took = interrupt(process, sig)
    reliability.count("fault scenarios run")
    assert returncode == code
    assert took < 2.0
    assert result["status"] == "canceled"
    assert list(scratch.iterdir()) == []  # the zip and its folder are gone
    reliability.count("fault scenarios survived")


def test_interrupted_wait_cancels_the_job_within_two_seconds(sandbox: Sandbox, tmp_path: Path) -> None:
    started = run_cli(
        ["build", "--platform", "ios", "--no-wait", "--var", "CAPAWESOME_SANDBOX_OUTCOME=never", "--json"],
        sandbox,
        cwd=tmp_path,
    ).json
    process = start(["wait", "--job-id", started["jobId"]], sandbox, tmp_path)
    wait_for(lambda: sum(r.path.endswith("/logs") for r in sandbox.state.requests) >= 1, process, "polled")
    returncode, result, took = interrupt(process, signal.SIGTERM)
    reliability.count("fault scenarios run")
    assert (returncode, result["status"], result["jobStatus"]) == (143, "canceled", "canceled")
    assert took < 2.0
    reliability.count("fault scenarios survived")
