"""Startup: `--version` and `--help` of capawesome-ci vs the official CLI, and a real command:
`wait` on a build that has finished already, against a loopback sandbox, vs the official CLI's
`apps:builds:get`, with where ours spends its time.

    python bench/startup.py [--repeat 5]

Targets (ours): `--version`/`--help` ≤ 0.10 s and ≥ 15× faster than the official CLI;
`wait` on a finished build ≤ 0.12 s.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from _harness import CACHE_DIR, VENV_BIN, Measurement, clean_env, fmt, measure, median, ratio, rotated, with_spread
from _official_cli import cli_session, install
from _report import Section, Table, Target
from _sandbox import SandboxClient, sandbox_process

TITLE = "1. Startup"
TARGET_SECONDS = 0.10
TARGET_SPEEDUP = 15.0
TARGET_WAIT_SECONDS = 0.12
COMMANDS = ("--version", "--help")
WAIT = "wait on a finished build (loopback)"
SPLIT = "wait, timed from inside"
OURS, OFFICIAL = "capawesome-ci", "official CLI"
PYTHON = VENV_BIN / "python"
# Bytecode as an installed package has it (pip compiles it at install time). This tree is an editable
# install and the shell may say PYTHONDONTWRITEBYTECODE: without a cache, every run would compile
# each of our modules again (about 40 ms). The cache lives outside the tree.
PYCACHE = CACHE_DIR / "pycache"
# Import-time buckets: each package with its dependencies (and the standard library it imports).
PACKAGES = {
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions"),
    "httpx": ("httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi"),
    "capawesome_ci (incl. building its pydantic models)": ("capawesome_ci",),
}
OTHER = "other"
REQUEST_LINE = re.compile(r"debug: (GET|POST|PUT|PATCH|DELETE) \S+ -> \d+ \((\d+) ms\)")
# Runs the command in-process and reports, at exit, the modules it loaded in the order it loaded them.
MODULES_PROBE = """
import json, sys
from capawesome_ci.cli import main
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as report:
        json.dump(list(sys.modules), report)
"""
# The same run, timed from inside: first the modules a run loads (argv[2], comma-separated, in the order
# it loads them), then the command itself; writes both durations to argv[1]. The process's wall time
# minus these is the interpreter's own start and exit.
SPLIT_RUN = """
import time
began = time.perf_counter()
import importlib, json, sys
for name in sys.argv[2].split(","):
    try:
        importlib.import_module(name)
    except Exception:
        pass
imported = time.perf_counter()
from capawesome_ci.cli import main
report, sys.argv = sys.argv[1], ["capawesome-ci", *sys.argv[3:]]  # main() as the program calls it
code = main()
ended = time.perf_counter()
with open(report, "w") as file:
    json.dump({"imports": imported - began, "run": ended - imported}, file)
