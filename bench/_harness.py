"""Shared plumbing for the benchmarks: a sandbox in its own process, and child processes measured
by the OS (wall time and peak RSS from wait4), not by Python's allocator."""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


@dataclass
class Measurement:
    seconds: float
    peak_rss_mib: float
    returncode: int


def measure(argv: Sequence[str], env: dict[str, str] | None = None) -> Measurement:
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if process.stderr is not None:
        process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(elapsed, usage.ru_maxrss / 1024, process.returncode)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


@dataclass
class RunningSandbox:
    base_url: str
    token: str
    app_id: str

    def api(self, method: str, path: str, **kwargs: object) -> object:
        response = httpx.request(
            method, self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=60, **kwargs
        )  # type: ignore[arg-type]
        response.raise_for_status()
        return response.json() if response.content else None


@contextmanager
def sandbox_process(*extra: str) -> Iterator[RunningSandbox]:
    """`capawesome-ci sandbox serve` in its own process, so its memory is not ours."""
    token = "cap_bench_" + secrets.token_hex(8)
    process = subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", "sandbox", "serve", "--token", token, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base_url = app_id = ""
        assert process.stdout is not None
        for line in process.stdout:
            for word in line.replace("=", " ").split():
                if word.startswith("http://127.0.0.1:"):
                    base_url = word.rstrip("/")
            if "CAPAWESOME_APP_ID" in line:
                app_id = line.split("CAPAWESOME_APP_ID=")[1].split()[0]
            if base_url and app_id:
                break
        if not (base_url and app_id):
            raise RuntimeError("the sandbox did not announce its URL and app id")
        yield RunningSandbox(base_url, token, app_id)
    finally:
        process.terminate()
        process.wait(10)


def succeeded_build(sandbox: RunningSandbox, **variables: str) -> dict[str, object]:
    app = f"/v1/apps/{sandbox.app_id}"
    build = sandbox.api("POST", f"{app}/builds", json={"platform": "android", "adHocEnvironmentVariables": variables})
    assert isinstance(build, dict)
    while True:
        job = sandbox.api("GET", f"/v1/jobs/{build['jobId']}")
        assert isinstance(job, dict)
        if job["status"] == "succeeded":
            return build
        if job["status"] in ("failed", "canceled", "rejected", "timed_out"):
            raise RuntimeError(f"bench build ended {job['status']}")
        time.sleep(0.2)
