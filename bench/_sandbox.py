"""The sandbox, two ways: in this process with every exchange metered (requests, response bytes,
arrival time), or in its own process when it has to move gigabytes and its memory and CPU must not
be mistaken for the harness's."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from capawesome_ci.sandbox.server import Request, Response

TERMINAL = ("succeeded", "failed", "canceled", "rejected", "timed_out")


@dataclass(frozen=True)
class Exchange:
    at: float  # time.monotonic() when the request reached the sandbox
    method: str
    path: str
    status: int
    response_bytes: int  # body bytes, as the Content-Length the sandbox sends


class MeteredSandbox(Sandbox):
    """A Sandbox that also notes, per request, when it arrived and how big the answer was:
    `state.requests` has neither, and a proxy would add a hop to every latency."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config)
        self.exchanges: list[Exchange] = []
        self._exchanges_lock = threading.Lock()

    def _dispatch(self, request: Request) -> Response:
        arrived = time.monotonic()
        response = super()._dispatch(request).encode()
        size = response.length if response.stream is not None else len(response.raw or b"")
        with self._exchanges_lock:
            self.exchanges.append(Exchange(arrived, request.method, request.path, response.status, size))
        return response

    def exchanges_since(self, index: int) -> list[Exchange]:
        with self._exchanges_lock:
            return self.exchanges[index:]

    def exchange_count(self) -> int:
        with self._exchanges_lock:
            return len(self.exchanges)


@dataclass(frozen=True)
class SandboxClient:
    """Where a sandbox listens and how to talk to it, whichever process it runs in."""

    base_url: str
    token: str
    app_id: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)

    def tool_env(self) -> dict[str, str]:
        """What capawesome-ci and the official SDK read to find this sandbox."""
        return {
            "CAPAWESOME_CLOUD_TOKEN": self.token,
            "CAPAWESOME_CLOUD_BASE_URL": self.base_url,
            "CAPAWESOME_APP_ID": self.app_id,
        }

    def create_build(self, **sandbox_variables: str) -> dict[str, Any]:
        """An android build steered by the sandbox's ad-hoc variables (duration, log lines, artifact size)."""
        body = {"platform": "android", "adHocEnvironmentVariables": sandbox_variables}
        build: dict[str, Any] = self.api("POST", f"/v1/apps/{self.app_id}/builds", json=body)
        return build

    def wait_until_succeeded(self, job_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.api("GET", f"/v1/jobs/{job_id}")["status"]
            if status == "succeeded":
                return
            if status in TERMINAL:
                raise RuntimeError(f"bench job {job_id} ended {status}")
            time.sleep(0.1)
        raise RuntimeError(f"bench job {job_id} did not finish within {timeout:g} s")

    def has_bundle_endpoints(self) -> bool:
        """The bundle upload endpoints arrive in the sandbox separately; 404 means not yet."""
        answer = self.request("POST", f"/v1/apps/{self.app_id}/bundles", json={"artifactType": "zip"})
        return answer.status_code != 404


@contextmanager
def metered_sandbox(**config: Any) -> Iterator[tuple[MeteredSandbox, SandboxClient]]:
    sandbox = MeteredSandbox(SandboxConfig(**config))
    with sandbox:
        yield sandbox, SandboxClient(sandbox.base_url, sandbox.token, sandbox.app_id)


@contextmanager
def sandbox_process(*serve_options: str) -> Iterator[SandboxClient]:
    """`capawesome-ci sandbox serve` in its own process: bulk transfers then cost the harness nothing."""
    token = "cap_bench_" + secrets.token_hex(8)
    process = subprocess.Popen(
        [sys.executable, "-m", "capawesome_ci", "sandbox", "serve", "--token", token, *serve_options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = app_id = ""
        # The announcement ends with an `export … CAPAWESOME_APP_ID=…` line; read up to it.
        for line in process.stdout:
            if match := re.search(r"CAPAWESOME_CLOUD_BASE_URL=(\S+)", line):
                base_url = match.group(1).rstrip("/")
            if match := re.search(r"CAPAWESOME_APP_ID=(\S+)", line):
                app_id = match.group(1)
            if base_url and app_id:
                break
        if not (base_url and app_id):
            raise RuntimeError("the sandbox did not announce its URL and app id")
        # Keep draining its output, so a chatty sandbox never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield SandboxClient(base_url, token, app_id)
    finally:
        process.terminate()
        process.wait(10)
