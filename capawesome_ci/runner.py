"""Runs one step end to end: settings, signals, the client, the step, the result and the exit code.

Every failure leaves as one line plus its documented exit code, and the result (with every id
known so far) is still published: in --json, in --output-file, and later in the CI's outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from capawesome_ci.ci.detect import make_reporter
from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.deadline import deadline_scope, timeout_label
from capawesome_ci.errors import CiError, ExitCode, InputError, Interrupted, JobEndedError, one_line
from capawesome_ci.result import PlannedRequest, StepResult

TOKEN_ENV_VARS = ("CAPAWESOME_CLOUD_TOKEN", "CAPAWESOME_TOKEN")
CI_ENV_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "BITBUCKET_BUILD_NUMBER")
# A bug of ours, not one of the documented outcomes (sysexits EX_SOFTWARE).
INTERNAL_ERROR = 70


def in_ci(environ: dict[str, str]) -> bool:
    ci = environ.get("CI", "").strip().lower()
    return (ci not in ("", "0", "false")) or any(environ.get(name) for name in CI_ENV_VARS)


# What an API token can be: one line of visible ASCII. Anything else (a second line, CR/LF that would
# add a header, non-ASCII that httpx cannot encode) is a pasting mistake, refused before any request.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def resolve_token(args: argparse.Namespace, environ: dict[str, str]) -> str | None:
    """--token, then --token-file, then CAPAWESOME_CLOUD_TOKEN, then CAPAWESOME_TOKEN; trimmed, checked."""
    if getattr(args, "token", None):
        return _checked_token(str(args.token), "--token")
    if getattr(args, "token_file", None):
        try:
            text = Path(args.token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a UTF-8 text file"
            raise InputError(f"invalid --token-file: cannot read {args.token_file}: {reason}") from None
        return _checked_token(text, "--token-file")
    for name in TOKEN_ENV_VARS:
        if environ.get(name, "").strip():
            return _checked_token(environ[name], name)
    return None


def _checked_token(value: str, source: str) -> str | None:
    """The message never quotes the token: it is a secret even when malformed."""
    token = value.strip()
    if not token:
        return None
    if len(token.splitlines()) > 1:
        raise InputError(f"invalid {source}: the token must be a single line")
    if not _TOKEN.fullmatch(token):
        raise InputError(f"invalid {source}: the token may only hold visible ASCII characters, no spaces")
    return token


def checked_base_url(value: str, source: str) -> str:
    """An http(s) URL with a host and no credentials (they would travel to the API as Basic auth)."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = value if len(value) <= 100 else value[:99] + "…"
        raise InputError(f"invalid {source}: expected an http:// or https:// URL with a host (got {shown!r})")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"invalid {source}: the URL must not carry credentials; use --token-file for the token")
    if parts.query or parts.fragment:
        raise InputError(f"invalid {source}: the URL must not have a query or fragment")
    return value.strip()


def validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first["loc"] if isinstance(part, str)]
    flag = "--" + location[0].replace("_", "-") if location else None
    text = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing" and flag:
        return f"missing {flag}"
    if first["type"] == "extra_forbidden" and flag:
        return f"unknown input {flag}"
    if flag:
        got = first.get("input")
        suffix = f" (got {got!r})" if isinstance(got, (str, int, float)) and repr(got) not in text else ""
        return f"invalid {flag}: {text}{suffix}"
    return text  # model-level checks name their inputs themselves


@dataclass
class Signals:
    received: list[int] = field(default_factory=list)
    # Set once the step has ended: from then on signals are noted, not raised, so the outputs of an
    # interrupted step are always written.
    publishing: bool = False


# A runner that gets no answer escalates (GitHub: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after
# that); the third signal means even publishing takes too long.
SIGNALS_BEFORE_FORCED_EXIT = 3


@contextmanager
def signals_raise_interrupted() -> Iterator[Signals]:
    """SIGINT/SIGTERM raise `Interrupted` in the main thread (as PID 1 in a container nothing
    else would stop us on SIGTERM). A second signal while we cancel interrupts the cancel in turn;
    the step's outputs are still written."""
    state = Signals()

    def handler(signum: int, frame: FrameType | None) -> None:
        state.received.append(signum)
        if len(state.received) >= SIGNALS_BEFORE_FORCED_EXIT:
            os._exit(128 + state.received[0])
        if not state.publishing:
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


BUILD_SELECTORS = ("build_id", "build_number", "job_id", "deployment_id")


