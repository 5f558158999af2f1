"""Behaviour under injected faults: never a duplicated mutation, transient faults survived, broken
downloads resumed or failed cleanly. Every scenario counts towards the README's Reliability table."""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.sandbox import Sandbox, parse_fault
from tests import reliability
from tests.conftest import make_site

BUILD = ["build", "--platform", "web", "--json"]


def processed(sandbox: Sandbox, method: str, suffix: str) -> int:
    """Requests that reached a handler (faults answered before it are recorded with their status too,
    so count only answers the handler produced: any status the fault did not inject)."""
    return sum(1 for r in sandbox.state.requests if r.method == method and r.path.endswith(suffix))


MUTATIONS = [
    # fault, command, method + path suffix of the mutation, what the sandbox must hold afterwards
    ("POST /v1/apps/*/builds 502 after", BUILD, ("POST", "/builds"), "builds"),
    ("POST /v1/apps/*/builds 500", BUILD, ("POST", "/builds"), None),
    ("POST /v1/apps/*/builds reset after", BUILD, ("POST", "/builds"), "builds"),
    ("POST /v1/apps/*/builds 503 after times=0", BUILD, ("POST", "/builds"), "builds"),
    (
        "POST /v1/apps/*/deployments 503 after",
        ["deploy", "--build-number", "1", "--channel", "beta"],
        ("POST", "/deployments"),
        None,
    ),
    (
        "PATCH /v1/apps/*/deployments/* 502 after",
        ["rollout", "--channel", "production", "--percentage", "40"],
        ("PATCH", ""),
        None,
    ),
    ("POST /v1/apps/*/bundles 502 after", ["live-update", "--path", "www"], ("POST", "/bundles"), None),
    ("POST /v1/apps/*/bundles/*/files reset after", ["live-update", "--path", "www"], ("POST", "/files"), None),
    ("PATCH /v1/apps/*/bundles/* 504 after", ["live-update", "--path", "www"], ("PATCH", ""), None),
    ("POST */upload 502 after", ["live-update", "--path", "www"], ("POST", "/upload"), None),
    ("POST /v1/apps/*/builds/*/shares 502 after", [*BUILD, "--share"], ("POST", "/shares"), None),
    ("POST /v1/apps/*/builds malformed-json", BUILD, ("POST", "/builds"), None),
]


