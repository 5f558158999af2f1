"""The httpx client every request of ours goes through, and the dry-run
interceptor that stops mutations at the wire, so the printed plan is exactly what would be sent."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from capawesome_ci import __version__
from capawesome_ci.cloud.methods import READ_METHODS
from capawesome_ci.cloud.paths import wire_path
from capawesome_ci.cloud.redirects import SameOriginRedirects
from capawesome_ci.cloud.retry import RetryingTransport, RetryPolicy

USER_AGENT = f"capawesome-ci/{__version__}"
# The id of everything a dry run would have created (the adapters turn it into no URL).
PLANNED_ID = "<planned>"
# Generous read timeout: failure summaries take about a minute; downloads stream chunk by chunk.
DEFAULT_TIMEOUT = httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=15.0)
# Body keys whose values are user data that may be sensitive; a dry-run plan shows only the keys.
REDACTED_BODY_KEYS = frozenset({"adHocEnvironmentVariables"})

PlanRecorder = Callable[[str, str, Any], None]


def redact_body(body: Any) -> Any:
    if isinstance(body, dict):
        return {
            key: ({k: "***" for k in value} if key in REDACTED_BODY_KEYS and isinstance(value, dict) else value)
            for key, value in body.items()
        }
    return body


class DryRunTransport(httpx.BaseTransport):
    """Lets reads through; records every mutation and answers it with a placeholder object."""

    def __init__(self, inner: httpx.BaseTransport, record: PlanRecorder) -> None:
        self._inner = inner
        self._record = record

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in READ_METHODS:
            return self._inner.handle_request(request)
        content = request.read()
        body: Any = None
        if content and request.headers.get("Content-Type", "").startswith("multipart/"):
            body = f"<multipart/form-data, {len(content)} bytes>"
        elif content:
            try:
                body = json.loads(content)
            except ValueError:
                body = f"<{len(content)} bytes>"
        # The path as it would go over the wire: an id with `/` shows as `%2F`, not as more segments.
        self._record(request.method, wire_path(request.url), redact_body(body))
        # Enough for any caller to go on: an id, a job, an upload id and an etag.
        placeholder = {
            "id": PLANNED_ID,
            "jobId": PLANNED_ID,
            "status": "planned",
            "uploadId": PLANNED_ID,
            "etag": PLANNED_ID,
        }
        return httpx.Response(200, json=placeholder, request=request)

    def close(self) -> None:
        self._inner.close()


class TlsOnDemandTransport(httpx.BaseTransport):
    """httpx's own transport, except that plain-http requests (the sandbox, an API on loopback) skip
    loading the CA bundle, which costs about 20 ms of every run's start: the https transport, with
    httpx's default certificate checks, is made at the first https request."""

    def __init__(self) -> None:
        # This pool only ever opens plain connections; its TLS context trusts no certificate anyway.
        self._plain = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        self._tls: httpx.HTTPTransport | None = None
        self._tls_lock = threading.Lock()  # bundle parts are uploaded from several threads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        with self._tls_lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport()
        return self._tls.handle_request(request)

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


def make_http_client(
    base_url: str,
    token: str,
    *,
    dry_run_recorder: PlanRecorder | None = None,
    debug: Callable[[str], None] | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    auth_scheme: str | None = "Bearer",
) -> httpx.Client:
    """The client of one run. `auth_scheme` None sends the token raw in Authorization (Capgo, Peak)."""
    inner: httpx.BaseTransport = transport or TlsOnDemandTransport()
    if dry_run_recorder is not None:
        inner = DryRunTransport(inner, dry_run_recorder)

    def on_retry(request: httpx.Request, reason: str, delay: float) -> None:
        if debug is not None:
            debug(f"retrying {request.method} {request.url.path} in {delay:.1f} s ({reason})")

    hooks: dict[str, list[Callable[..., Any]]] = {}
    if debug is not None:
        started: dict[int, float] = {}

        def on_request(request: httpx.Request) -> None:
            started[id(request)] = time.monotonic()

        def on_response(response: httpx.Response) -> None:
            request = response.request
            took = time.monotonic() - started.pop(id(request), time.monotonic())
            # Method, path and status only: headers (the token) and bodies are never logged.
            debug(f"{request.method} {request.url.path} -> {response.status_code} ({took * 1000:.0f} ms)")

        hooks = {"request": [on_request], "response": [on_response]}

    return httpx.Client(
        base_url=base_url.rstrip("/"),
        # Same-origin redirects of reads only (cloud/redirects.py); the client itself follows none.
        transport=SameOriginRedirects(RetryingTransport(inner, policy, on_retry=on_retry)),
        timeout=DEFAULT_TIMEOUT,
        headers={
            "User-Agent": USER_AGENT,
            "Authorization": f"{auth_scheme} {token}" if auth_scheme else token,
            "Accept": "application/json",
        },
        event_hooks=hooks,
    )


def download_client() -> httpx.Client:
    """The client of signed download URLs and other hosts than the API (Capwrapper's binaries, Capgo's
    build outputs and log host): no Authorization header, ever, no base URL; the step's deadline and
    the retry policy as for API calls."""
    return httpx.Client(
        transport=RetryingTransport(httpx.HTTPTransport()),
        timeout=DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"},
    )
