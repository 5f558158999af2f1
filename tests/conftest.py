"""Shared fixtures: a sandbox on loopback and a way to run the real CLI against it, an authorised
HTTP client for the sandbox, a web build to bundle, and one RSA key per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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


def sandbox_client(sandbox: Sandbox, authorized: bool = True, **kwargs: Any) -> httpx.Client:
    """An httpx client on the sandbox's base URL, with its bearer token unless `authorized=False`;
    `kwargs` go to httpx.Client (e.g. `timeout=60`). Close it (use it in a `with`)."""
    headers = {"Authorization": f"Bearer {sandbox.token}"} if authorized else {}
    # Plain HTTP on loopback: verify=False skips loading the CA bundle (~40 ms per client).
    return httpx.Client(base_url=sandbox.base_url, headers=headers, verify=False, **kwargs)


@pytest.fixture
def sandbox_http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An authorised client for the `sandbox` fixture."""
    with sandbox_client(sandbox) as client:
        yield client


# -- a web build for live-update ---------------------------------------------------------------------
SITE_FILES: dict[str, bytes | str] = {
    "index.html": "<!doctype html><script src=assets/app.js></script>",
    "assets/app.js": "console.log('app');\n" * 100,
}


def make_site(root: Path, files: Mapping[str, bytes | str] | None = None, big: int = 0) -> Path:
    """A web build in `root` (created if missing): `files` (relative path → text or bytes) and, with `big`,
    a `big.bin` of that many random bytes. The default, SITE_FILES, is index.html + assets/app.js (tests
    may rely on those two names); a test that checks contents, sizes or entries passes its own `files`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (SITE_FILES if files is None else files).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    if big:
        (root / "big.bin").write_bytes(os.urandom(big))
    return root


# -- RSA keys (2048-bit generation takes a while: once per session) ---------------------------------
@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    """A second, unrelated key: what it signs must not verify with `rsa_key`."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey, *, private: bool = True, passphrase: bytes | None = None) -> str:
    """The key as PEM: PKCS#8 for the private key (encrypted with `passphrase` if given), else the
    SubjectPublicKeyInfo of its public key."""
    if not private:
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public.decode()
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase is not None else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


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


def run_workflow(
    act: list[str],
    workflow: str,
    *,
    secrets: dict[str, str],
    env: dict[str, str],
    options: tuple[str, ...] = ("--rebuild=false",),
) -> subprocess.CompletedProcess[str]:
    """A workflow of tests/workflows/ run by act on a push, with these secrets and variables."""
    argv = [*act, *options, "push", "-W", workflow]
    for name, value in secrets.items():
        argv += ["-s", f"{name}={value}"]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