sys.exit(code)
"""


def ours_env(**extra: str) -> dict[str, str]:
    env = clean_env(PYTHONPYCACHEPREFIX=str(PYCACHE), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def finished_build(client: SandboxClient) -> str:
    build = client.create_build()
    client.wait_until_succeeded(str(build["jobId"]))
    return str(build["id"])


def modules_of_a_run(argv: Sequence[str], env: dict[str, str], scratch: Path) -> list[str]:
    """The modules a run of ours loads that the bare interpreter has not: its imports."""
    report = scratch / "modules.json"
    subprocess.run([str(PYTHON), "-c", MODULES_PROBE, str(report), *argv], env=env, capture_output=True, check=True)
    bare = subprocess.run(
        [str(PYTHON), "-c", "import sys; print(','.join(sys.modules))"], env=env, capture_output=True, text=True
    )
    already = set(bare.stdout.strip().split(","))
    return [name for name in json.loads(report.read_text()) if name not in already and name != "__main__"]


def package_of(module: str) -> str | None:
    top = module.split(".")[0]
    return next((name for name, packages in PACKAGES.items() if top in packages), None)


def import_shares(argv: Sequence[str], modules: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    """Each package's share of the import time, from `-X importtime` self times (median per package).
    A standard-library module counts for the package that imported it first (email for httpx or for
    pydantic's plugin loader, whichever came first); one our code imports counts for ours. The step
    and the adapter, which our code loads with importlib.import_module, are imported up front here:
    -X importtime does not report those (the cost is the same)."""
    code = (
        "import sys\nimport capawesome_ci.steps.wait, capawesome_ci.cloud.capawesome\n"
        "from capawesome_ci.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    totals: dict[str, list[float]] = {name: [] for name in [*PACKAGES, OTHER]}
    wanted = set(modules)
    for _ in range(repeat):
        run = subprocess.run(
            [str(PYTHON), "-X", "importtime", "-c", code, *argv], env=env, capture_output=True, text=True
        )
        rows = re.findall(r"^import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)$", run.stderr, re.MULTILINE)
        sums: Counter[str] = Counter()
        owners: list[str] = []  # by depth, parents first: the lines come children first, so read backwards
        for self_us, indent, module in reversed(rows):
            depth = len(indent) // 2
            del owners[depth:]
            owner = package_of(module) or (owners[-1] if owners else OTHER)
            owners.append(owner)
            if module in wanted:
                sums[owner] += int(self_us)
        for name in totals:
            totals[name].append(sums[name])
    medians = {name: median(values) for name, values in totals.items()}
    whole = sum(medians.values()) or 1
    return {name: value / whole for name, value in medians.items()}


def request_seconds(argv: Sequence[str], env: dict[str, str], repeat: int) -> tuple[float, int]:
    """The time of the run's HTTP exchanges as --debug reports them (median sum), and their number."""
    sums, counts = [], []
    for _ in range(repeat):
        run = subprocess.run(
            [str(VENV_BIN / "capawesome-ci"), *argv, "--debug"], env=env, capture_output=True, text=True
        )
        took = [int(match.group(2)) for match in REQUEST_LINE.finditer(run.stderr)]
        sums.append(sum(took) / 1000)
        counts.append(len(took))
    return median(sums), int(median(counts))


def run(repeat: int = 5) -> Section:
    began = time.monotonic()
    cli, why_not = install()
    method = (
        f"Wall time from spawn to exit, {repeat} alternating runs per tool and command after one untimed warm-up "
        "run each (page cache warm for both). Ours is the venv's `capawesome-ci` console script, with its bytecode "
        "cached as an installed package has it; the anchor is `capawesome` from `npm install @capawesome/cli`. "
        f'Peak RSS from wait4. "{WAIT}": one sandbox (`capawesome-ci sandbox serve`, its own process, started '
        "once, outside the timing) holds a build that has succeeded; ours runs `wait --build-id <it>` (3 requests: "
        "build, job, log lines; prints the log), the CLI `apps:builds:get --app-id … --build-id …` (1 request), "
        "the closest command it has."
    )
    with (
        sandbox_process("--run-seconds", "0.1", "--log-lines", "20") as client,
        cli_session(client) as (
            workdir,
            cli_env,
            blocker,
        ),
    ):
        build_id = finished_build(client)
        wait_args = ["wait", "--build-id", build_id]
        wait_env = ours_env(**client.tool_env())
        argvs: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
        for command in COMMANDS:
            argvs[OURS, command] = ([str(VENV_BIN / "capawesome-ci"), command], ours_env())
            if cli is not None:
                argvs[OFFICIAL, command] = ([str(cli.binary), command], cli_env)
        argvs[OURS, WAIT] = ([str(VENV_BIN / "capawesome-ci"), *wait_args], wait_env)
        if cli is not None:
            get = ["apps:builds:get", "--app-id", client.app_id, "--build-id", build_id]
            argvs[OFFICIAL, WAIT] = ([str(cli.binary), *get], cli_env)
        # For the breakdown of ours: the same run, its imports and the command timed from inside.
        modules = modules_of_a_run(wait_args, wait_env, workdir)
        split_report = workdir / "split.json"
        split_argv = [str(PYTHON), "-c", SPLIT_RUN, str(split_report), ",".join(modules), *wait_args]
        argvs[OURS, SPLIT] = (split_argv, wait_env)
        for argv, env in argvs.values():  # warm-up (and bytecode cache), not timed
            measure(argv, env, workdir)
        results: dict[tuple[str, str], list[Measurement]] = {key: [] for key in argvs}
        splits: list[dict[str, float]] = []
        for repetition in range(repeat):
            for key in rotated(list(argvs), repetition):
                argv, env = argvs[key]
                measurement = measure(argv, env, workdir)
                if not measurement.ok:
                    raise RuntimeError(f"{' '.join(argv)} exited {measurement.returncode}: {measurement.stderr_tail}")
                results[key].append(measurement)
                if key == (OURS, SPLIT):
                    splits.append({**json.loads(split_report.read_text()), "whole": measurement.seconds})
        phone_home_attempts = blocker.attempts
        shares = import_shares(wait_args, modules, wait_env, repeat)
        requests, request_count = request_seconds(wait_args, wait_env, repeat)

    rows: list[list[str]] = []
    targets: list[Target] = []
    for command in (*COMMANDS, WAIT):
        ours = [m.seconds for m in results[OURS, command]]
        label = f"`{command}`" if command in COMMANDS else f"{WAIT}: `wait --build-id` vs `apps:builds:get`"
        row = [label, with_spread(ours, 3), fmt(median([m.peak_rss_mib for m in results[OURS, command]]), 0)]
        limit = TARGET_SECONDS if command in COMMANDS else TARGET_WAIT_SECONDS
        name = f"`{command}`" if command in COMMANDS else "`wait` on a finished build (loopback)"
        targets.append(Target(f"{name} ≤ {limit:.2f} s", f"{median(ours):.3f} s", median(ours) <= limit))
        if cli is not None:
            theirs = [m.seconds for m in results[OFFICIAL, command]]
            speedup = median(theirs) / median(ours)
            rss = median([m.peak_rss_mib for m in results[OFFICIAL, command]])
            row += [with_spread(theirs, 3), fmt(rss, 0), ratio(median(theirs), median(ours))]
            if command in COMMANDS:
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
    tables = [Table(header, rows), breakdown(splits, shares, requests, request_count, len(modules))]
    notes = []
    if cli is None:
        notes.append(f"Official CLI anchor skipped: {why_not}.")
        targets.append(Target(f"≥ {TARGET_SPEEDUP:.0f}× faster than the official CLI", "no anchor", None))
    else:
        notes.append(f"Official CLI {cli.version}; update checks blocked during these runs: {phone_home_attempts}.")
    return Section(TITLE, method, tables, targets, notes, seconds=time.monotonic() - began)


def breakdown(
    splits: list[dict[str, float]], shares: dict[str, float], requests: float, request_count: int, module_count: int
) -> Table:
    """Where ours spends the wall time of `wait` on a finished build, from the runs timed from inside:
    the imports (split by package with `-X importtime`), the command (of which the requests, as
    --debug times them), and the interpreter's own start and exit (the rest of the wall time)."""
    whole = median([split["whole"] for split in splits])
    imports = median([split["imports"] for split in splits])
    command = median([split["run"] for split in splits])
    interpreter = median([split["whole"] - split["imports"] - split["run"] for split in splits])
    parts = [("interpreter start and exit (site included)", interpreter)]
    parts += [(f"imports: {name}", imports * share) for name, share in shares.items()]
    parts += [
        (f"the command: its {request_count} requests over loopback (as `--debug` times them)", requests),
        (
            "the command: the rest (argv, input validation, the HTTP client, printing the log and result)",
            command - requests,
        ),
    ]
    rows = [[part, fmt(seconds * 1000, 1), f"{seconds / whole:.0%}"] for part, seconds in parts]
    rows.append(["**whole run, timed from inside (median)**", fmt(whole * 1000, 1), "100%"])
    caption = (
        f"Where ours spends `wait` on a finished build ({module_count} modules imported beyond the bare "
        "interpreter's): the same run with its imports done first, timed from inside, in the same alternation; "
        "each package's import time counts the standard-library modules it imported first."
    )
    return Table(["part", "ms", "share"], rows, caption)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    print(run(parser.parse_args().repeat).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
