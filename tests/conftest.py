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


# -- containers (see ../shared/tools/README.md) ----------------------------------------------------
CONTAINER_HINT = 'run `../shared/tools/container-env up` and `eval "$(../shared/tools/container-env env)"`'
IMAGE_TAG = "capawesome-ci:test"


def _unavailable(reason: str) -> None:
    """Skip, or fail when REQUIRE_CONTAINER_TESTS=1 (CI), with a message that says what to do."""
    if os.environ.get("REQUIRE_CONTAINER_TESTS") == "1":
        pytest.fail(f"{reason}; {CONTAINER_HINT}", pytrace=False)
    pytest.skip(f"{reason}; {CONTAINER_HINT}")


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        _unavailable("the docker SDK is not installed")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as error:
        _unavailable(f"no container engine ({type(error).__name__})")
    return client


def build_image(docker_client: Any, *tags: str) -> str:
    """Build the real Dockerfile with the host network (pip reaches the registry), tag it as asked."""
    import fcntl

    # xdist workers share the engine: build once at a time; the layer cache makes the rest instant.
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / "capawesome-ci-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        image, _ = docker_client.images.build(path=str(REPO_ROOT), tag=tags[0], network_mode="host", rm=True)
        for tag in tags[1:]:
            image.tag(tag)
    return tags[0]


@pytest.fixture(scope="session")
def image(docker_client: Any) -> str:
    return build_image(docker_client, IMAGE_TAG)


@pytest.fixture(scope="session")
def act(docker_client: Any) -> list[str]:
    import shlex
    import shutil

    exe = os.environ.get("CONTAINER_ENV_ACT") or shutil.which("act")
    if not exe:
        _unavailable("act is not installed")
    return [exe, *shlex.split(os.environ.get("CONTAINER_ENV_ACT_ARGS", ""))]


def act_action_tag(uses: str) -> str:
    """The tag act gives the image of a local Docker action (`./actions/build` → act-actions-build-dockeraction)."""
    import re

    name = re.sub(r"[^a-zA-Z0-9]", "-", uses) + "-dockeraction"
    return ("act-" + name.lstrip("-")).lower() + ":latest"


# -- the hostile server (tests/hostile.py) ---------------------------------------------------------
@pytest.fixture
def hostile() -> Iterator[Any]:
    from tests.hostile import HostileServer

    with HostileServer() as server:
        yield server


@pytest.fixture
def hostile_cli(hostile: Any, tmp_path: Path) -> Any:
    """Run the real CLI against the hostile server, in tmp_path, with `env` added to its environment."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        return run_cli(args, env=hostile.env(**(env or {})), cwd=tmp_path, timeout=timeout)

    return run
