"""Capgo's own CLI, pinned (`@capgo/cli@8.68.1`), against the Capgo emulator: the proof that the
emulator answers what the real client sends. It is pointed at the emulator by a capacitor.config.json
(plugins.CapacitorUpdater.local*), with its home in a temporary folder. The cross tests: what it
uploads our `deploy --provider capgo` can deploy, and what our `live-update --provider capgo` uploads
it lists. `.ci/run` installs it into .ci/.tools; elsewhere set $CAPGO_CLI, or the tests skip (they
fail with REQUIRE_CONTAINER_TESTS=1)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from capawesome_ci.sandbox.capgo.start import CapgoEmulator
from capawesome_ci.sandbox.capgo.state import CapgoConfig
from tests.conftest import REPO_ROOT, cli_env, run_cli

APP = "com.example.app"
TOKEN = "capgo-cli-key-0123"
INSTALLED = REPO_ROOT / ".ci" / ".tools" / "node_modules" / ".bin" / "capgo"
# The CLI picks the SHA-256 checksum (not CRC32) only for an updater plugin it knows to be recent.
UPDATER_VERSION = "7.30.0"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Loaded into the CLI's node (NODE_OPTIONS=--require): fetch reaches loopback only (the CLI asks the
# npm registry for its latest version, for instance); what it tried elsewhere is written down.
OFFLINE_FETCH = """
const fs = require("fs");
const original = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    fs.appendFileSync(process.env.CAPGO_TEST_OFFSITE_LOG, url.origin + "\\n");
    throw new TypeError("fetch failed: the test allows loopback only");
  }
  return original(input, init);
};
"""


def capgo_cli() -> str:
    path = os.environ.get("CAPGO_CLI") or str(INSTALLED)
    if not Path(path).is_file():
        message = "@capgo/cli is not installed (.ci/run installs it: npm install --prefix .ci/.tools @capgo/cli@8.68.1)"
        if os.environ.get("REQUIRE_CONTAINER_TESTS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@dataclass
class Project:
    """A Capacitor project folder whose capacitor.config.json sends the CLI to the emulator."""

    root: Path
    emulator: CapgoEmulator
    cli: str

    def write_web(self, marker: str) -> None:
        web = self.root / "dist"
        web.mkdir(exist_ok=True)
        (web / "index.html").write_text('<html><script src="main.js"></script></html>')
        # The CLI refuses a bundle whose code never calls notifyAppReady().
        (web / "main.js").write_text(f"CapacitorUpdater.notifyAppReady(); // {marker}\n")

    def run(self, *argv: str) -> str:
        offline = self.root / "offline-fetch.cjs"
        offline.write_text(OFFLINE_FETCH)
        environ = {
            "NODE_OPTIONS": f"--require {offline}",
            "CAPGO_TEST_OFFSITE_LOG": str(self.root / "offsite.log"),
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.root / "home"),
            "CAPGO_TOKEN": self.emulator.token,
            "CAPGO_DISABLE_TELEMETRY": "1",
            "CI": "1",
            "NO_COLOR": "1",
        }
        result = subprocess.run(
            [self.cli, *argv], cwd=self.root, env=environ, capture_output=True, text=True, timeout=180
        )
        output = ANSI.sub("", result.stdout + result.stderr)
        assert result.returncode == 0, output
        assert self.emulator.token not in output  # the key is never echoed
        return output


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    cli = capgo_cli()
    with CapgoEmulator(CapgoConfig(token=TOKEN)) as emulator:
        origin = emulator.base_url
        updater = {key: origin for key in ("localApi", "localApiFiles", "localHost", "localWebHost", "localSupa")}
        config = {
            "appId": APP,
            "appName": "Example",
            "webDir": "dist",
            "plugins": {"CapacitorUpdater": {**updater, "localSupaAnon": emulator.state.anon_key}},
        }
        (tmp_path / "capacitor.config.json").write_text(json.dumps(config))
        packages = {"@capgo/capacitor-updater": UPDATER_VERSION, "@capacitor/core": "7.0.0"}
        (tmp_path / "package.json").write_text(
            json.dumps({"name": "example", "version": "1.0.0", "dependencies": packages})
        )
        for name, version in packages.items():
            folder = tmp_path / "node_modules" / name
            folder.mkdir(parents=True)
            (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))
        (tmp_path / "home").mkdir()
        yield Project(tmp_path, emulator, cli)


def stored_zip(project: Project, version: str) -> bytes:
    with project.emulator.state.lock:
        row = project.emulator.state.version_named(APP, version)
        assert row is not None, f"no bundle {version}"
        url = project.emulator.state.bundle_url(row)
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200
    return answer.content


def test_bundle_upload_stores_the_zip_the_cli_made_with_its_sha256(project: Project) -> None:
    project.write_web("first")
    project.run("bundle", "upload", "--channel", "production", "--bundle", "1.0.0", "--path", "dist")
    data = stored_zip(project, "1.0.0")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["index.html", "main.js"]
        assert b"first" in archive.read("main.js")
    state = project.emulator.state
    with state.lock:
        row = state.version_named(APP, "1.0.0")
        production = state.channel_named(APP, "production")
    assert row is not None and production is not None
    assert row["checksum"] == hashlib.sha256(data).hexdigest()
    assert row["storage_provider"] == "r2"
    assert production["version"] == row["id"]  # the upload assigned the channel


def test_channel_set_starts_a_rollout_in_the_emulator(project: Project) -> None:
    project.write_web("first")
    project.run("bundle", "upload", "--channel", "production", "--bundle", "1.0.0", "--path", "dist")
    project.run("channel", "add", "beta", APP)
    project.write_web("second")
    project.run("bundle", "upload", "--channel", "beta", "--bundle", "1.0.1", "--path", "dist")
    project.run("channel", "set", "production", "--rollout-bundle", "1.0.1", "--rollout-percentage", "25")
    state = project.emulator.state
    with state.lock:
        production = state.channel_named(APP, "production")
        stable, target = state.version_named(APP, "1.0.0"), state.version_named(APP, "1.0.1")
    assert production is not None and stable is not None and target is not None
    assert production["version"] == stable["id"]
    assert production["rollout_version"] == target["id"]
    assert (production["rollout_percentage_bps"], production["rollout_enabled"]) == (2500, True)


def test_bundle_list_and_channel_list_show_what_the_emulator_holds(project: Project) -> None:
    project.write_web("first")
    project.run("bundle", "upload", "--channel", "production", "--bundle", "1.0.0", "--path", "dist")
    project.run("channel", "add", "beta", APP)
    bundles = project.run("bundle", "list", APP)
    assert "1.0.0" in bundles and "Active versions in Capgo: 1" in bundles
    channels = project.run("channel", "list", APP)
    assert "production" in channels and "beta" in channels and "Active channels in Capgo: 2" in channels


def ours(project: Project, *args: str) -> str:
    """`capawesome-ci <args> --provider capgo` against the same emulator."""
    emulator = project.emulator
    environ = cli_env(None, CAPGO_TOKEN=emulator.token, CAPGO_BASE_URL=emulator.base_url, CAPGO_APP_ID=APP)
    result = run_cli([*args, "--provider", "capgo"], env=environ, cwd=project.root)
    assert result.code == 0, result.output
    assert emulator.token not in result.output
    return result.output


def test_what_the_cli_uploads_our_deploy_rolls_out_and_promotes(project: Project) -> None:
    project.write_web("first")
    project.run("bundle", "upload", "--channel", "production", "--bundle", "1.0.0", "--path", "dist")
    project.run("channel", "add", "beta", APP)
    project.write_web("second")
    project.run("bundle", "upload", "--channel", "beta", "--bundle", "1.0.1", "--path", "dist")
    ours(project, "deploy", "--bundle", "1.0.1", "--channel", "production", "--rollout", "30")
    state = project.emulator.state
    with state.lock:
        production, target = state.channel_named(APP, "production"), state.version_named(APP, "1.0.1")
        assert production is not None and target is not None
        assert (production["rollout_version"], production["rollout_percentage_bps"]) == (target["id"], 3000)
    ours(project, "deploy", "--bundle", "1.0.1", "--channel", "production", "--rollout", "100")
    with state.lock:
        assert (production["version"], production["rollout_version"]) == (target["id"], None)


def test_what_our_live_update_uploads_the_cli_lists(project: Project) -> None:
    project.write_web("ours")
    ours(project, "live-update", "--path", "dist", "--bundle", "2.0.0", "--channel", "production")
    data = stored_zip(project, "2.0.0")
    with project.emulator.state.lock:
        row = project.emulator.state.version_named(APP, "2.0.0")
        assert row is not None and row["checksum"] == hashlib.sha256(data).hexdigest()
    listed = project.run("bundle", "list", APP)
    assert "2.0.0" in listed and "Active versions in Capgo: 1" in listed
    channels = project.run("channel", "list", APP)
    assert "2.0.0" in channels  # production's stable bundle
