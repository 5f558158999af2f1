"""Real commands start fast (issue 16): a command imports only what it uses.

The CLI runs in a subprocess, for real, against the sandbox on loopback; at exit the probe writes
down which modules it loaded and how often a CA bundle was read. Not a timing test (bench/startup.py
times it): this keeps what made it slow from coming back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from capawesome_cloud.exceptions import exception_from_response

from capawesome_ci.cloud.errors import capawesome_message
from capawesome_ci.sandbox import Sandbox
from tests.conftest import cli_env

# Runs the CLI in this interpreter, then reports sys.modules and the CA bundle loads (certificate
# verification setup: the costly part of making an https client, useless for plain http).
PROBE = """
import json, ssl, sys
loads = []
original = ssl.SSLContext.load_verify_locations
def counted(self, *args, **kwargs):
    loads.append(1)
    return original(self, *args, **kwargs)
ssl.SSLContext.load_verify_locations = counted
from capawesome_ci.cli import main
code = 0
try:
    code = main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
finally:
    with open(sys.argv[1], "w") as report:
        json.dump({"modules": sorted(sys.modules), "ca_loads": len(loads)}, report)
sys.exit(code)
"""

# Never needed to follow a Capawesome build on loopback: the official SDK (its error bodies are read
# by cloud/errors.py), RSA signing, upload threads, the emulators, the other CIs' reporters, other
# steps and platforms.
NOT_FOR_WAIT = (
    "capawesome_cloud",
    "cryptography",
    "concurrent.futures",
    "capawesome_ci.sandbox",
    "capawesome_ci.devtools",
    "capawesome_ci.ci.github",
    "capawesome_ci.ci.gitlab",
    "capawesome_ci.ci.bitbucket",
    "capawesome_ci.ci.markdown",
    "capawesome_ci.ci.review_comment",
    "capawesome_ci.ci.action_inputs",
    "capawesome_ci.steps.build",
    "capawesome_ci.steps.bundle",
    "capawesome_ci.steps.download",
    "capawesome_ci.steps.deploy",
    "capawesome_ci.steps.deploy_release",
    "capawesome_ci.steps.live_update",
    "capawesome_ci.steps.rollout",
    "capawesome_ci.steps.wait_release",
    "capawesome_ci.steps.capwrapper",
    "capawesome_ci.cloud.capwrapper",
    "capawesome_ci.cloud.peak",
)
# --version and --help answer from the argument parser alone.
NOT_FOR_VERSION = ("pydantic", "httpx", "capawesome_ci.runner", "capawesome_ci.steps", "capawesome_ci.cloud")


def probe(args: list[str], sandbox: Sandbox | None, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    report = tmp_path / "probe.json"
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        env=cli_env(sandbox),
        cwd=tmp_path,
        timeout=60,
    )
    return completed, json.loads(report.read_text())


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [module for module in modules if any(module == name or module.startswith(name + ".") for name in names)]


def test_wait_on_a_finished_build_imports_only_what_it_uses(sandbox: Sandbox, cli: Any, tmp_path: Path) -> None:
    build = cli("build", "--platform", "web", "--json")
    assert build.code == 0, build.stderr
    completed, report = probe(["wait", "--build-id", build.json["buildId"], "--json"], sandbox, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["status"] == "succeeded"
    assert loaded(report["modules"], NOT_FOR_WAIT) == []
    assert report["ca_loads"] == 0  # plain http: no certificate store is read
    # What the command does need is there (the probe saw a real run).
    assert {"pydantic", "httpx", "capawesome_ci.steps.wait", "capawesome_ci.cloud.capawesome"} <= set(report["modules"])


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_step(flag: str, tmp_path: Path) -> None:
    completed, report = probe([flag], None, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert loaded(report["modules"], NOT_FOR_VERSION) == []


ERROR_BODIES: list[tuple[str, bytes, str]] = [
    ("application/json", b'{"message": "App not found."}', "a message"),
    ("application/json", b'{"error": "Unauthorized"}', "an error string"),
    ("application/json", b'{"error": [{"path": ["platform"], "message": "Required"}]}', "issues"),
    ("application/json", b'{"error": {"issues": [{"path": ["a", 0], "message": "x"}, {"message": "y"}]}}', "nested"),
    ("application/json", b'{"error": {"issues": [{"path": [], "message": ""}, 3]}}', "unusable issues"),
    ("application/json", b'"plain JSON string"', "a JSON string"),
    ("application/json", b"[1, 2]", "a list"),
    ("application/json", b"{}", "an empty object"),
    ("text/plain", b"  upstream timed out  ", "plain text"),
    ("text/html", b"<html><body>502 Bad Gateway</body></html>", "an HTML page"),
    ("text/plain", b"", "no body"),
    ("application/json", b"\xff\xfe not UTF-8", "undecodable bytes"),
]


@pytest.mark.parametrize("content_type,body,case", ERROR_BODIES, ids=[case for _, _, case in ERROR_BODIES])
@pytest.mark.parametrize("status", [400, 404, 502])
def test_error_bodies_read_as_the_sdk_reads_them(status: int, content_type: str, body: bytes, case: str) -> None:
    """cloud/errors.py reads Capawesome's error bodies itself so that no command imports the SDK."""
    request = httpx.Request("GET", "https://api.test/v1/apps/x")
    response = httpx.Response(status, headers={"Content-Type": content_type}, content=body, request=request)
    assert capawesome_message(response) == exception_from_response(response).message
