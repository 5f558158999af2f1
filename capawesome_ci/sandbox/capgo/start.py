"""Starting the Capgo emulator: the public API, the internal routes Capgo's CLI uses (its config, the
files host, PostgREST) and Capgo Build (a separate module, plugged in below) on one loopback origin;
for a run (`--sandbox --provider capgo`, set up from `CAPGO_SANDBOX_*`) or for other clients
(`capawesome-ci sandbox serve --provider capgo`)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.providers import SandboxAccess
from capawesome_ci.sandbox.capgo import internal
from capawesome_ci.sandbox.capgo.routes import PUBLIC_ROUTES, authenticate, compile_routes, find_route, not_found
from capawesome_ci.sandbox.capgo.state import CapgoConfig, CapgoState, is_app_id
from capawesome_ci.sandbox.emulator import Emulator, serve_until_interrupted
from capawesome_ci.sandbox.faults import checked_fault_specs
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

ROUTES = compile_routes(PUBLIC_ROUTES)
# The CLI reaches the public API through Supabase's functions path too (`{supaHost}/functions/v1/app/…`).
FUNCTIONS_PREFIX = "/functions/v1"
ERROR_CODES = {400: "bad_request", 401: "invalid_apikey", 404: "not_found", 429: "too_many_requests"}
BUILDS_MODULE = "capawesome_ci.sandbox.capgo.builds"
NO_BUILDS = "Capgo Build is not emulated here: install the extra, pip install 'capawesome-ci[capgo-build]'"


def load_builds_module() -> Any | None:
    """Capgo Build's emulator (builds.py), imported on first use. None without the capgo-build extra
    (its log socket needs websockets): the rest of the emulator serves on, `/build/…` answers 503."""
    if importlib.util.find_spec("websockets") is None:
        return None
    return importlib.import_module(BUILDS_MODULE)


class CapgoEmulator(Emulator[CapgoConfig, CapgoState]):
    thread_name = "capgo-sandbox"

    def __init__(self, config: CapgoConfig | None = None, build_config: Any | None = None) -> None:
        """`build_config`: Capgo Build's BuildConfig (builds.py); None: its defaults from an empty environment."""
        super().__init__(config or CapgoConfig())
        builds_module = load_builds_module()
        self.builds: Any | None = None
        if builds_module is not None:
            settings = build_config or builds_module.build_config_from_environment({})
            self.builds = builds_module.CapgoBuilds(settings, self._app_exists)

    def new_state(self, config: CapgoConfig) -> CapgoState:
        return CapgoState(config)

    def _app_exists(self, app_id: str) -> bool:
        with self.state.lock:
            return app_id in self.state.apps

    def start(self) -> CapgoEmulator:
        super().start()
        self.state.origin = self.base_url
        if self.builds is not None:
            self.builds.start(self.config.host if self.config.host != "localhost" else "127.0.0.1")
        return self

    def stop(self) -> None:
        if self.builds is not None:
            self.builds.stop()
        super().stop()

    def handle(self, request: Request) -> Response:
        try:
            response = self._route(request)
        except ApiFailure as error:
            response = Response(error.status, error.body, dict(error.headers))
        except Exception:  # a sandbox bug: say so on stderr and answer as Capgo's onError would
            traceback.print_exc()
            response = Response(500, {"error": "unknown_error", "message": "Unknown error", "moreInfo": {}})
        response.headers.setdefault("X-Request-Id", str(uuid.uuid4()))
        return response.encode()

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith(FUNCTIONS_PREFIX + "/"):
            path = path[len(FUNCTIONS_PREFIX) :]
        internal_handler = internal.find(request, path)
        if internal_handler is not None:
            with self.state.lock:
                return internal_handler(self.state, request)
        authenticate(self.state, request)
        if path.startswith("/build/"):
            if self.builds is None:
                raise ApiFailure(503, {"error": "service_unavailable", "message": NO_BUILDS, "moreInfo": {}})
            request.path = path
            response: Response = self.builds.handle(request)
            return response
        handler = find_route(ROUTES, request, path)
        if handler is None:
            raise not_found()
        with self.state.lock:
            return handler(self.state, request).encode()

    def _dispatch(self, request: Request) -> Response:
        """The shared dispatch (faults, request log), with injected errors in Capgo's body shape."""
        response = super()._dispatch(request)
        body = response.body
        if response.status >= 400 and isinstance(body, dict) and "error" not in body:
            response.body = {"error": ERROR_CODES.get(response.status, "unknown_error"), **body, "moreInfo": {}}
            response.raw = None
            response.encode()
        response.headers.setdefault("X-Request-Id", str(uuid.uuid4()))
        return response


def fault_specs(given: list[str], environ: dict[str, str]) -> tuple[str, ...]:
    return checked_fault_specs(given, environ, "CAPGO_SANDBOX_FAULTS")


def config_from_environment(environ: dict[str, str]) -> CapgoConfig:
    settings: dict[str, Any] = {"faults": fault_specs([], environ)}
    app_id = environ.get("CAPGO_SANDBOX_APP_ID", "").strip()
    if app_id:
        if not is_app_id(app_id):
            raise InputError(f"invalid CAPGO_SANDBOX_APP_ID: {app_id!r} is not a reverse-domain app id")
        settings["app_id"] = app_id
    token = environ.get("CAPGO_SANDBOX_TOKEN", "").strip()
    if token:
        settings["token"] = token
    return CapgoConfig(**settings)


def build_config_from_environment(environ: dict[str, str]) -> Any | None:
    builds_module = load_builds_module()
    return None if builds_module is None else builds_module.build_config_from_environment(environ)


@contextmanager
def start_capgo(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    config = config_from_environment(environ)
    with CapgoEmulator(config, build_config_from_environment(environ)) as emulator:
        yield SandboxAccess(base_url=emulator.base_url, token=emulator.token, app_id=config.app_id)


def serve(args: Any) -> int:
    """`capawesome-ci sandbox serve --provider capgo`: the emulator for other clients, until interrupted."""

    def start() -> CapgoEmulator:
        environ = dict(os.environ)
        overrides: dict[str, Any] = {
            "host": args.host,
            "port": args.port,
            "faults": fault_specs(args.fault or [], environ),
        }
        if args.sandbox_token:
            overrides["token"] = args.sandbox_token
        config = dataclasses.replace(config_from_environment(environ), **overrides)
        build_config = build_config_from_environment(environ)
        if build_config is not None:
            fields = {field.name for field in dataclasses.fields(build_config)}
            build_overrides = {
                name: value
                for name, value in (("run_seconds", args.run_seconds), ("artifact_size", args.artifact_size))
                if value is not None and name in fields
            }
            build_config = dataclasses.replace(build_config, **build_overrides)
        return CapgoEmulator(config, build_config).start()

    return serve_until_interrupted(
        start,
        lambda emulator: [
            f"Capgo sandbox listening on {emulator.base_url} (app {emulator.config.app_id})",
            f"Token: {emulator.token}",
            f"export CAPGO_BASE_URL={emulator.base_url} CAPGO_TOKEN={emulator.token} "
            f"CAPGO_APP_ID={emulator.config.app_id}",
        ],
    )
