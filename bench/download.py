"""Download a 1 GiB sandbox artifact: capawesome-ci vs the official SDK vs curl, side by side.

    python bench/download.py [--size-mib 1024] [--repeat 3]

Reports wall time, throughput and peak RSS (from the OS) for each; ours must stay ≤ 64 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _harness import Measurement, measure, median, sandbox_process, spread, succeeded_build

SDK_SCRIPT = """
import sys
from capawesome_cloud import CapawesomeCloud
base, token, app, build, artifact, out = sys.argv[1:]
data = CapawesomeCloud(token=token, base_url=base).apps.builds.artifacts.download(app, build, artifact)
open(out, "wb").write(data)
"""
TARGET_RSS_MIB = 64


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    size = options.size_mib << 20
    with sandbox_process() as sandbox, tempfile.TemporaryDirectory() as scratch:
        build = succeeded_build(sandbox, CAPAWESOME_SANDBOX_ARTIFACT_SIZE=str(size))
        artifacts = sandbox.api("GET", f"/v1/apps/{sandbox.app_id}/builds/{build['id']}/artifacts")
        assert isinstance(artifacts, list)
        artifact_id = artifacts[0]["id"]
        url = f"{sandbox.base_url}/v1/apps/{sandbox.app_id}/builds/{build['id']}/artifacts/{artifact_id}/download"
        env = {
            **os.environ,
            "CAPAWESOME_CLOUD_TOKEN": sandbox.token,
            "CAPAWESOME_CLOUD_BASE_URL": sandbox.base_url,
            "CAPAWESOME_APP_ID": sandbox.app_id,
        }
        out = Path(scratch)
        tools: dict[str, list[str]] = {
            "capawesome-ci": [
                sys.executable,
                "-m",
                "capawesome_ci",
                "download",
                "--build-id",
                str(build["id"]),
                "--output-dir",
                str(out / "ours"),
            ],
            "official SDK (artifacts.download)": [
                sys.executable,
                "-c",
                SDK_SCRIPT,
                sandbox.base_url,
                sandbox.token,
                sandbox.app_id,
                str(build["id"]),
                artifact_id,
                str(out / "sdk.bin"),
            ],
        }
        if shutil.which("curl"):
            tools["curl"] = [
                "curl",
                "-sS",
                "-o",
                str(out / "curl.bin"),
                "-H",
                f"Authorization: Bearer {sandbox.token}",
                url,
            ]
        results: dict[str, list[Measurement]] = {name: [] for name in tools}
        for _ in range(options.repeat):
            for name, argv in tools.items():  # alternate, so drift hits every tool alike
                measurement = measure(argv, env)
                if measurement.returncode != 0:
                    print(f"{name} failed with exit {measurement.returncode}", file=sys.stderr)
                results[name].append(measurement)
                shutil.rmtree(out / "ours", ignore_errors=True)
                for leftover in out.glob("*.bin"):
                    leftover.unlink()
    print(f"Download of a {options.size_mib} MiB artifact from the sandbox, {options.repeat} runs each (median)\n")
    print("| tool | wall time s (spread) | MiB/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        seconds = [r.seconds for r in runs]
        rss = median([r.peak_rss_mib for r in runs])
        print(
            f"| {name} | {median(seconds):.2f} ({spread(seconds)}) | {options.size_mib / median(seconds):.0f} "
            f"| {rss:.0f} |"
        )
    ours = median([r.peak_rss_mib for r in results["capawesome-ci"]])
    verdict = "met" if ours <= TARGET_RSS_MIB else "MISSED"
    print(f"\nTarget peak RSS ≤ {TARGET_RSS_MIB} MiB for capawesome-ci: {verdict} ({ours:.0f} MiB)")
    if "curl" in results:
        ratio = median([r.seconds for r in results["curl"]]) / median([r.seconds for r in results["capawesome-ci"]])
        print(f"Throughput vs curl: {ratio:.2f}× (target ≥ 0.8×)")
    return 0 if ours <= TARGET_RSS_MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
