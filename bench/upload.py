"""Uploading: a 300 MiB live-update bundle (a generated web folder of incompressible files) to the
sandbox and onto the `production` channel — capawesome-ci `live-update` vs the official CLI's
`apps:liveupdates:upload`.

    python bench/upload.py [--size-mib 300] [--repeat 3]

Targets (ours): ≤ 0.7× the official CLI's wall time; peak RSS ≤ 100 MiB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _harness import VENV_BIN, Measurement, clean_env, measure, rotated, settle, upload_results
from _official_cli import cli_session, install
from _report import Section, Table, Target
from _sandbox import SandboxClient, sandbox_process

TITLE = "4. Uploading a 300 MiB live update"
TARGET_TIME_VS_CLI = 0.7
TARGET_RSS_MIB = 100
FILE_MIB = 5
CHANNEL = "production"
OURS, CLI = "capawesome-ci `live-update`", "official CLI `apps:liveupdates:upload`"
INDEX_HTML = '<!doctype html><html><head><script type="module" src="assets/app-00.bin"></script></head></html>\n'


def generate_web_build(folder: Path, size_mib: int) -> None:
    """index.html plus random (so incompressible: zip cannot shrink them) asset files."""
    assets = folder / "assets"
    assets.mkdir(parents=True)
    (folder / "index.html").write_text(INDEX_HTML)
    for index in range(size_mib // FILE_MIB):
        (assets / f"app-{index:02d}.bin").write_bytes(os.urandom(FILE_MIB << 20))


def channel_deployment(client: SandboxClient) -> str | None:
    channels = client.api("GET", f"/v1/apps/{client.app_id}/channels", params={"name": CHANNEL})
    return channels[0].get("appDeploymentId") if channels else None


def run(size_mib: int = 300, repeat: int = 3) -> Section:
    began = time.monotonic()
    method = (
        f"A generated web build (`index.html` + {size_mib // FILE_MIB} random {FILE_MIB} MiB files, {size_mib} MiB "
        f"that zip cannot compress) is uploaded as a zip bundle and deployed to the `{CHANNEL}` channel of a sandbox "
        f"running in its own process. {repeat} repetitions, tools alternating; every run must exit 0. Wall time and "
        "peak RSS from wait4."
    )
    cli, why_not = install()
    with (
        sandbox_process() as client,
        tempfile.TemporaryDirectory(prefix="capawesome-bench-") as scratch,
        cli_session(client) as (workdir, cli_env, blocker),
    ):
        if not client.has_bundle_endpoints():
            return Section(TITLE, method, skipped="the sandbox has no bundle endpoints yet")
        folder = Path(scratch) / "www"
        generate_web_build(folder, size_mib)
        tools: dict[str, tuple[list[str], dict[str, str], Path | None]] = {
            OURS: (
                [str(VENV_BIN / "capawesome-ci"), "live-update", "--path", str(folder), "--channel", CHANNEL],
                clean_env(**client.tool_env()),
                Path(scratch),
            ),
        }
        if cli is not None:
            upload = ["apps:liveupdates:upload", "--app-id", client.app_id, "--path", str(folder)]
            tools[CLI] = ([str(cli.binary), *upload, "--channel", CHANNEL, "--yes"], cli_env, workdir)
        results: dict[str, list[Measurement]] = {tool: [] for tool in tools}
        undeployed: list[str] = []
        for repetition in range(repeat):
            for tool in rotated(list(tools), repetition):
                before = channel_deployment(client)
                settle()
                measurement = measure(*tools[tool])
                if not measurement.ok:
                    raise RuntimeError(f"{tool} exited {measurement.returncode}: {measurement.stderr_tail}")
                if channel_deployment(client) == before:
                    undeployed.append(tool)
                results[tool].append(measurement)
        update_checks = blocker.attempts

    header, rows, goals = upload_results(
        results, size_mib, OURS, CLI, "official CLI", TARGET_TIME_VS_CLI, TARGET_RSS_MIB
    )
    targets = [Target(*goal) for goal in goals]
    if cli is not None:
        notes = [f"Official CLI {cli.version}; update checks blocked during these runs: {update_checks}."]
    else:
        notes = [f"Official CLI anchor skipped: {why_not}."]
    if undeployed:
        notes.append(f"Runs after which the channel showed no new deployment: {', '.join(undeployed)}.")
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
