"""capawesome-ci --provider capgo live-update, deploy and rollout end to end through the CLI, against
the Capgo emulator over loopback HTTP: the hosted upload, names never reused, the rollout rules, noops,
the rollout pause, and an encrypted upload whose key never shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from capawesome_ci.sandbox.capgo.start import CapgoEmulator
from capawesome_ci.sandbox.capgo.state import CapgoConfig
from tests.conftest import CliResult, cli_env, run_cli

APP = "com.example.app"


class Project:
    def __init__(self, root: Path, emulator: CapgoEmulator) -> None:
        self.root = root
        self.emulator = emulator

    def version(self, version: str, marker: str = "") -> None:
        (self.root / "package.json").write_text(json.dumps({"name": "demo", "version": version}))
        (self.root / "dist").mkdir(exist_ok=True)
        (self.root / "dist" / "index.html").write_text(f"<html>{marker or version}</html>")

    def run(self, *args: str, **env: str) -> CliResult:
        environ = cli_env(
            None,
            CAPGO_BASE_URL=self.emulator.base_url,
            CAPGO_TOKEN=self.emulator.token,
            CAPGO_APP_ID=APP,
            **env,
        )
        environ.pop("CAPGO_FILES_URL", None)
        return run_cli(["--provider", "capgo", "--json", *args], env=environ, cwd=self.root, timeout=120)

    def channel(self, name: str) -> dict[str, Any]:
        with self.emulator.state.lock:
            channel = self.emulator.state.channel_named(APP, name)
            assert channel is not None
            return dict(channel)

    def bundle_id(self, name: str) -> Any:
        with self.emulator.state.lock:
            row = self.emulator.state.version_named(APP, name)
            assert row is not None
            return row["id"]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with CapgoEmulator(CapgoConfig(app_id=APP)) as emulator:
        yield Project(tmp_path, emulator)


def _result(run: CliResult) -> dict[str, Any]:
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def test_live_update_then_rollout_promote_and_deploy_back(project: Project) -> None:
    project.version("1.0.0")
    first = project.run("live-update", "--path", "dist", "--channel", "production", "--create-channel")
    assert first.code == 0, first.stderr
    assert project.channel("production")["version"] == project.bundle_id("1.0.0")
    deployment = _result(first)["deployments"][0]
    assert (deployment["bundle"], deployment["bundleRole"], deployment["rolloutPercentageBps"]) == (
        "1.0.0",
        "stable",
        10000,
    )

    # The same name again: exit 2 naming the conflict, before any upload; a dry run says so too.
    for extra in ([], ["--dry-run"]):
        again = project.run("live-update", "--path", "dist", "--channel", "production", *extra)
        assert again.code == 2 and "1.0.0 already exists" in again.stderr

    project.version("1.1.0")
    rolled = project.run("live-update", "--path", "dist", "--channel", "production", "--rollout", "10")
    assert rolled.code == 0, rolled.stderr
    channel = project.channel("production")
    assert channel["rollout_version"] == project.bundle_id("1.1.0") and channel["rollout_percentage_bps"] == 1000

    assert project.run("rollout", "--channel", "production", "--percentage", "50").code == 0
    assert project.channel("production")["rollout_percentage_bps"] == 5000
    same = project.run("rollout", "--channel", "production", "--percentage", "50%")
    assert same.code == 0 and _result(same)["noop"] is True

    assert project.run("rollout", "--channel", "production", "--pause").code == 0
    assert project.channel("production")["rollout_paused_at"] is not None
    assert project.run("rollout", "--channel", "production", "--resume").code == 0
    assert project.channel("production")["rollout_paused_at"] is None

    promoted = project.run("rollout", "--channel", "production", "--promote")
    assert promoted.code == 0, promoted.stderr
    assert project.channel("production")["version"] == project.bundle_id("1.1.0")

    back = project.run("deploy", "--bundle", "1.0.0", "--channel", "production")
    assert back.code == 0, back.stderr
    assert project.channel("production")["version"] == project.bundle_id("1.0.0")
    noop = project.run("deploy", "--bundle", "1.0.0", "--channel", "production")
    assert noop.code == 0 and _result(noop)["noop"] is True


def test_the_rollout_rules_refuse_before_any_change(project: Project) -> None:
    project.version("1.0.0")
    # A new channel has no stable bundle: a rollout on it is refused before the upload.
    refused = project.run("live-update", "--path", "dist", "--channel", "beta", "--create-channel", "--rollout", "10")
    assert refused.code == 2 and "100 % first" in refused.stderr
    with project.emulator.state.lock:
        assert project.emulator.state.version_named(APP, "1.0.0") is None
    assert project.run("live-update", "--path", "dist", "--channel", "beta", "--create-channel").code == 0
    paused = project.run("rollout", "--channel", "beta", "--pause")
    assert paused.code == 2 and "no whole-channel pause" in paused.stderr
    missing = project.run("deploy", "--bundle", "1.0.0", "--channel", "nope")
    assert missing.code == 4, missing.stderr


def test_a_dry_run_changes_nothing(project: Project) -> None:
    project.version("1.0.0")
    planned = project.run("live-update", "--path", "dist", "--channel", "production", "--create-channel", "--dry-run")
    assert planned.code == 0, planned.stderr
    assert _result(planned)["plannedRequests"]
    with project.emulator.state.lock:
        assert project.emulator.state.version_named(APP, "1.0.0") is None


def test_a_deleted_bundles_name_is_refused_by_a_dry_run_as_by_the_run(project: Project) -> None:
    """The public bundle list hides deleted bundles, whose names Capgo never frees: a dry run must
    ask Capgo's own existence check, as the upload does, or it promises an upload that will fail."""
    project.version("1.0.0")
    assert project.run("live-update", "--path", "dist").code == 0
    with project.emulator.state.lock:
        row = project.emulator.state.version_named(APP, "1.0.0")
        assert row is not None
        row["deleted"] = True
    for extra in (["--dry-run"], []):
        again = project.run("live-update", "--path", "dist", *extra)
        assert again.code == 2 and "1.0.0 already exists" in again.stderr, (extra, again.stderr)


def test_an_encrypted_upload_registers_its_session_key_and_never_shows_the_key(project: Project) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()
    project.version("3.0.0")
    run = project.run("live-update", "--path", "dist", CAPGO_KEY_DATA_V2=pem)
    assert run.code == 0, run.stderr
    with project.emulator.state.lock:
        row = project.emulator.state.version_named(APP, "3.0.0")
    assert row is not None and row["session_key"] and str(row["key_id"]).startswith("MIIBCgKCAQEA")
    for line in pem.splitlines()[1:-1]:
        assert line not in run.stdout + run.stderr


def test_the_embedded_sandbox_runs_a_live_update(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"version": "0.1.0"}))
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<html></html>")
    run = run_cli(
        [
            "--sandbox",
            "--provider",
            "capgo",
            "live-update",
            "--path",
            "dist",
            "--channel",
            "production",
            "--create-channel",
        ],
        env=cli_env(None),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.code == 0, run.stderr
    assert "channel production: stable 0.1.0" in run.stdout