@pytest.mark.parametrize(("fault", "args", "mutation", "_"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_failed_mutation_is_never_repeated(
    cli: Any, sandbox: Sandbox, tmp_path: Path, fault: str, args: list[str], mutation: tuple[str, str], _: Any
) -> None:
    make_site(tmp_path / "www", big=11 * 1024 * 1024)  # the zip needs the multipart flow
    # Something to deploy and roll out.
    assert cli("build", "--platform", "web", "--channel", "production").code == 0
    before = Counter((r.method, r.path) for r in sandbox.state.requests)
    sandbox.faults.add(parse_fault(fault))
    result = cli("--json", *args)
    reliability.count("fault scenarios run")
    after = Counter((r.method, r.path) for r in sandbox.state.requests) - before
    method, suffix = mutation
    attempts = {
        path: n for (m, path), n in after.items() if m == method and path.endswith(suffix) and "mpu-" not in path
    }
    duplicated = sum(n - 1 for n in attempts.values() if n > 1)
    reliability.count("mutations duplicated", duplicated)
    assert duplicated == 0, (fault, attempts)
    assert result.code == 75, (fault, result.stderr[-1500:])
    assert "may have" in result.json["error"] or "not retried" in result.json["error"]
    assert len(result.stderr.strip().splitlines()[-1]) < 400
    reliability.count("fault scenarios survived")


SURVIVED = [
    ("GET /v1/jobs/* 503 times=3", BUILD),
    ("GET /v1/jobs/* reset times=2", BUILD),
    ("GET /v1/jobs/*/logs html=502 times=2", BUILD),
    ("GET * 429 retry-after=1 times=2", BUILD),
    ("POST /v1/apps/*/builds 429 retry-after=1", BUILD),
    ("GET /v1/jobs/* malformed-json times=1", BUILD),
    ("GET /v1/jobs/* truncated-json times=1", BUILD),
    ("* * latency=0.2 times=6", BUILD),
    ("PUT */upload 503 times=2", ["live-update", "--path", "www"]),
    ("PUT */upload reset times=1", ["live-update", "--path", "www"]),
]


@pytest.mark.parametrize(("fault", "args"), SURVIVED, ids=[s[0] for s in SURVIVED])
def test_transient_faults_are_survived(cli: Any, sandbox: Sandbox, tmp_path: Path, fault: str, args: list[str]) -> None:
    make_site(tmp_path / "www", big=11 * 1024 * 1024)  # the zip needs the multipart flow
    sandbox.faults.add(parse_fault(fault))
    result = cli("--json", *args)
    reliability.count("fault scenarios run")
    assert result.code == 0, (fault, result.stderr[-2000:])
    assert result.json["status"] == "succeeded"
    processed_mutations = Counter(
        (r.method, r.path) for r in sandbox.state.requests if r.method in ("POST", "PATCH") and r.status < 300
    )
    assert all(n == 1 for path, n in processed_mutations.items() if "/upload" not in path[1]), processed_mutations
    reliability.count("fault scenarios survived")


def test_retry_after_as_an_http_date(cli: Any, sandbox: Sandbox) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    sandbox.faults.add(parse_fault(f"GET /v1/apps/* 429 retry-after={when.replace(' ', '_')}"))
    # An HTTP date has spaces: give it through the Python API instead of the one-line form.
    sandbox.faults.clear()
    fault = parse_fault("GET /v1/apps/*/channels 429")
    fault.retry_after = when
    sandbox.faults.add(fault)
    started = time.monotonic()
    result = cli("rollout", "--channel", "production", "--percentage", "5")
    reliability.count("fault scenarios run")
    assert result.code == 4  # no deployment on the channel yet: the request got through after waiting
    assert time.monotonic() - started >= 1.0
    reliability.count("fault scenarios survived")


@pytest.mark.parametrize("times", [1, 2])
def test_download_reset_mid_body_resumes_and_matches(cli: Any, sandbox: Sandbox, tmp_path: Path, times: int) -> None:
    built = cli("build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_ARTIFACT_SIZE=3000000", "--json").json
    sandbox.faults.add(parse_fault(f"GET */download reset-mid-body=1000000 times={times}"))
    result = cli("download", "--build-id", built["buildId"], "--output-dir", "out", "--json")
    reliability.count("fault scenarios run")
    assert result.code == 0, result.stderr
    artifact = result.json["artifacts"][0]
    from capawesome_ci.sandbox.artifacts import artifact_sha256

    assert artifact["sha256"] == artifact_sha256(sandbox.state.artifact_seed(artifact["id"]), 3_000_000)
    ranges = [r for r in sandbox.state.requests if r.path.endswith("/download")]
    assert len(ranges) == times + 1
    reliability.count("fault scenarios survived")


def test_a_download_that_keeps_breaking_leaves_nothing_behind(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    built = cli("build", "--platform", "android", "--var", "CAPAWESOME_SANDBOX_ARTIFACT_SIZE=2000000", "--json").json
    sandbox.faults.add(parse_fault("GET */download reset-mid-body=0 times=0"))
    result = cli("download", "--build-id", built["buildId"], "--output-dir", "out", "--json")
    reliability.count("fault scenarios run")
    assert result.code == 75, result.stderr  # transient: running again may well work
    assert "without progress" in result.json["error"]
    assert list((tmp_path / "out").iterdir()) == []  # no partial file, no temporary file
    reliability.count("fault scenarios survived")
