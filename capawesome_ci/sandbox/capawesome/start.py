"""Starting the Capawesome emulator for a run (`--sandbox`, or no token outside CI), set up from the
environment: job timings, log length, artifact size, a signing key and injected faults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.providers import SandboxAccess
from capawesome_ci.sandbox import Sandbox, SandboxConfig, parse_fault


def read_public_key(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def fault_specs(given: list[str], environ: dict[str, str]) -> tuple[str, ...]:
    """--fault values and $CAPAWESOME_SANDBOX_FAULTS (separated by ;), each checked."""
    specs = tuple(s for s in (*given, *environ.get("CAPAWESOME_SANDBOX_FAULTS", "").split(";")) if s.strip())
    for spec in specs:
        try:
            parse_fault(spec)
        except ValueError as error:
            raise InputError(f"invalid --fault (or CAPAWESOME_SANDBOX_FAULTS): {error}") from None
    return specs


def config_from_environment(environ: dict[str, str]) -> SandboxConfig:
    overrides: dict[str, Any] = {}
    for setting, name, kind in (
        ("run_seconds", "CAPAWESOME_SANDBOX_RUN_SECONDS", float),
        ("queue_seconds", "CAPAWESOME_SANDBOX_QUEUE_SECONDS", float),
        ("log_lines", "CAPAWESOME_SANDBOX_LOG_LINES", int),
        ("artifact_size", "CAPAWESOME_SANDBOX_ARTIFACT_SIZE", int),
        ("public_key_pem", "CAPAWESOME_SANDBOX_PUBLIC_KEY_FILE", read_public_key),
    ):
        if environ.get(name):
            try:
                overrides[setting] = kind(environ[name])
            except ValueError:
                raise InputError(f"invalid {name}: {environ[name]!r} is not a number") from None
            except OSError as error:
                raise InputError(f"invalid {name}: cannot read {environ[name]}: {error.strerror}") from None
    overrides["faults"] = fault_specs([], environ)
    return SandboxConfig(**overrides)


@contextmanager
def start_capawesome(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    with Sandbox(config_from_environment(environ)) as sandbox:
        yield SandboxAccess(base_url=sandbox.base_url, token=sandbox.token, app_id=sandbox.app_id)
