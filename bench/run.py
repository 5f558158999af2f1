"""Run every benchmark and write bench/RESULTS.md.

    python bench/run.py [--only startup,waiting,download,upload,image,capgo-upload] [--output bench/RESULTS.md]

Each benchmark runs ours and its anchor(s) in the same run, alternating, and reports median, spread,
ratio and target. A benchmark that cannot run (no npm, no container engine, no sandbox bundle
endpoints) is reported as skipped with the reason; one that crashes is reported as failed, and the
others still run. Not part of the test suite. Takes about 7 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import capgo_upload
import download
import image
import startup
import upload
import waiting
from _harness import BENCH_DIR, REPO_DIR, rss_floor_mib
from _official_cli import install
from _report import Section, Table

import capawesome_ci

BENCHMARKS: dict[str, tuple[str, Callable[[], Section]]] = {
    "startup": (startup.TITLE, lambda: startup.run(repeat=5)),
    "waiting": (waiting.TITLE, lambda: waiting.run(repeat=3)),
    "download": (download.TITLE, lambda: download.run(size_mib=1024, repeat=5)),
    "upload": (upload.TITLE, lambda: upload.run(size_mib=300, repeat=3)),
    "image": (image.TITLE, lambda: image.run(repeat=5)),
    "capgo-upload": (capgo_upload.TITLE, lambda: capgo_upload.run(size_mib=300, repeat=3)),
}
CHANGES = BENCH_DIR / "CHANGES.md"


def command_output(argv: list[str], env: dict[str, str] | None = None) -> str:
    """First line of a command's output, or '' when it is missing or fails."""
    if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None:
        return ""
    try:
        answer = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (answer.stdout or answer.stderr).strip().splitlines()
    return lines[0].strip() if answer.returncode == 0 and lines else ""


def machine() -> list[str]:
    memory_kib = 0
    cpu = platform.processor() or platform.machine()
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"CPU: {os.cpu_count()} × {cpu} (nproc {len(os.sched_getaffinity(0))})",
        f"memory: {memory_kib / 2**20:.1f} GiB",
        f"OS: {platform.system()} {platform.release()}",
    ]


def revision() -> str:
    return command_output(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"])


def versions() -> list[str]:
    dirty = command_output(["git", "-C", str(REPO_DIR), "status", "--porcelain", "--untracked-files=no"])
    cli, why_not = install()
    docker_env = image.docker_env()
    docker = command_output(["docker", "version", "--format", "{{.Server.Version}}"], docker_env)
    state = f"commit {revision() or '?'}" + (", uncommitted changes" if dirty else "")
    return [
        f"capawesome-ci {capawesome_ci.__version__} ({state})",
        f"Python {platform.python_version()}; capawesome-cloud (official SDK) "
        f"{importlib.metadata.version('capawesome-cloud')}; httpx {importlib.metadata.version('httpx')}",
        f"@capawesome/cli (official CLI) {cli.version if cli else f'— ({why_not})'}; "
        f"Node {command_output(['node', '--version']) or '—'}",
        f"curl: {command_output(['curl', '--version']) or '—'}",
        f"Docker engine: {docker or '— (no engine answered)'}",
    ]


def run_benchmark(name: str) -> Section:
    title, benchmark = BENCHMARKS[name]
    print(f"[bench] {title} …", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        section = benchmark()
    except Exception as error:  # reported in RESULTS.md; the other benchmarks still run
        traceback.print_exc()
        section = Section(title, "", skipped=f"the benchmark failed: {type(error).__name__}: {error}")
    section.seconds = time.monotonic() - began
    print(f"[bench] {title}: {section.seconds:.0f} s", file=sys.stderr, flush=True)
    return section


def summary(sections: list[Section]) -> Table:
    rows = [[s.title, t.goal, t.measured, t.verdict] for s in sections for t in s.targets]
    rows += [[s.title, "—", "—", f"skipped: {s.skipped}"] for s in sections if s.skipped and not s.targets]
    return Table(["benchmark", "target", "measured", "verdict"], rows)


def render(sections: list[Section], header: list[str], floor: float, total: float) -> str:
    changes = CHANGES.read_text().strip() if CHANGES.exists() else "## What was changed\n\n(nothing recorded)"
    parts = [
        "# Benchmark results",
        "",
        "Generated by `python bench/run.py`; do not edit by hand (record changes in `bench/CHANGES.md`).",
        "",
        *[f"- {line}" for line in header],
        f"- whole run: {total / 60:.1f} min",
        "",
        "Every figure is the median of alternating runs of ours and the anchor(s) in the same run, with the "
        "spread (min–max) in parentheses. Wall time and peak RSS come from the OS (`wait4` of the child). The "
        "children are started by a small launcher (`bench/_spawn.py`), because a child spawned straight from "
        "the harness inherits the harness's peak RSS in `ru_maxrss`; a child that allocates nothing reports "
        f"{floor:.1f} MiB this way.",
        "",
        "## Summary",
        "",
        summary(sections).markdown(),
        "",
        *[part for section in sections for part in (section.markdown(), "")],
        changes,
        "",
    ]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    options = parser.parse_args()
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    began = time.monotonic()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"date: {date}", *machine(), *versions()]
    first_revision = revision()
    sections = [run_benchmark(name) for name in chosen]
    if revision() != first_revision:  # others commit while the benchmarks run; say so
        header.append(f"**warning:** HEAD moved from {first_revision} to {revision()} during the run")
    document = render(sections, header, rss_floor_mib(), time.monotonic() - began)
    options.output.write_text(document)
    print(summary(sections).markdown())
    print(f"\nwrote {options.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
