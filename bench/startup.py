"""Startup: `--version` and `--help` of capawesome-ci vs the official CLI.

    python bench/startup.py [--repeat 5]

Targets (ours): ≤ 0.10 s and ≥ 15× faster than the official CLI.
"""

from __future__ import annotations

import argparse
import time

from _harness import VENV_BIN, Measurement, clean_env, fmt, measure, median, ratio, rotated, with_spread
from _official_cli import cli_session, install
from _report import Section, Table, Target

TITLE = "1. Startup"
TARGET_SECONDS = 0.10
TARGET_SPEEDUP = 15.0
COMMANDS = ("--version", "--help")
OURS, OFFICIAL = "capawesome-ci", "official CLI"


def median_rss(runs: list[Measurement]) -> float:
    return median([m.peak_rss_mib for m in runs])


def run(repeat: int = 5) -> Section:
    began = time.monotonic()
    cli, why_not = install()
    method = (
        f"Wall time from spawn to exit, {repeat} alternating runs per tool and command after one untimed warm-up "
        "run each (page cache warm for both). Ours is the venv's `capawesome-ci` console script; the anchor is "
        "`capawesome` from `npm install @capawesome/cli`. Peak RSS from wait4."
    )
    with cli_session(None) as (workdir, cli_env, blocker):
        argvs: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
        for command in COMMANDS:
            argvs[OURS, command] = ([str(VENV_BIN / "capawesome-ci"), command], clean_env())
            if cli is not None:
                argvs[OFFICIAL, command] = ([str(cli.binary), command], cli_env)
        for argv, env in argvs.values():  # warm-up, not timed
            measure(argv, env, workdir)
        results: dict[tuple[str, str], list[Measurement]] = {key: [] for key in argvs}
        for repetition in range(repeat):
            for key in rotated(list(argvs), repetition):
                argv, env = argvs[key]
                measurement = measure(argv, env, workdir)
                if not measurement.ok:
                    raise RuntimeError(f"{' '.join(argv)} exited {measurement.returncode}: {measurement.stderr_tail}")
                results[key].append(measurement)
        phone_home_attempts = blocker.attempts

    rows: list[list[str]] = []
    targets: list[Target] = []
    for command in COMMANDS:
        ours = [m.seconds for m in results[OURS, command]]
        row = [f"`{command}`", with_spread(ours, 3), fmt(median([m.peak_rss_mib for m in results[OURS, command]]), 0)]
        targets.append(
            Target(f"`{command}` ≤ {TARGET_SECONDS:.2f} s", f"{median(ours):.3f} s", median(ours) <= TARGET_SECONDS)
        )
        if cli is not None:
            theirs = [m.seconds for m in results[OFFICIAL, command]]
            speedup = median(theirs) / median(ours)
            rss = median([m.peak_rss_mib for m in results[OFFICIAL, command]])
            row += [with_spread(theirs, 3), fmt(rss, 0), ratio(median(theirs), median(ours))]
            goal = f"`{command}` ≥ {TARGET_SPEEDUP:.0f}× faster than the official CLI"
            targets.append(Target(goal, f"{speedup:.1f}×", speedup >= TARGET_SPEEDUP))
        else:
            row += ["—", "—", "—"]
        rows.append(row)
    header = [
        "command",
        f"{OURS} s (spread)",
        "ours peak RSS MiB",
        f"{OFFICIAL} s (spread)",
        "CLI peak RSS MiB",
        "speed-up (CLI ÷ ours)",
    ]
    notes = []
    if cli is None:
        notes.append(f"Official CLI anchor skipped: {why_not}.")
        targets.append(Target(f"≥ {TARGET_SPEEDUP:.0f}× faster than the official CLI", "no anchor", None))
    else:
        notes.append(f"Official CLI {cli.version}; update checks blocked during these runs: {phone_home_attempts}.")
    return Section(TITLE, method, [Table(header, rows)], targets, notes, seconds=time.monotonic() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    print(run(parser.parse_args().repeat).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