def _with_build_from_environment(
    model: type[BaseModel], given: dict[str, Any], environ: dict[str, str], reporter: LocalReporter
) -> dict[str, Any]:
    """A step that needs a build and got none takes $CAPAWESOME_BUILD_ID: the output of an earlier
    build step (GitLab/Bitbucket dotenv report, or exported by hand), so chained jobs need no glue."""
    if "build_id" not in model.model_fields or any(given.get(name) for name in BUILD_SELECTORS):
        return given
    build_id = environ.get("CAPAWESOME_BUILD_ID", "").strip()
    if not build_id:
        return given
    reporter.info(f"Using build {build_id} from $CAPAWESOME_BUILD_ID")
    return {**given, "build_id": build_id}


def _read_public_key(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _sandbox_config_from_env(environ: dict[str, str]) -> Any:
    from capawesome_ci.sandbox import SandboxConfig

    overrides: dict[str, Any] = {}
    for setting, name, kind in (
        ("run_seconds", "CAPAWESOME_SANDBOX_RUN_SECONDS", float),
        ("queue_seconds", "CAPAWESOME_SANDBOX_QUEUE_SECONDS", float),
        ("log_lines", "CAPAWESOME_SANDBOX_LOG_LINES", int),
        ("artifact_size", "CAPAWESOME_SANDBOX_ARTIFACT_SIZE", int),
        ("public_key_pem", "CAPAWESOME_SANDBOX_PUBLIC_KEY_FILE", _read_public_key),
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


def fault_specs(given: list[str], environ: dict[str, str]) -> tuple[str, ...]:
    """--fault values and $CAPAWESOME_SANDBOX_FAULTS (separated by ;), each checked."""
    from capawesome_ci.sandbox import parse_fault

    specs = tuple(s for s in (*given, *environ.get("CAPAWESOME_SANDBOX_FAULTS", "").split(";")) if s.strip())
    for spec in specs:
        try:
            parse_fault(spec)
        except ValueError as error:
            raise InputError(f"invalid --fault (or CAPAWESOME_SANDBOX_FAULTS): {error}") from None
    return specs


def run_step(
    command: str,
    module: ModuleType,
    model: type[BaseModel],
    given: dict[str, Any],
    args: argparse.Namespace,
    environ: dict[str, str] | None = None,
) -> int:
    environ = dict(os.environ if environ is None else environ)
    try:
        reporter = make_reporter(
            getattr(args, "ci", None),
            environ,
            args.json,
            args.debug,
            dotenv_path=getattr(args, "dotenv", None),
            summary_path=getattr(args, "summary_file", None),
        )
    except InputError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return int(error.exit_code)
    result = StepResult(command=command, dry_run=args.dry_run)
    exit_code: int = ExitCode.OK
    with ExitStack() as stack:
        signals = stack.enter_context(signals_raise_interrupted())
        try:
            token = resolve_token(args, environ)
            if token:
                reporter.mask(token)
            base_url = None
            if args.base_url:
                base_url = checked_base_url(args.base_url, "--base-url")
            elif environ.get("CAPAWESOME_CLOUD_BASE_URL", "").strip():
                base_url = checked_base_url(environ["CAPAWESOME_CLOUD_BASE_URL"], "CAPAWESOME_CLOUD_BASE_URL")
            app_id = args.app_id or environ.get("CAPAWESOME_APP_ID") or None
            given = _with_build_from_environment(model, given, environ, reporter)
            try:
                inputs = model.model_validate({**given, "app_id": app_id})
            except ValidationError as error:
                raise InputError(validation_message(error)) from None

            use_sandbox = args.sandbox or (not token and not base_url and not in_ci(environ))
            if use_sandbox:
                from capawesome_ci.sandbox import Sandbox

                if not args.sandbox:
                    reporter.warning(
                        "no token given: running against the embedded sandbox "
                        "(set CAPAWESOME_CLOUD_TOKEN to use Capawesome Cloud)"
                    )
                sandbox = stack.enter_context(Sandbox(_sandbox_config_from_env(environ)))
                token, base_url = sandbox.token, sandbox.base_url
                reporter.mask(token)
                if not app_id:
                    inputs = inputs.model_copy(update={"app_id": sandbox.app_id})
                reporter.info(f"Sandbox: {base_url} (demo app {sandbox.app_id})")
            if not token:
                raise InputError("missing token: set CAPAWESOME_CLOUD_TOKEN (or pass --token-file), or use --sandbox")
            result.app_id = getattr(inputs, "app_id", None)

            from capawesome_ci.cloud.capawesome import DEFAULT_BASE_URL, CapawesomePlatform
            from capawesome_ci.cloud.transport import make_http_client
            from capawesome_ci.steps.context import StepContext

            def plan(method: str, path: str, body: Any) -> None:
                result.planned_requests.append(PlannedRequest(method=method, path=path, body=body))
                shown = "" if body is None else " " + json.dumps(body, separators=(",", ":"))
                reporter.info(f"dry run: would send {method} {path}{shown}")

            http = stack.enter_context(
                make_http_client(
                    base_url or DEFAULT_BASE_URL,
                    token,
                    dry_run_recorder=plan if args.dry_run else None,
                    debug=reporter.debug if args.debug else None,
                )
            )
            platform = CapawesomePlatform(http, result.app_id or "")
            ctx = StepContext(
                platform=platform, reporter=reporter, result=result, dry_run=args.dry_run, environ=environ
            )
            timeout = getattr(inputs, "timeout", None)
            with deadline_scope(timeout, timeout_label(timeout) if timeout else "no deadline"):
                module.run(inputs, ctx)
        except CiError as error:
            signals.publishing = True
            exit_code = error.exit_code
            naming = getattr(args, "naming", "flag")  # action users know `rollout`, pipe users `ROLLOUT`
            if naming == "input":
                error.message = re.sub(r"^(invalid|missing) --([a-z0-9-]+)", r"\1 input \2", error.message)
            elif naming == "variable":
                error.message = re.sub(
                    r"^(invalid|missing) --([a-z0-9-]+)",
                    lambda m: f"{m.group(1)} variable {m.group(2).upper().replace('-', '_')}",
                    error.message,
                )
            result.error = error.message
            if isinstance(error, JobEndedError):
                result.status = error.status
            elif result.status in ("error", "succeeded", "started"):
                result.status = "timed_out" if exit_code == ExitCode.LOCAL_TIMEOUT else "error"
            reporter.error(error.message)
        except Interrupted as interrupt:
            signals.publishing = True
            first = Interrupted(signals.received[0] if signals.received else interrupt.signum)
            exit_code = first.exit_code
            result.status = "canceled"
            result.error = f"interrupted by {signal.Signals(first.signum).name}"
            if interrupt.in_flight:
                result.error += f" while {interrupt.in_flight} was in flight: it may have taken effect"
            reporter.error(result.error)
        except Exception as error:  # a bug of ours: one line, the traceback only with --debug
            signals.publishing = True
            exit_code = INTERNAL_ERROR
            result.status = "error"
            result.error = one_line(f"internal error: {type(error).__name__}: {error}")
            reporter.error(result.error + ("" if args.debug else " (run with --debug for details)"))
            if args.debug:
                import traceback

                reporter.debug(traceback.format_exc())
        signals.publishing = True
        result.exit_code = int(exit_code)
        if exit_code == ExitCode.OK and result.status == "error":
            result.status = "succeeded"
        exit_code = _publish(reporter, result, args, exit_code)
    return int(exit_code)


def _publish(reporter: LocalReporter, result: StepResult, args: argparse.Namespace, exit_code: int) -> int:
    """Every report is attempted even when one cannot be written (that one is an error line naming it,
    and exit code 8 unless the step failed already); the result on stdout comes last, so that --json
    carries the final exit code."""
    reporter.write_report_files(result)
    if args.output_file:
        text = reporter.redact(json.dumps(result.to_json_dict(), indent=2)) + "\n"
        reporter.write_report(result, "--output-file", args.output_file, text)
    if getattr(args, "comment", False):
        _comment(reporter, result, args)
    reporter.print_result(result)
    return result.exit_code or exit_code


def _comment(reporter: LocalReporter, result: StepResult, args: argparse.Namespace) -> None:
    from capawesome_ci.ci.detect import detect_ci
    from capawesome_ci.ci.review_comment import post_review_comment

    environ = dict(os.environ)
    kind = args.ci if getattr(args, "ci", None) not in (None, "auto") else detect_ci(environ)
    if kind == "github":
        token = getattr(args, "github_token", None) or environ.get("GITHUB_TOKEN")
    else:
        token = environ.get("CAPAWESOME_GITLAB_TOKEN")
    if token:
        reporter.mask(token)
    reporter.info(post_review_comment(kind, environ, token, getattr(args, "comment_id", None), result))


def serve_sandbox(args: argparse.Namespace) -> int:
    from capawesome_ci.sandbox import SandboxConfig, serve_forever

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
            overrides["public_key_pem"] = _read_public_key(args.public_key_file)
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
