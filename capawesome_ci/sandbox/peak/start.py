"""Starting the Peak emulator: for a run (`--sandbox --provider peak`), set up from the environment
(deploy time, outcomes, the failing block, injected faults), or for other clients
(`capawesome-ci sandbox serve --provider peak`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.providers import SandboxAccess
from capawesome_ci.sandbox.capawesome.start import fault_specs
from capawesome_ci.sandbox.emulator import Emulator, serve_until_interrupted
from capawesome_ci.sandbox.peak.routes import dispatch
from capawesome_ci.sandbox.peak.state import DEMO_BLOCKS, DEMO_RELEASES, DEMO_SPEC_ID, OUTCOMES, PeakConfig, PeakState
from capawesome_ci.sandbox.server import Request, Response


class PeakEmulator(Emulator[PeakConfig, PeakState]):
    thread_name = "peak-sandbox"

    def __init__(self, config: PeakConfig | None = None) -> None:
        super().__init__(config or PeakConfig())

    def new_state(self, config: PeakConfig) -> PeakState:
        return PeakState(config)

    def handle(self, request: Request) -> Response:
        return dispatch(self.state, request)


def _outcomes(text: str, source: str) -> tuple[str, ...]:
    outcomes = tuple(item.strip() for item in text.split(",") if item.strip())
    for outcome in outcomes:
        if outcome not in OUTCOMES:
            raise InputError(f"invalid {source}: expected outcomes of {', '.join(OUTCOMES)}, got {outcome!r}")
    return outcomes


def config_from_environment(environ: dict[str, str]) -> PeakConfig:
    settings: dict[str, Any] = {"faults": fault_specs([], environ)}
    seconds = environ.get("PEAK_SANDBOX_DEPLOY_SECONDS", "").strip()
    if seconds:
        try:
            settings["deploy_seconds"] = float(seconds)
        except ValueError:
            raise InputError(f"invalid PEAK_SANDBOX_DEPLOY_SECONDS: {seconds!r} is not a number") from None
    settings["outcomes"] = _outcomes(environ.get("PEAK_SANDBOX_OUTCOMES", ""), "PEAK_SANDBOX_OUTCOMES")
    block = environ.get("PEAK_SANDBOX_FAILING_BLOCK", "").strip()
    if block:
        if block not in DEMO_BLOCKS:
            raise InputError(f"invalid PEAK_SANDBOX_FAILING_BLOCK: expected one of {', '.join(DEMO_BLOCKS)}")
        settings["failing_block"] = block
    return PeakConfig(**settings)


@contextmanager
def start_peak(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    with PeakEmulator(config_from_environment(environ)) as emulator:
        yield SandboxAccess(base_url=emulator.base_url, token=emulator.token, app_id=emulator.state.tenant)


def serve(args: Any) -> int:
    """`capawesome-ci sandbox serve --provider peak`: the emulator for other clients, until interrupted."""

    def start() -> PeakEmulator:
        environ = dict(os.environ)
        config = config_from_environment(environ)
        overrides: dict[str, Any] = {
            "host": args.host,
            "port": args.port,
            "faults": fault_specs(args.fault or [], environ),
        }
        if args.sandbox_token:
            overrides["token"] = args.sandbox_token
        if args.run_seconds is not None:
            overrides["deploy_seconds"] = args.run_seconds
        return PeakEmulator(PeakConfig(**{**config.__dict__, **overrides})).start()

    return serve_until_interrupted(
        start,
        lambda emulator: [
            f"Peak Press sandbox listening on {emulator.base_url}",
            f"Token: {emulator.token}",
            f"Demo spec: {DEMO_SPEC_ID} (releases {', '.join(DEMO_RELEASES)})",
            f"export PEAK_PRESS_BASE_URL={emulator.base_url} PEAK_AUTH_TOKEN={emulator.token}",
        ],
    )
