"""Runs one step end to end: settings, signals, the platform, the step, the result and the exit code.

Every failure leaves as one line plus its documented exit code, and the result (with every id
known so far) is still published: in --json, in --output-file, and later in the CI's outputs.
Nothing here knows a platform: the provider entry (providers.py) says where its token, base URL
and app id come from, what it can do, and how to reach it or its emulator.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from capawesome_ci.ci.detect import make_reporter
from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.commands import COMMANDS
from capawesome_ci.deadline import deadline_scope, timeout_label
from capawesome_ci.errors import (
    AuthError,
    CiError,
    ExitCode,
    InputError,
    Interrupted,
    JobEndedError,
    one_line,
)
from capawesome_ci.platform import NotAvailable
from capawesome_ci.providers import PROVIDER_VARIABLE, Connection, Provider, get_provider
from capawesome_ci.result import PlannedRequest, StepResult
from capawesome_ci.settings import RunSettings

CI_ENV_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "BITBUCKET_BUILD_NUMBER")
# A bug of ours, not one of the documented outcomes (sysexits EX_SOFTWARE).
INTERNAL_ERROR = 70


def in_ci(environ: dict[str, str]) -> bool:
    ci = environ.get("CI", "").strip().lower()
    return (ci not in ("", "0", "false")) or any(environ.get(name) for name in CI_ENV_VARS)


# What an API token can be: one line of visible ASCII. Anything else (a second line, CR/LF that would
# add a header, non-ASCII that httpx cannot encode) is a pasting mistake, refused before any request.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def resolve_token(settings: RunSettings, provider: Provider, environ: dict[str, str]) -> str | None:
    """--token, then --token-file, then the provider's variables in order; trimmed, checked."""
    if settings.token:
        return _checked_token(settings.token, InputError("", field="token"))
    if settings.token_file:
        try:
            text = Path(settings.token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a UTF-8 text file"
            raise InputError(f"cannot read {settings.token_file}: {reason}", field="token_file") from None
        return _checked_token(text, InputError("", field="token_file"))
    for name in provider.token_variables:
        if environ.get(name, "").strip():
            return _checked_token(environ[name], InputError(f"invalid {name}"))
    return None


def _checked_token(value: str, where: InputError) -> str | None:
    """The message never quotes the token: it is a secret even when malformed."""
    token = value.strip()
    if not token:
        return None
    if len(token.splitlines()) > 1:
        where.append(": the token must be a single line")
        raise where
    if not _TOKEN.fullmatch(token):
        where.append(": the token may only hold visible ASCII characters, no spaces")
        raise where
    return token


def checked_base_url(value: str, source: InputError) -> str:
    """An http(s) URL with a host and no credentials (they would travel to the API as Basic auth)."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = value if len(value) <= 100 else value[:99] + "…"
        source.append(f": expected an http:// or https:// URL with a host (got {shown!r})")
        raise source
    if parts.username is not None or parts.password is not None:
        source.append(": the URL must not carry credentials; give the token on its own")
        raise source
    if parts.query or parts.fragment:
        source.append(": the URL must not have a query or fragment")
        raise source
    return value.strip()


def validation_error(error: ValidationError) -> InputError:
    """pydantic's first complaint as our input error, naming the field."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"] if isinstance(part, str)]
    name = location[0] if location else None
    text = str(first["msg"]).removeprefix("Value error, ")
    if name is None:
        return InputError(text)
    if first["type"] == "missing":
        return InputError("", field=name, problem="missing")
    if first["type"] == "extra_forbidden":
        return InputError("", field=name, problem="unknown")
    got = first.get("input")
    suffix = f" (got {got!r})" if isinstance(got, (str, int, float)) and repr(got) not in text else ""
    return InputError(text + suffix, field=name)


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


def _base_url(settings: RunSettings, provider: Provider, environ: dict[str, str]) -> str | None:
    if settings.base_url:
        return checked_base_url(settings.base_url, InputError("", field="base_url"))
    from_environment = environ.get(provider.base_url_variable, "").strip()
    if from_environment:
        return checked_base_url(from_environment, InputError(f"invalid {provider.base_url_variable}"))
    return None


def _refuse_what_the_platform_cannot_do(module: Any, inputs: BaseModel, provider: Provider) -> None:
    """Before any request: the step, or one of its options, needs a capability the platform lacks."""
    for capability, field_name in module.needs(inputs):
        if capability not in provider.capabilities:
            error = NotAvailable(capability, provider.id)
            error.field = field_name
            raise error


def run_step(command: str, given: dict[str, Any], settings: RunSettings, environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    try:
        reporter = make_reporter(
            settings.ci,
            environ,
            settings.json,
            settings.debug,
            dotenv_path=settings.dotenv,
            summary_path=settings.summary_file,
        )
    except InputError as error:
        sys.stderr.write(f"error: {error.render(settings.naming)}\n")
        return int(error.exit_code)
    result = StepResult(command=command, dry_run=settings.dry_run)
    exit_code: int = ExitCode.OK
    provider: Provider | None = None
    with ExitStack() as stack:
        signals = stack.enter_context(signals_raise_interrupted())
        try:
            provider = get_provider(settings.provider)
            module, model = COMMANDS[command].load()
            module, model = provider.step(command, module), provider.model(command, model)
            token = resolve_token(settings, provider, environ)
            if token:
                reporter.mask(token)
            base_url = _base_url(settings, provider, environ)
            app_id = settings.app_id or environ.get(provider.app_id_variable) or None
            given = _with_build_from_environment(model, given, environ, reporter)
            try:
                inputs = model.model_validate({**given, "app_id": app_id})
            except ValidationError as error:
                raise validation_error(error) from None
            _refuse_what_the_platform_cannot_do(module, inputs, provider)

            use_sandbox = settings.sandbox or (not token and not base_url and not in_ci(environ))
            if use_sandbox:
                if not settings.sandbox:
                    reporter.warning(
                        f"no token given: running against the embedded sandbox "
                        f"(set {provider.token_variables[0]} to use {provider.title})"
                    )
                emulator = stack.enter_context(provider.start_emulator(environ))
                token, base_url = emulator.token, emulator.base_url
                reporter.mask(token)
                if not app_id:
                    inputs = inputs.model_copy(update={"app_id": emulator.app_id})
                reporter.info(f"Sandbox: {base_url}" + (f" (demo app {emulator.app_id})" if emulator.app_id else ""))
            if not token:
                # Only the CLI has a token file and a sandbox to offer; elsewhere the secret is the way.
                offer = " (or pass --token-file), or use --sandbox" if settings.naming.kind == "flag" else ""
                raise InputError(f"missing token: set {provider.token_variables[0]}{offer}")
            result.app_id = getattr(inputs, "app_id", None)

            def plan(method: str, path: str, body: Any) -> None:
                result.planned_requests.append(PlannedRequest(method=method, path=path, body=body))
                shown = "" if body is None else " " + json.dumps(body, separators=(",", ":"))
                reporter.info(f"dry run: would send {method} {path}{shown}")

            from capawesome_ci.steps.context import StepContext

            connection = Connection(
                base_url=base_url or provider.default_url(environ),
                token=token,
                app_id=result.app_id or "",
                dry_run_recorder=plan if settings.dry_run else None,
                debug=reporter.debug if settings.debug else None,
            )
            platform = stack.enter_context(provider.connect(connection))
            ctx = StepContext(
                platform=platform,
                reporter=reporter,
                result=result,
                dry_run=settings.dry_run,
                environ=environ,
                capabilities=provider.capabilities,
                title=provider.short_title,
            )
            timeout = getattr(inputs, "timeout", None)
            with deadline_scope(timeout, timeout_label(timeout) if timeout else "no deadline"):
                module.run(inputs, ctx)
        except CiError as error:
            signals.publishing = True
            exit_code = error.exit_code
            if isinstance(error, AuthError) and error.token_refused and provider is not None:
                error.append(f" (the token comes from {provider.token_variables[0]} or the token settings)")
            result.error = error.render(settings.naming)
            if isinstance(error, JobEndedError):
                result.status = error.status
            elif result.status in ("error", "succeeded", "started"):
                result.status = "timed_out" if exit_code == ExitCode.LOCAL_TIMEOUT else "error"
            reporter.error(result.error)
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
            reporter.error(result.error + ("" if settings.debug else " (run with --debug for details)"))
            if settings.debug:
                import traceback

                reporter.debug(traceback.format_exc())
        signals.publishing = True
        result.exit_code = int(exit_code)
        if exit_code == ExitCode.OK and result.status == "error":
            result.status = "succeeded"
        exit_code = _publish(reporter, result, settings, exit_code)
    return int(exit_code)


def _publish(reporter: LocalReporter, result: StepResult, settings: RunSettings, exit_code: int) -> int:
    """Every report is attempted even when one cannot be written (that one is an error line naming it,
    and exit code 8 unless the step failed already); the result on stdout comes last, so that --json
    carries the final exit code."""
    reporter.write_report_files(result)
    if settings.output_file:
        text = reporter.redact(json.dumps(result.to_json_dict(), indent=2)) + "\n"
        reporter.write_report(result, "--output-file", settings.output_file, text)
    if settings.comment:
        _comment(reporter, result, settings)
    reporter.print_result(result)
    return result.exit_code or exit_code


def _comment(reporter: LocalReporter, result: StepResult, settings: RunSettings) -> None:
    from capawesome_ci.ci.detect import detect_ci
    from capawesome_ci.ci.review_comment import post_review_comment

    environ = dict(os.environ)
    kind = settings.ci if settings.ci not in (None, "auto") else detect_ci(environ)
    if kind == "github":
        token = settings.github_token or environ.get("GITHUB_TOKEN")
    else:
        token = environ.get("CAPAWESOME_GITLAB_TOKEN")
    if token:
        reporter.mask(token)
    reporter.info(post_review_comment(kind, environ, token, settings.comment_id, result))


def serve_sandbox(args: Any) -> int:
    """`capawesome-ci sandbox serve`: the provider's emulator for other clients, until interrupted."""
    try:
        provider = get_provider(getattr(args, "provider", None) or os.environ.get(PROVIDER_VARIABLE))
        if provider.serve is None:
            raise InputError(f"{provider.id} has no emulator to serve", field="provider")
    except InputError as error:
        sys.stderr.write(f"capawesome-ci: error: {error.message}\n")
        return int(error.exit_code)
    return int(provider.load(provider.serve)(args))
