"""Uploading to Capgo: a 300 MiB live-update bundle (a generated web folder of incompressible files) to
the Capgo emulator and onto its `production` channel — capawesome-ci `live-update --provider capgo`
vs Capgo's own CLI, `@capgo/cli bundle upload` (pinned), both doing the Capgo-hosted upload.

    python bench/capgo_upload.py [--size-mib 300] [--repeat 3]

Targets (ours, from issue 13): ≤ 0.5× the Capgo CLI's wall time; peak RSS ≤ 100 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from _harness import (
    CACHE_DIR,
    VENV_BIN,
    Measurement,
    clean_env,
    measure,
    npm_install,
    rotated,
    settle,
    upload_results,
)
from _report import Section, Table, Target

TITLE = "6. Uploading a 300 MiB live update to Capgo"
TARGET_TIME_VS_CLI = 0.5
TARGET_RSS_MIB = 100
FILE_MIB = 5
CHANNEL = "production"
APP = "com.example.app"
CLI_PACKAGE = "@capgo/cli@8.68.1"  # the version tests/test_capgo_cli.py and .ci/run pin
NPM_PREFIX = CACHE_DIR / "npm-capgo"
CLI_BINARY = NPM_PREFIX / "node_modules" / ".bin" / "capgo"
# The CLI picks SHA-256 (not CRC32) only for an updater plugin it knows to be recent.
UPDATER_VERSION = "7.30.0"
OURS, CLI = "capawesome-ci `live-update --provider capgo`", "Capgo CLI `bundle upload`"


@dataclass(frozen=True)
class CapgoSandbox:
    base_url: str
    token: str
    anon_key: str

    def stable_bundle(self) -> str | None:
        """The name of the production channel's stable bundle."""
        answer = httpx.get(
            self.base_url + "/channel/",
            params={"app_id": APP, "channel": CHANNEL},
            headers={"authorization": self.token},
            timeout=60,
        )
        answer.raise_for_status()
        version = answer.json().get("version") or {}
        return version.get("name") if isinstance(version, dict) else None


@contextmanager
def capgo_sandbox() -> Iterator[CapgoSandbox]:
    """`capawesome-ci sandbox serve --provider capgo` in its own process: the 300 MiB bodies it stores
    cost the measured clients nothing."""
    token = "capgo-bench-" + secrets.token_hex(8)
    process = subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", "sandbox", "serve", "--provider", "capgo", "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = ""
        for line in process.stdout:
            if match := re.search(r"CAPGO_BASE_URL=(\S+)", line):
                base_url = match.group(1).rstrip("/")
                break
        if not base_url:
            raise RuntimeError("the Capgo sandbox did not announce its URL")
        threading.Thread(target=process.stdout.read, daemon=True).start()
        config = httpx.get(base_url + "/private/config", timeout=30).json()
        yield CapgoSandbox(base_url, token, config["supaKey"])
    finally:
        process.terminate()
        process.wait(10)


def install_cli() -> tuple[Path | None, str]:
    why_not = npm_install(CLI_PACKAGE, NPM_PREFIX, CLI_BINARY)
    return (None, why_not) if why_not else (CLI_BINARY, "")


