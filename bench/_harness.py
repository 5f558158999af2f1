"""Shared plumbing: run a child process and let the OS say how long it took and how much memory it
held at its peak (wait4's rusage), never Python's allocator; plus median/spread helpers."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"  # gitignored (bench/.gitignore): npm installs, generated data
VENV_BIN = REPO_DIR / ".venv" / "bin"
SPAWN = BENCH_DIR / "_spawn.py"
STDERR_TAIL_CHARS = 2000

# Variables that make our tool (or the official CLI) think it runs inside a CI service and change
# what it prints or where; the benchmarks measure the plain local behaviour.
CI_DETECTION_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BITBUCKET_BUILD_NUMBER", "BITBUCKET_PIPE_STORAGE_DIR")
# Every client talks to a loopback sandbox; a proxy from the caller's shell would add a hop to one
# tool and not another (the official CLI reads only some of these).
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class Measurement:
    seconds: float  # wall time, spawn to reaped
    peak_rss_mib: float  # ru_maxrss of the child, from wait4
    returncode: int
    started: float  # time.monotonic() just before the spawn
    ended: float  # time.monotonic() right after wait4 returned
    stderr_tail: str
    cpu_seconds: float = 0.0  # user + system time, from wait4

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def measure(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Measurement:
    """Run `argv` to completion through `_spawn.py` (see there why) and return what wait4 said.
    stdout is discarded; stderr goes to a file (a pipe nobody reads would block a chatty child) and
    its tail is kept for error messages. The times are the launcher's, taken around fork and wait4,
    so the launcher's own start-up is not counted."""
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as stderr:
        try:
            launcher = subprocess.Popen(
                [sys.executable, "-S", "-I", str(SPAWN), str(write_end), *argv],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as results:
            report = results.read()
        launcher.wait()
        stderr.seek(0)
        tail = stderr.read()[-STDERR_TAIL_CHARS:].decode(errors="replace")
    if launcher.returncode != 0 or not report:
        raise RuntimeError(f"the launcher failed for {argv[0]} (exit {launcher.returncode}): {tail}")
    result = json.loads(report)
    returncode = os.waitstatus_to_exitcode(result["status"])
    seconds = result["ended"] - result["started"]
    peak_rss_mib, cpu_seconds = result["maxrss_kib"] / 1024, result["cpu_seconds"]
    return Measurement(seconds, peak_rss_mib, returncode, result["started"], result["ended"], tail, cpu_seconds)


# Seconds to let the machine settle between bulk runs. On a VM that hands freed memory back to the
# host (virtio-balloon free page reporting, as on this Firecracker machine) the previous run's freed
# page cache becomes memory the host must fault in again, a few seconds after it was freed; a run
# started at once could land before or after that, at random. Writing 1 GiB measured 0.2–3 s here
# depending on it. Waiting puts every tool in the same state.
SETTLE_SECONDS = 3.0


def settle() -> None:
    """Flush the previous run's writes and wait, so the next run starts from the same state."""
    os.sync()
    time.sleep(SETTLE_SECONDS)


def rss_floor_mib() -> float:
    """What a child that allocates nothing reports: the launcher's share of every RSS figure."""
    return measure(["true"]).peak_rss_mib


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without CI detection and proxy variables, plus `extra`."""
    dropped = {*CI_DETECTION_VARIABLES, *PROXY_VARIABLES}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(extra)
    return env


def rotated(items: Sequence[T], repetition: int) -> list[T]:
    """`items` starting at a different one each repetition, so no tool always runs first (cold
    caches) or right after the heaviest one."""
    shift = repetition % len(items)
    return [*items[shift:], *items[:shift]]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def with_spread(values: Sequence[float], digits: int = 2) -> str:
    """`median (min–max)`, the way every table reports repeated measurements."""
    return f"{fmt(median(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def ratio(numerator: float, denominator: float) -> str:
    if denominator == 0:
        return "n/a"
    value = numerator / denominator
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def npm_install(package: str, prefix: Path, binary: Path) -> str:
    """Install `package` (with its pinned version) into `prefix` unless `binary` is already there; ""
    when it is ready, else why not (the benchmark then reports its anchor as skipped)."""
    if binary.exists():
        return ""
    if shutil.which("npm") is None:
        return "npm is not installed"
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = getattr(error, "stderr", "") or ""
        return f"`npm install {package}` failed: {output.strip()[-300:] or error}"
    return ""


def upload_results(
    results: dict[str, list[Measurement]],
    size_mib: int,
    ours: str,
    anchor: str,
    anchor_name: str,
    time_target: float,
    rss_target_mib: float,
) -> tuple[list[str], list[list[str]], list[tuple[str, str, bool | None]]]:
    """An upload benchmark's table (header, rows) and its two goals (goal, measured, met): wall time
    against the anchor's (not measured when the anchor did not run) and ours' peak RSS."""

    def seconds(tool: str) -> float:
        return median([m.seconds for m in results[tool]])

    def rss(tool: str) -> float:
        return median([m.peak_rss_mib for m in results[tool]])

    rows = [
        [
            tool,
            with_spread([m.seconds for m in runs]),
            fmt(size_mib / seconds(tool), 0),
            fmt(rss(tool), 0),
            ratio(seconds(tool), seconds(anchor)) if anchor in results else "—",
        ]
        for tool, runs in results.items()
    ]
    header = ["tool", "wall time s (spread)", "MiB/s", "peak RSS MiB", f"time ÷ {anchor_name}"]
    time_goal = f"wall time ≤ {time_target}× the {anchor_name}'s"
    if anchor in results:
        share = seconds(ours) / seconds(anchor)
        timed: tuple[str, str, bool | None] = (time_goal, f"{share:.2f}×", share <= time_target)
    else:
        timed = (time_goal, "no anchor", None)
    memory = (f"peak RSS ≤ {rss_target_mib:g} MiB", f"{rss(ours):.0f} MiB", rss(ours) <= rss_target_mib)
    return header, rows, [timed, memory]
