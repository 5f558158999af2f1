"""Shared fixtures: a sandbox on loopback and a way to run the real CLI against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox, SandboxConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
# Values no output may ever contain (the secret-hygiene tests look for them everywhere).
CANARY_TOKEN = "cap_canary_7d1e0f3a9b8c4d2e"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(
        token=CANARY_TOKEN, queue_seconds=0.1, run_seconds=0.6, log_lines=12, artifact_size=256 * 1024
    )
    with Sandbox(config) as running:
        yield running


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(sandbox: Sandbox | None, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAPAWESOME_", "GITHUB_", "GITLAB_", "CI"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    if sandbox is not None:
        env.update(
            CAPAWESOME_CLOUD_TOKEN=sandbox.token,
            CAPAWESOME_CLOUD_BASE_URL=sandbox.base_url,
            CAPAWESOME_APP_ID=sandbox.app_id,
        )
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str],
    sandbox: Sandbox | None = None,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "capawesome_ci", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else cli_env(sandbox),
        cwd=cwd,
        timeout=timeout,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Any:
    def run(*args: str, **kwargs: Any) -> CliResult:
        kwargs.setdefault("cwd", tmp_path)
        return run_cli(args, sandbox, **kwargs)

    return run