def write_project(root: Path, sandbox: CapgoSandbox, size_mib: int) -> Path:
    """A Capacitor project whose capacitor.config.json sends the Capgo CLI to the emulator, with a web
    build of random (incompressible) assets; returns the web folder."""
    updater = {key: sandbox.base_url for key in ("localApi", "localApiFiles", "localHost", "localWebHost", "localSupa")}
    config = {
        "appId": APP,
        "appName": "Bench",
        "webDir": "dist",
        "plugins": {"CapacitorUpdater": {**updater, "localSupaAnon": sandbox.anon_key}},
    }
    (root / "capacitor.config.json").write_text(json.dumps(config))
    packages = {"@capgo/capacitor-updater": UPDATER_VERSION, "@capacitor/core": "7.0.0"}
    (root / "package.json").write_text(json.dumps({"name": "bench", "version": "1.0.0", "dependencies": packages}))
    for name, version in packages.items():
        folder = root / "node_modules" / name
        folder.mkdir(parents=True)
        (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))
    web = root / "dist"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text('<!doctype html><html><script src="main.js"></script></html>\n')
    (web / "main.js").write_text("CapacitorUpdater.notifyAppReady();\n")  # the Capgo CLI insists on it
    for index in range(size_mib // FILE_MIB):
        (web / "assets" / f"app-{index:02d}.bin").write_bytes(os.urandom(FILE_MIB << 20))
    (root / "home").mkdir()
    return web


def run(size_mib: int = 300, repeat: int = 3) -> Section:
    began = time.monotonic()
    method = (
        f"A generated web build (`index.html`, `main.js` and {size_mib // FILE_MIB} random {FILE_MIB} MiB files, "
        f"{size_mib} MiB that zip cannot compress) is zipped, checksummed, uploaded to Capgo's hosted storage and "
        f"set as the `{CHANNEL}` channel's stable bundle, on the Capgo emulator running in its own process. Each "
        f"run uploads a new bundle name (Capgo never reuses one). {repeat} repetitions, tools alternating; every "
        "run must exit 0 and leave its bundle stable on the channel. Wall time and peak RSS from wait4."
    )
    cli, why_not = install_cli()
    with capgo_sandbox() as sandbox, tempfile.TemporaryDirectory(prefix="capgo-bench-") as scratch:
        root = Path(scratch)
        web = write_project(root, sandbox, size_mib)
        ours_env = clean_env(CAPGO_TOKEN=sandbox.token, CAPGO_BASE_URL=sandbox.base_url, CAPGO_APP_ID=APP)
        cli_env = clean_env(
            CAPGO_TOKEN=sandbox.token, CAPGO_DISABLE_TELEMETRY="1", HOME=str(root / "home"), NO_COLOR="1"
        )
        tools = [OURS] + ([CLI] if cli is not None else [])
        results: dict[str, list[Measurement]] = {tool: [] for tool in tools}
        names = (f"1.0.{n}" for n in range(1, 10_000))
        for repetition in range(repeat):
            for tool in rotated(tools, repetition):
                name = next(names)
                # New bytes for each bundle: Capgo's CLI refuses a bundle whose checksum the channel has.
                (web / "main.js").write_text(f"CapacitorUpdater.notifyAppReady(); // {name}\n")
                if tool == OURS:
                    argv = [str(VENV_BIN / "capawesome-ci"), "--provider", "capgo", "live-update"]
                    argv += ["--path", str(web), "--bundle", name, "--channel", CHANNEL]
                    env = ours_env
                else:
                    argv = [str(cli), "bundle", "upload", "--path", "dist", "--bundle", name, "--channel", CHANNEL]
                    env = cli_env
                settle()
                measurement = measure(argv, env, root)
                if not measurement.ok:
                    raise RuntimeError(f"{tool} exited {measurement.returncode}: {measurement.stderr_tail}")
                if sandbox.stable_bundle() != name:
                    raise RuntimeError(f"{tool} did not leave bundle {name} stable on {CHANNEL}")
                results[tool].append(measurement)

    header, rows, goals = upload_results(results, size_mib, OURS, CLI, "Capgo CLI", TARGET_TIME_VS_CLI, TARGET_RSS_MIB)
    targets = [Target(*goal) for goal in goals]
    if cli is not None:
        notes = [f"Capgo CLI {CLI_PACKAGE.rsplit('@', 1)[1]}, telemetry off."]
    else:
        notes = [f"Capgo CLI anchor skipped: {why_not}."]
    return Section(TITLE, method, [Table(header, rows)], targets, notes, seconds=time.monotonic() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(run(options.size_mib, options.repeat).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
