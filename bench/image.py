"""Image: the compressed size of the capawesome-ci image (and of our layers over the base image),
and container start → first API request, against the base image doing one plain HTTP request.

    python bench/image.py [--repeat 5]

No size or start-time target is set in the issue; both are tracked against the base image.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from _harness import REPO_DIR, fmt, measure, median, ratio, rotated, with_spread
from _report import Section, Table, Target
from _sandbox import MeteredSandbox, SandboxClient, metered_sandbox

TITLE = "5. Container image"
IMAGE = "capawesome-ci:bench"
BASE_IMAGE = "python:3.12-slim"  # the Dockerfile's FROM
CONTAINER_ENV = Path("/work/shared/tools/container-env")
GZIP_LEVEL = 6  # gzip's default, what `gzip -c` does
OURS, FLOOR = "capawesome-ci image: `wait` on a finished job", "base image: one `urllib` request (floor)"
FLOOR_REQUEST = (
    "import os, urllib.request as r; r.urlopen(r.Request(os.environ['URL'], "
    "headers={'Authorization': 'Bearer ' + os.environ['TOKEN']})).read()"
)


def docker_env() -> dict[str, str]:
    """The caller's environment plus what `container-env env` exports (PATH to its tools)."""
    env = dict(os.environ)
    if CONTAINER_ENV.exists():
        exported = subprocess.run([str(CONTAINER_ENV), "env"], capture_output=True, text=True).stdout
        script = exported + "\nenv -0"
        dump = subprocess.run(["bash", "-c", script], capture_output=True, env=env).stdout
        env = dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)
    return env


def engine_answers(env: dict[str, str]) -> str:
    """'' when `docker info` answers, else why not."""
    if shutil.which("docker", path=env.get("PATH")) is None:
        return "no docker client on PATH"
    answer = subprocess.run(["docker", "info"], capture_output=True, text=True, env=env, timeout=60)
    return "" if answer.returncode == 0 else f"`docker info` failed: {answer.stderr.strip()[-200:]}"


def docker(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=True).stdout


def gzip_size(path: Path) -> int:
    """Bytes of `gzip -c path`, counted without writing them anywhere."""
    size = 0
    with subprocess.Popen(["gzip", f"-{GZIP_LEVEL}", "-c", str(path)], stdout=subprocess.PIPE) as gzip:
        output = gzip.stdout
        assert output is not None
        while block := output.read(1 << 20):
            size += len(block)
    if gzip.returncode != 0:
        raise RuntimeError(f"gzip {path} exited {gzip.returncode}")
    return size


def gzipped_member_sizes(archive: Path, members: list[str]) -> int:
    """Sum of the gzip-compressed sizes of the given members of a `docker save` tarball."""
    total = 0
    with tarfile.open(archive) as tar:
        for name in members:
            source = tar.extractfile(name)
            assert source is not None
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
            while block := source.read(1 << 20):
                total += len(compressor.compress(block))
            total += len(compressor.flush())
    return total


def image_sizes(env: dict[str, str], scratch: Path) -> dict[str, int]:
    """Uncompressed and `docker save | gzip` sizes of ours and the base; gzip size of our own layers."""
    ours_tar, base_tar = scratch / "ours.tar", scratch / "base.tar"
    docker(env, "save", "-o", str(ours_tar), IMAGE)
    docker(env, "save", "-o", str(base_tar), BASE_IMAGE)
    base_layers = json.loads(docker(env, "image", "inspect", "-f", "{{json .RootFS.Layers}}", BASE_IMAGE))
    ours_layers = json.loads(docker(env, "image", "inspect", "-f", "{{json .RootFS.Layers}}", IMAGE))
    if ours_layers[: len(base_layers)] != base_layers:
        raise RuntimeError(f"{IMAGE} is not built on the local {BASE_IMAGE}")
    with tarfile.open(ours_tar) as tar:
        manifest_file = tar.extractfile("manifest.json")
        assert manifest_file is not None
        manifest = json.load(manifest_file)
    own_members = manifest[0]["Layers"][len(base_layers) :]
    return {
        "ours_gzip": gzip_size(ours_tar),
        "base_gzip": gzip_size(base_tar),
        "own_layers_gzip": gzipped_member_sizes(ours_tar, own_members),
        "ours_raw": int(docker(env, "image", "inspect", "-f", "{{.Size}}", IMAGE)),
        "base_raw": int(docker(env, "image", "inspect", "-f", "{{.Size}}", BASE_IMAGE)),
        "own_layer_count": len(own_members),
    }


