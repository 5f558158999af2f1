"""`Sandbox`, the Capawesome Cloud emulator: the shared `Emulator` with the Capawesome state and
route table; and `serve_forever`, behind `capawesome-ci sandbox serve`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from capawesome_ci.sandbox.capawesome.routes import dispatch
from capawesome_ci.sandbox.capawesome.state import SandboxConfig, SandboxState
from capawesome_ci.sandbox.emulator import Emulator
from capawesome_ci.sandbox.server import Request, Response


class Sandbox(Emulator[SandboxConfig, SandboxState]):
    thread_name = "capawesome-sandbox"

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config or SandboxConfig())

    def new_state(self, config: SandboxConfig) -> SandboxState:
        return SandboxState(config)

    def handle(self, request: Request) -> Response:
        return dispatch(self.state, request)

    @property
    def app_id(self) -> str:
        return self.state.app_id


def serve_forever(config: SandboxConfig, announce: Callable[[str], None]) -> None:
    """`capawesome-ci sandbox serve`: say how to connect, then serve until interrupted (Ctrl+C)."""
    sandbox = Sandbox(config).start()
    try:
        announce(f"Capawesome Cloud sandbox listening on {sandbox.base_url}")
        announce(f"Token: {sandbox.token}")
        announce(f"Demo app: {sandbox.app_id} (channels production, beta)")
        announce("Point a client at it with:")
        announce(
            f"export CAPAWESOME_CLOUD_BASE_URL={sandbox.base_url} CAPAWESOME_CLOUD_TOKEN={sandbox.token} "
            f"CAPAWESOME_APP_ID={sandbox.app_id}"
        )
        announce("Press Ctrl+C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
