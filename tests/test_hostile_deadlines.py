"""Every time limit is a deadline, against a server that never answers, trickles, or answers late.

`--timeout` bounds every request of a step (connects, reads, retries, Retry-After sleeps, downloads);
on expiry the cloud job is cancelled within its own grace and the exit is 124 within a couple of
seconds. Signals write the outputs before any exit, and bad connection settings are refused before
any request is sent.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from capawesome_ci.cloud.retry import RetryingTransport
from capawesome_ci.deadline import DeadlineExceeded, deadline_scope
from tests.hostile import Delayed, Json, Raw, Silent, Trickle

# How far past its deadline a step may end: the cancel's grace is 5 s but these servers answer it at once.
SLACK = 3.0


def timed(run: Any, *args: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = run(*args, **kwargs)
    return result, time.monotonic() - started


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize(
    "answer",
    [
        Silent(),
        Trickle(interval=0.5),
        Json({"error": "slow down"}, 429, {"Retry-After": "100"}),
        Json({"error": "busy"}, 503, {"Retry-After": "100"}),
    ],
    ids=["silent", "trickle", "429-retry-after-100", "503-retry-after-100"],
)
def test_wait_timeout_is_a_deadline_and_cancels_the_job(hostile: Any, hostile_cli: Any, answer: Any) -> None:
    hostile.job["status"] = "in_progress"
    hostile.route("GET", "/v1/jobs/*", answer)
    result, took = timed(hostile_cli, "wait", "--build-id", "build-1", "--timeout", "2s", "--json", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert hostile.requested("PATCH", "/v1/jobs/job-1"), "the job was not canceled"
    assert hostile.requested("PATCH", "/v1/jobs/job-1")[0].json() == {"status": "canceled"}
    assert result.json["status"] == "timed_out"
    assert "--timeout of 2 s reached" in one_error_line(result.stderr)


def test_the_cancel_itself_is_bounded_by_its_grace(hostile: Any, hostile_cli: Any) -> None:
    hostile.job["status"] = "in_progress"
    hostile.route("PATCH", "/v1/jobs/*", Delayed(30, Json({"id": "job-1", "status": "canceled"})))
    result, took = timed(hostile_cli, "wait", "--build-id", "build-1", "--timeout", "1s", "--json", timeout=40)
    assert result.code == 124, result.stderr
    assert took < 1 + 5 + SLACK, took
    assert "may still be running" in result.json["error"]


def test_no_cancel_on_timeout_leaves_the_job_alone(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("GET", "/v1/jobs/*", Silent())
    result, took = timed(hostile_cli, "wait", "--build-id", "build-1", "--timeout", "1s", "--no-cancel-on-timeout")
    assert result.code == 124 and took < 1 + SLACK
    assert not hostile.requested("PATCH", "/v1/jobs/*")


@pytest.mark.parametrize("answer", [Silent(), Trickle(interval=0.2)], ids=["silent", "trickle"])
def test_download_timeout_bounds_the_transfer_and_leaves_nothing(
    hostile: Any, hostile_cli: Any, tmp_path: Path, answer: Any
) -> None:
    hostile.artifact["totalSizeInBytes"] = len(Trickle().body)
    hostile.route("GET", "/v1/apps/*/builds/*/artifacts/*/download", answer)
    result, took = timed(
        hostile_cli, "download", "--build-id", "build-1", "--output-dir", "out", "--timeout", "2s", "--json"
    )
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert list((tmp_path / "out").iterdir()) == []
    assert result.json["artifacts"] == []


def test_build_timeout_bounds_its_download(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    hostile.artifact["totalSizeInBytes"] = len(Trickle().body)
    hostile.route("GET", "/v1/apps/*/builds/*/artifacts/*/download", Trickle(interval=0.2))
    result, took = timed(
        hostile_cli,
        "build",
        "--platform",
        "android",
        "--download",
        "apk",
        "--output-dir",
        "out",
        "--timeout",
        "3s",
        "--json",
    )
    assert result.code == 124, result.stderr
    assert took < 3 + SLACK, took
    assert "downloading" in result.json["error"]
    assert list((tmp_path / "out").iterdir()) == []


def test_a_stalled_download_resumes_then_gives_up_with_75(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    body = bytes(range(256)) * 64  # 16 KiB, sent a byte every 0.1 s: far below 1 KiB a second
    hostile.artifact_bytes = body
    hostile.artifact["totalSizeInBytes"] = len(body)
    hostile.route("GET", "/v1/apps/*/builds/*/artifacts/*/download", Trickle(body=body, interval=0.1))
    result, took = timed(
        hostile_cli, "download", "--build-id", "build-1", "--output-dir", "out", "--stall-timeout", "1s", "--json"
    )
    assert result.code == 75, result.stderr
    assert "without progress" in result.json["error"]
    downloads = hostile.requested("GET", "/v1/apps/*/builds/*/artifacts/*/download")
    assert len(downloads) == 4  # the first try and three resumes
    assert all("bytes=" in r.headers.get("Range", "") for r in downloads[1:])
    assert list((tmp_path / "out").iterdir()) == []
    assert took < 20


def test_a_silent_download_is_a_stall(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    hostile.route("GET", "/v1/apps/*/builds/*/artifacts/*/download", Silent())
    result = hostile_cli("download", "--build-id", "build-1", "--output-dir", "out", "--stall-timeout", "0.5s")
    assert result.code == 75, result.stderr
    assert len(hostile.requested("GET", "/v1/apps/*/builds/*/artifacts/*/download")) >= 4


def start(server: Any, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", *args],
        env=server.env(**env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigint_then_sigterm_still_writes_the_outputs(hostile: Any, tmp_path: Path) -> None:
    """What a GitHub runner does on cancel: SIGINT, then SIGTERM while we are still canceling."""
    hostile.job["status"] = "in_progress"
    hostile.route("PATCH", "/v1/jobs/*", Silent())  # the cancel hangs
    output = tmp_path / "github_output"
    output.touch()
    process = start(
        hostile, tmp_path, "--ci", "github", "wait", "--build-id", "build-1", "--json", GITHUB_OUTPUT=str(output)
    )
    wait_until(lambda: hostile.requested("GET", "/v1/jobs/job-1/logs"))
    process.send_signal(signal.SIGINT)
    wait_until(lambda: hostile.requested("PATCH", "/v1/jobs/job-1"))
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    assert time.monotonic() - sent < 2.0
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert json.loads(stdout)["status"] == "canceled"
    assert "::error" in stderr
    outputs = output.read_text()
    assert "status<<" in outputs and "\ncanceled\n" in outputs


def test_a_signal_during_a_pending_build_says_the_build_may_exist(hostile: Any, tmp_path: Path) -> None:
    hostile.route("POST", "/v1/apps/*/builds", Silent())
    process = start(hostile, tmp_path, "build", "--platform", "android", "--json")
    wait_until(lambda: hostile.requested("POST", "/v1/apps/*/builds"))
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 143, stderr
    error = json.loads(stdout)["error"]
    assert "POST /v1/apps/app-hostile/builds" in error and "may have taken effect" in error


@pytest.mark.parametrize(
    ("args", "files", "names"),
    [
        (["--token-file", "token.txt"], {"token.txt": "cap_first\ncap_second\n"}, "--token-file"),
        (["--token", "a\r\nX-Injected: y"], {}, "--token"),
        (["--token", "cap_tökén"], {}, "--token"),
        (["--token", "cap with space"], {}, "--token"),
        (["--token-file", "token.txt"], {"token.txt": b"\xff\xfe"}, "--token-file"),
        (["--base-url", "not a url"], {}, "--base-url"),
        (["--base-url", "ftp://x"], {}, "--base-url"),
        (["--base-url", "http://[::1"], {}, "--base-url"),
        (["--base-url", "http://host:port"], {}, "--base-url"),
        (["--base-url", "https://user:secret@api.example"], {}, "--base-url"),
    ],
)
def test_bad_connection_settings_are_input_errors_before_any_request(
    hostile: Any, hostile_cli: Any, tmp_path: Path, args: list[str], files: dict[str, Any], names: str
) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    result, took = timed(hostile_cli, *args, "wait", "--build-id", "build-1", "--json")
    assert result.code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert names in line
    for secret in ("cap_first", "cap_second", "X-Injected", "tökén", "secret"):
        assert secret not in result.output
    assert hostile.requests == []
    assert took < 5


def test_a_bad_base_url_from_the_environment_names_the_variable(hostile: Any, hostile_cli: Any) -> None:
    result = hostile_cli("wait", "--build-id", "build-1", env={"CAPAWESOME_CLOUD_BASE_URL": "ftp://x"})
    assert result.code == 2
    assert "CAPAWESOME_CLOUD_BASE_URL" in one_error_line(result.stderr)


# -- the transport, in-process -----------------------------------------------------------------------
def test_each_attempt_waits_at_most_what_is_left_of_the_deadline() -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        return httpx.Response(200, json={})

    client = httpx.Client(transport=RetryingTransport(httpx.MockTransport(handler)), timeout=120)
    with deadline_scope(3, "--timeout of 3 s"):
        client.get("https://api.example/v1/jobs/x")
    assert set(seen[0]) == {"connect", "read", "write", "pool"}
    assert all(0 < value <= 3 for value in seen[0].values())
    client.get("https://api.example/v1/jobs/x")
    assert seen[1]["read"] == 120  # outside a scope, the client's own timeouts


def test_a_retry_that_would_sleep_past_the_deadline_is_not_made() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "30"})

    client = httpx.Client(transport=RetryingTransport(httpx.MockTransport(handler)))
    started = time.monotonic()
    with deadline_scope(2, "--timeout of 2 s"), pytest.raises(DeadlineExceeded, match="would pass before GET"):
        client.get("https://api.example/v1/jobs/x")
    assert len(calls) == 1 and time.monotonic() - started < 1


def test_an_expired_deadline_sends_nothing() -> None:
    calls = []
    client = httpx.Client(transport=RetryingTransport(httpx.MockTransport(lambda r: calls.append(r) or Raw())))
    with deadline_scope(0, "--timeout of 0 s"), pytest.raises(DeadlineExceeded):
        client.post("https://api.example/v1/apps/a/builds")
    assert calls == []
