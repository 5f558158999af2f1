"""The Capwrapper emulator: its API on one loopback origin and its signed downloads on a second one
(so a client that sent its token there would be seen doing it), faults from the shared module (their
error bodies in Capwrapper's `{error, message}` shape); started for a run (`--sandbox --provider
capwrapper`, set up from `CAPWRAPPER_SANDBOX_*`) or for other clients (`sandbox serve`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.providers import SandboxAccess
from capawesome_ci.sandbox.capwrapper.routes import dispatch
from capawesome_ci.sandbox.capwrapper.state import OUTCOMES, PLATFORMS, CapwrapperConfig, CapwrapperState
from capawesome_ci.sandbox.emulator import Emulator, serve_until_interrupted
from capawesome_ci.sandbox.faults import checked_fault_specs
from capawesome_ci.sandbox.server import Request, Response, SandboxHTTPServer

ERROR_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 429: "rate_limited"}
DOWNLOAD_ORIGIN = "files"  # the mark on requests that came in on the download origin


class CapwrapperEmulator(Emulator[CapwrapperConfig, CapwrapperState]):
    thread_name = "capwrapper-sandbox"

    def __init__(self, config: CapwrapperConfig | None = None) -> None:
        super().__init__(config or CapwrapperConfig())
        self._downloads: SandboxHTTPServer | None = None
        self._downloads_thread: threading.Thread | None = None

    def new_state(self, config: CapwrapperConfig) -> CapwrapperState:
        return CapwrapperState(config)

    def handle(self, request: Request) -> Response:
        return dispatch(self.state, request, downloads=request.params.get("origin") == DOWNLOAD_ORIGIN)

    @property
    def api_url(self) -> str:
        """The base URL clients use: the docs' `/v1` form (`/api/v1` is served too)."""
        return self.base_url + "/v1"

    def start(self) -> CapwrapperEmulator:
        super().start()
        if self._downloads is None:
            host = "127.0.0.1" if self.config.host == "localhost" else self.config.host
            self._downloads = SandboxHTTPServer((host, 0), self._from_download_origin)
            self._downloads_thread = threading.Thread(
                target=self._downloads.serve_forever, args=(0.1,), name="capwrapper-downloads", daemon=True
            )
            self._downloads_thread.start()
            address, port = str(self._downloads.server_address[0]), int(self._downloads.server_address[1])
            self.state.download_origin = f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"
        return self

    def stop(self) -> None:
        downloads, self._downloads = self._downloads, None
        if downloads is not None:
            downloads.stop()
        if self._downloads_thread is not None:
            self._downloads_thread.join()
            self._downloads_thread = None
        super().stop()

    def _from_download_origin(self, request: Request) -> Response:
        request.params["origin"] = DOWNLOAD_ORIGIN
        return self._dispatch(request)

    def _dispatch(self, request: Request) -> Response:
        """The shared dispatch (faults, request log), with injected errors in Capwrapper's body shape."""
        response = super()._dispatch(request)
        if (
            response.status >= 400
            and response.raw is not None
            and response.headers.get("Content-Type", "").startswith("application/json")
        ):
            try:
                body = json.loads(response.raw)
            except ValueError:
                return response
            if isinstance(body, dict) and "error" not in body:
                body = {"error": ERROR_CODES.get(response.status, "server_error"), **body}
                response.raw = json.dumps(body).encode()
        return response


def fault_specs(given: list[str], environ: dict[str, str]) -> tuple[str, ...]:
    return checked_fault_specs(given, environ, "CAPWRAPPER_SANDBOX_FAULTS")


def config_from_environment(environ: dict[str, str]) -> CapwrapperConfig:
    overrides: dict[str, Any] = {}
    for setting, name, kind in (
        ("queue_seconds", "CAPWRAPPER_SANDBOX_QUEUE_SECONDS", float),
        ("build_seconds", "CAPWRAPPER_SANDBOX_BUILD_SECONDS", float),
        ("artifact_size", "CAPWRAPPER_SANDBOX_ARTIFACT_SIZE", int),
        ("url_seconds", "CAPWRAPPER_SANDBOX_URL_SECONDS", float),
    ):
        if environ.get(name):
            try:
                value = kind(environ[name])
            except ValueError:
                value = -1
            if not 0 <= value < float("inf"):
                raise InputError(f"invalid {name}: {environ[name]!r} is not a number of at least 0")
            overrides[setting] = value
    for setting, name, choices in (
        ("outcome", "CAPWRAPPER_SANDBOX_OUTCOME", OUTCOMES),
        ("platform", "CAPWRAPPER_SANDBOX_PLATFORM", PLATFORMS),
    ):
        if environ.get(name):
            if environ[name] not in choices:
                raise InputError(f"invalid {name}: expected one of {', '.join(choices)}, got {environ[name]!r}")
            overrides[setting] = environ[name]
    overrides["faults"] = fault_specs([], environ)
    return CapwrapperConfig(**overrides)


@contextmanager
def start_capwrapper(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    with CapwrapperEmulator(config_from_environment(environ)) as emulator:
        yield SandboxAccess(base_url=emulator.api_url, token=emulator.token, app_id="")


def serve(args: Any) -> int:
    """`capawesome-ci sandbox serve --provider capwrapper`: until interrupted."""
    overrides: dict[str, Any] = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("token", args.sandbox_token))
        if value is not None
    }
    if args.run_seconds is not None:
        overrides["build_seconds"] = args.run_seconds
    if args.artifact_size is not None:
        overrides["artifact_size"] = args.artifact_size

    def start() -> CapwrapperEmulator:
        base = config_from_environment(dict(os.environ))
        overrides["faults"] = fault_specs(args.fault or [], dict(os.environ))
        return CapwrapperEmulator(CapwrapperConfig(**{**vars(base), **overrides})).start()

    return serve_until_interrupted(
        start,
        lambda emulator: [
            f"Capwrapper sandbox listening on {emulator.api_url}",
            f"Token: {emulator.token}",
            f"export CAPWRAPPER_BASE_URL={emulator.api_url} CAPWRAPPER_API_KEY={emulator.token}",
        ],
    )
