"""Starting the Capawesome emulator: for a run (`--sandbox`, or no token outside CI), set up from the
environment (job timings, log length, artifact size, a signing key, injected faults, the outcome of
store deployments), or for other
clients (`capawesome-ci sandbox serve`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capawesome_ci.errors import ExitCode, InputError, one_line
from capawesome_ci.providers import SandboxAccess
from capawesome_ci.sandbox import Sandbox, SandboxConfig, serve_forever
from capawesome_ci.sandbox.capawesome.state import OUTCOMES
from capawesome_ci.sandbox.faults import checked_fault_specs


def read_public_key(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def fault_specs(given: list[str], environ: dict[str, str]) -> tuple[str, ...]:
    return checked_fault_specs(given, environ, "CAPAWESOME_SANDBOX_FAULTS")


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
    outcome = environ.get("CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME")
    if outcome:
        if outcome not in OUTCOMES:
            raise InputError(
                f"invalid CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME: {outcome!r} is none of {', '.join(OUTCOMES)}"
            )
        overrides["deployment_outcome"] = outcome
    return SandboxConfig(**overrides)


@contextmanager
def start_capawesome(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    with Sandbox(config_from_environment(environ)) as sandbox:
        yield SandboxAccess(base_url=sandbox.base_url, token=sandbox.token, app_id=sandbox.app_id)


def serve(args: Any) -> int:
    """`capawesome-ci sandbox serve`: the Capawesome emulator for other clients, until interrupted."""

    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("host", args.host),
            ("port", args.port),
            ("token", args.sandbox_token),
            ("run_seconds", args.run_seconds),
            ("log_lines", args.log_lines),
            ("artifact_size", args.artifact_size),
        )
        if value is not None
    }

    def announce(line: str) -> None:
        print(line, flush=True)

    try:
        overrides["faults"] = fault_specs(args.fault or [], dict(os.environ))
    except InputError as error:
        sys.stderr.write(f"capawesome-ci: error: {error.message}\n")
        return int(ExitCode.USAGE)
    if args.public_key_file:
        try:
            overrides["public_key_pem"] = read_public_key(args.public_key_file)
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a PEM text file"
            sys.stderr.write(f"capawesome-ci: error: invalid --public-key-file: {reason}\n")
            return int(ExitCode.USAGE)
    try:
        serve_forever(SandboxConfig(**overrides), announce)
    except ValueError as error:  # a host that is not loopback, a key that is not an RSA public key
        sys.stderr.write(f"capawesome-ci: error: invalid sandbox setting: {one_line(str(error))}\n")
        return int(ExitCode.USAGE)
    except OSError as error:
        sys.stderr.write(f"capawesome-ci: error: cannot serve the sandbox: {error.strerror or error}\n")
        return int(ExitCode.IO)
    except KeyboardInterrupt:
        pass
    return 0