def first_request_delay(sandbox: MeteredSandbox, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds from `docker run` to the sandbox seeing the container's first request, total seconds)."""
    first = sandbox.exchange_count()
    measurement = measure(argv, env)
    exchanges = sandbox.exchanges_since(first)
    if not measurement.ok or not exchanges:
        raise RuntimeError(f"`{' '.join(argv[:6])} …` exited {measurement.returncode}: {measurement.stderr_tail}")
    return exchanges[0].at - measurement.started, measurement.seconds


def start_commands(client: SandboxClient, job_id: str) -> dict[str, list[str]]:
    run = ["docker", "run", "--rm", "--network=host"]
    ours = [*run, *[f"--env={key}={value}" for key, value in client.tool_env().items()], IMAGE]
    floor_env = [f"--env=URL={client.base_url}/v1/jobs/{job_id}", f"--env=TOKEN={client.token}"]
    return {
        OURS: [*ours, "wait", "--job-id", job_id],
        FLOOR: [*run, *floor_env, BASE_IMAGE, "python", "-c", FLOOR_REQUEST],
    }


def build_failure(output: str) -> str:
    """The builder's ERROR lines (the legacy builder prints them on stdout), else the output's tail."""
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line]
    text = " ".join(errors) if errors else output.strip()[-300:]
    return "`" + re.sub(r"\x1b\[[0-9;]*m", "", text).replace("`", "'") + "`"


def run(repeat: int = 5) -> Section:
    began = time.monotonic()
    method = (
        f"`docker build --network=host -t {IMAGE}` of the repository, then `docker save | gzip -c | wc -c` for our "
        f"image and for the local `{BASE_IMAGE}` it is built on (the local stand-in base is larger than upstream's, "
        "so our own layers — everything above the base, gzip-compressed the same way — are the figure that carries "
        "over). Start latency: `docker run --rm --network=host` until the in-process sandbox sees the container's "
        f"first request, {repeat} alternating runs of each: ours runs `wait` on an already finished job; the floor is "
        "the base image's Python making one `urllib` request."
    )
    env = docker_env()
    why_not = engine_answers(env)
    if why_not:
        return Section(TITLE, method, skipped=f"no container engine: {why_not}")
    build_started = time.monotonic()
    build = subprocess.run(
        ["docker", "build", "--network=host", "-t", IMAGE, str(REPO_DIR)], capture_output=True, text=True, env=env
    )
    build_seconds = time.monotonic() - build_started
    if build.returncode != 0:
        return Section(TITLE, method, skipped=f"`docker build` failed: {build_failure(build.stdout + build.stderr)}")
    with tempfile.TemporaryDirectory(prefix="capawesome-bench-") as scratch:
        sizes = image_sizes(env, Path(scratch))
    delays: dict[str, list[float]] = {}
    totals: dict[str, list[float]] = {}
    with metered_sandbox() as (sandbox, client):
        job = client.create_build(CAPAWESOME_SANDBOX_RUN_SECONDS="0.2")
        client.wait_until_succeeded(str(job["jobId"]))
        commands = start_commands(client, str(job["jobId"]))
        for argv in commands.values():  # warm-up: the first start after a build pays for cold caches
            first_request_delay(sandbox, argv, env)
        delays = {name: [] for name in commands}
        totals = {name: [] for name in commands}
        for repetition in range(repeat):
            for name in rotated(list(commands), repetition):
                delay, total = first_request_delay(sandbox, commands[name], env)
                delays[name].append(delay)
                totals[name].append(total)

    mib = 2**20
    layers = sizes["own_layer_count"]
    size_table = Table(
        ["image", "compressed MiB (`docker save`, gzip -6)", "uncompressed MiB", "compressed ÷ base"],
        [
            [
                f"`{IMAGE}` (ours)",
                fmt(sizes["ours_gzip"] / mib, 1),
                fmt(sizes["ours_raw"] / mib, 1),
                ratio(sizes["ours_gzip"], sizes["base_gzip"]),
            ],
            [
                f"`{BASE_IMAGE}` (local base)",
                fmt(sizes["base_gzip"] / mib, 1),
                fmt(sizes["base_raw"] / mib, 1),
                ratio(sizes["base_gzip"], sizes["base_gzip"]),
            ],
            [
                f"our {layers} layer{'s' if layers != 1 else ''} over the base",
                fmt(sizes["own_layers_gzip"] / mib, 1),
                fmt((sizes["ours_raw"] - sizes["base_raw"]) / mib, 1),
                ratio(sizes["own_layers_gzip"], sizes["base_gzip"]),
            ],
        ],
        caption="Size",
    )
    start_rows = [
        [
            name,
            with_spread(delays[name]),
            with_spread(totals[name]),
            ratio(median(delays[name]), median(delays[FLOOR])),
        ]
        for name in delays
    ]
    start_table = Table(
        ["container", "start → first request s (spread)", "start → exit s (spread)", "÷ floor"],
        start_rows,
        caption="Start",
    )
    own = sizes["own_layers_gzip"] / mib
    targets = [
        Target("image size", f"{own:.1f} MiB over the base", None, tracked_only=True),
        Target(
            "start → first request",
            f"{median(delays[OURS]):.2f} s ({median(delays[FLOOR]):.2f} s floor)",
            None,
            tracked_only=True,
        ),
    ]
    notes = [f"`docker build` took {build_seconds:.0f} s (layer cache as found; informational)."]
    return Section(TITLE, method, [size_table, start_table], targets, notes, seconds=time.monotonic() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    print(run(parser.parse_args().repeat).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
