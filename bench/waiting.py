"""Waiting: follow a sandbox job that prints 20,000 log lines to its end — capawesome-ci `wait` vs the
official SDK's `jobs.wait` vs the official CLI's `apps:builds:logs`.

    python bench/waiting.py [--repeat 3]

Measures end-of-job detection latency (the job's known end → the tool's exit), the requests made
and the response bytes of the job/log endpoints, counted by the sandbox itself.
Targets (ours): latency ≤ 1.5 s median; log bytes ≤ 2× the log's size.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _harness import VENV_BIN, Measurement, clean_env, fmt, measure, median, ratio, rotated, with_spread
from _official_cli import cli_session, install
from _report import Section, Table, Target
from _sandbox import Exchange, MeteredSandbox, SandboxClient, metered_sandbox

TITLE = "2. Waiting for a job"
LOG_LINES = 20_000
BASE_SECONDS = 10.0
# Pollers detect the end at their next poll, so their latency depends on where the end falls in
# their poll cycle. Each repetition stretches the job by a different fraction of PHASE_SECONDS (the
# longest interval here, the SDK's 5 s), spreading that phase evenly instead of letting one fixed
# duration make a tool lucky or unlucky by construction.
PHASE_SECONDS = 5.0
TARGET_LATENCY = 1.5
TARGET_BYTES_FACTOR = 2.0
SDK_POLL_INTERVAL = 5
OURS, SDK, CLI = "capawesome-ci `wait`", "official SDK `jobs.wait`", "official CLI `apps:builds:logs`"
# The endpoints through which a client learns a job's state and log lines.
JOB_OR_LOG_PATH = re.compile(r"^/v1/jobs/[^/]+(/logs)?$|^/v1/apps/[^/]+/builds/[^/]+$")

SDK_WAIT = """
import os, sys
from capawesome_cloud import CapawesomeCloud
client = CapawesomeCloud(token=os.environ["CAPAWESOME_CLOUD_TOKEN"], base_url=os.environ["CAPAWESOME_CLOUD_BASE_URL"])
job = client.jobs.wait(sys.argv[1], poll_interval=float(sys.argv[2]))
sys.exit(0 if job.status == "succeeded" else 1)
"""


@dataclass(frozen=True)
class Follow:
    """One tool following one job."""

    measurement: Measurement
    latency: float
    requests: int
    job_and_log_bytes: int
    log_bytes: int  # the complete log as one GET /v1/jobs/{id}/logs answers it
    log_text_bytes: int  # the payloads alone, one line each


def job_durations(repeat: int) -> list[float]:
    return [BASE_SECONDS + PHASE_SECONDS * (index + 0.5) / repeat for index in range(repeat)]


def follow(sandbox: MeteredSandbox, client: SandboxClient, tool: str, duration: float, cli: CliRunner | None) -> Follow:
    build = client.create_build(
        CAPAWESOME_SANDBOX_LOG_LINES=str(LOG_LINES), CAPAWESOME_SANDBOX_RUN_SECONDS=f"{duration:.3f}"
    )
    job_id, build_id = str(build["jobId"]), str(build["id"])
    with sandbox.state.lock:
        job = sandbox.state.jobs[job_id]
        job_end = job.started + job.queue_seconds + job.run_seconds  # what finishedAt will say
    first = sandbox.exchange_count()
    if tool == OURS:
        argv, env, cwd = [str(VENV_BIN / "capawesome-ci"), "wait", "--job-id", job_id], tool_env(client), None
    elif tool == SDK:
        argv, env, cwd = [sys.executable, "-c", SDK_WAIT, job_id, str(SDK_POLL_INTERVAL)], tool_env(client), None
    else:
        assert cli is not None
        argv = [str(cli.binary), "apps:builds:logs", "--app-id", client.app_id, "--build-id", build_id]
        env, cwd = cli.env, cli.workdir
    measurement = measure(argv, env, cwd)
    exchanges = sandbox.exchanges_since(first)
    if not measurement.ok:
        raise RuntimeError(f"{tool} exited {measurement.returncode}: {measurement.stderr_tail}")
    complete_log = client.request("GET", f"/v1/jobs/{job_id}/logs")
    return Follow(
        measurement,
        latency=measurement.ended - job_end,
        requests=len(exchanges),
        job_and_log_bytes=job_and_log_bytes(exchanges),
        log_bytes=len(complete_log.content),
        log_text_bytes=sum(len(str(line["payload"]).encode()) + 1 for line in complete_log.json()),
    )


def job_and_log_bytes(exchanges: list[Exchange]) -> int:
    return sum(e.response_bytes for e in exchanges if JOB_OR_LOG_PATH.match(e.path))


def tool_env(client: SandboxClient) -> dict[str, str]:
    return clean_env(**client.tool_env())


@dataclass(frozen=True)
class CliRunner:
    binary: Path
    workdir: Path
    env: dict[str, str]


def run(repeat: int = 3) -> Section:
    began = time.monotonic()
    cli, why_not = install()
    durations = job_durations(repeat)
    method = (
        f"Each run creates a sandbox build whose job prints {LOG_LINES:,} log lines over "
        f"{', '.join(f'{d:.1f}' for d in durations)} s (one duration per repetition, so the end falls at a different "
        "point of every poll cycle), starts the tool right away and lets it follow the job to its end. Latency = the "
        "tool's exit (wait4) − the job's end (the instant the sandbox reports as `finishedAt`). Requests and response "
        'bytes are counted by the sandbox (in this process, every exchange metered); "job/log bytes" are the '
        'response bodies of `GET /v1/jobs/{id}`, `…/logs` and `…/builds/{id}`; "log size" is the complete log as '
        f"one `GET /v1/jobs/{{id}}/logs` returns it. {repeat} repetitions, tools alternating. The SDK polls every "
        f"{SDK_POLL_INTERVAL} s as asked; the CLI's interval is its fixed 3 s."
    )
    tools = [OURS, SDK] + ([CLI] if cli is not None else [])
    results: dict[str, list[Follow]] = {tool: [] for tool in tools}
    with metered_sandbox() as (sandbox, client), cli_session(client) as (workdir, cli_env, blocker):
        runner = CliRunner(cli.binary, workdir, cli_env) if cli is not None else None
        for repetition, duration in enumerate(durations):
            for tool in rotated(tools, repetition):
                results[tool].append(follow(sandbox, client, tool, duration, runner))
        update_checks = blocker.attempts
    ours = results[OURS]
    log_bytes = median([f.log_bytes for f in ours])
    rows = [row(tool, results[tool], log_bytes, ours) for tool in tools]
    header = [
        "tool",
        "latency s (spread)",
        "requests",
        "job/log KiB",
        "÷ log size",
        "peak RSS MiB",
        "latency ÷ ours",
        "bytes ÷ ours",
    ]
    ours_latency = median([f.latency for f in ours])
    ours_bytes = median([f.job_and_log_bytes for f in ours])
    targets = [
        Target(f"latency ≤ {TARGET_LATENCY} s (median)", f"{ours_latency:.2f} s", ours_latency <= TARGET_LATENCY),
        Target(
            f"job/log bytes ≤ {TARGET_BYTES_FACTOR:g}× the log's size",
            f"{ours_bytes / log_bytes:.2f}×",
            ours_bytes <= TARGET_BYTES_FACTOR * log_bytes,
        ),
    ]
    text = median([f.log_text_bytes for f in ours])
    notes = [
        f"Log size: {fmt(log_bytes / 2**20)} MiB as JSON ({LOG_LINES:,} lines; the payload text alone is "
        f"{fmt(text / 2**20)} MiB).",
        "How each follows the job: ours polls `GET /v1/jobs/{id}` and fetches only new lines "
        "(`GET …/logs?offset=…&limit=…`); the SDK's `jobs.wait` polls the job and fetches no log lines at all; the "
        "CLI refetches the build with `relations=job,job.jobLogs` — every line so far — every 3 s.",
    ]
    if cli is None:
        notes.append(f"Official CLI anchor skipped: {why_not}.")
    else:
        notes.append(f"Official CLI {cli.version}; update checks blocked during these runs: {update_checks}.")
    table = Table(header, rows)
    return Section(TITLE, method, [table], targets, notes, seconds=time.monotonic() - began)


def row(tool: str, follows: list[Follow], log_bytes: float, ours: list[Follow]) -> list[str]:
    latency = median([f.latency for f in follows])
    transferred = median([f.job_and_log_bytes for f in follows])
    ours_latency = median([f.latency for f in ours])
    ours_transferred = median([f.job_and_log_bytes for f in ours])
    return [
        tool,
        with_spread([f.latency for f in follows]),
        fmt(median([f.requests for f in follows]), 0),
        fmt(transferred / 2**10, 0),
        f"{transferred / log_bytes:.2f}×",
        fmt(median([f.measurement.peak_rss_mib for f in follows]), 0),
        ratio(latency, ours_latency),
        ratio(transferred, ours_transferred),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    print(run(parser.parse_args().repeat).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
