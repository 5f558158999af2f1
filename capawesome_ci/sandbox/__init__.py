"""Embedded, stateful emulators of the CI providers' REST APIs, served over real HTTP on loopback:
the demo backend (no account needed), the target of dry runs and the backbone of the tests.

    with Sandbox(SandboxConfig(run_seconds=1)) as sandbox:
        sandbox.base_url, sandbox.token, sandbox.app_id   # point any client at it
        sandbox.state.requests                             # what it received, for tests

`Sandbox` is the Capawesome Cloud emulator; each provider's entry (capawesome_ci/providers.py) names
the function that starts its emulator for a run. Shared by every emulator, here:

    emulator.py   `Emulator`, the base: loopback check, start/stop, fault application, request log
    server.py     the threaded HTTP/1.1 server, `Request`/`Response`, the error helpers
    faults.py     fault injection (`--fault`, `$CAPAWESOME_SANDBOX_FAULTS`)
    artifacts.py  deterministic artifact bytes, streamed in slices

and one subpackage per provider (`capawesome/`: its state, route table and one module per resource).
"""

from __future__ import annotations

from capawesome_ci.sandbox.capawesome.emulator import Sandbox, serve_forever
from capawesome_ci.sandbox.capawesome.state import SandboxConfig, SandboxState
from capawesome_ci.sandbox.emulator import Emulator, RequestRecord
from capawesome_ci.sandbox.faults import Fault, parse_fault, parse_faults

__all__ = [
    "Emulator",
    "Fault",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "parse_fault",
    "parse_faults",
    "serve_forever",
]

# Provider id → "module:attribute" of its emulator class, imported when first asked for.
