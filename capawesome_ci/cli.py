"""Command line: parse, then hand over to `runner`. Kept import-light so --help/--version are instant:
a command's input model (pydantic) is imported only when that command runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from capawesome_ci import __version__
from capawesome_ci.commands import COMMANDS

# Global options that take a value (so the command can be found without parsing everything).
VALUE_OPTIONS = {
    "--provider",
    "--comment-id",
    "--token",
    "--token-file",
    "--base-url",
    "--app-id",
    "--output-file",
    "--ci",
    "--dotenv",
    "--summary-file",
}
EPILOG = """\
exit codes: 0 ok · 1 job failed · 2 bad input · 3 auth · 4 not found · 5 job canceled ·
6 job rejected · 7 job timed out (server) · 8 local I/O or checksum · 75 transient, safe to retry ·
124 --timeout reached · 130/143 interrupted. Environment (token, base URL, app id), per --provider:
capawesome CAPAWESOME_CLOUD_TOKEN (or CAPAWESOME_TOKEN), CAPAWESOME_CLOUD_BASE_URL, CAPAWESOME_APP_ID ·
capgo CAPGO_TOKEN, CAPGO_BASE_URL, CAPGO_APP_ID · capwrapper CAPWRAPPER_API_KEY, CAPWRAPPER_BASE_URL ·
peak PEAK_AUTH_TOKEN (or API_KEY), PEAK_PRESS_BASE_URL."""


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2, never a usage dump."""

    def error(self, message: str) -> NoReturn:
        from capawesome_ci.errors import one_line  # argv may hold line breaks

        sys.stderr.write(f"{self.prog}: error: {one_line(message)} (see --help)\n")
        raise SystemExit(2)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    flag_default: Any = argparse.SUPPRESS if suppress else False
    group = parser.add_argument_group("connection and output (also accepted before the command)")
    group.add_argument(
        "--provider",
        default=default,
        metavar="NAME",
        help="the platform to drive (default: $CAPAWESOME_CI_PROVIDER or capawesome)",
    )
    group.add_argument(
        "--token",
        default=default,
        help="API token or key (prefer the provider's variable, e.g. CAPGO_TOKEN: argv is visible in ps)",
    )
    group.add_argument("--token-file", default=default, metavar="PATH", help="read the API token from a file")
    group.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help="API base URL (default: the provider's variable, e.g. $CAPGO_BASE_URL, or its public API)",
    )
    group.add_argument(
        "--app-id",
        default=default,
        help="app id (default: the provider's variable, e.g. $CAPAWESOME_APP_ID; the demo app with --sandbox)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=flag_default,
        help="run against the provider's embedded emulator on loopback (no account needed)",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        default=flag_default,
        help="do the reads, print the mutating requests, send none",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=flag_default,
        help="print exactly one JSON result on stdout (logs go to stderr)",
    )
    group.add_argument("--output-file", default=default, metavar="FILE", help="also write the JSON result to FILE")
    group.add_argument(
        "--dotenv",
        default=default,
        metavar="FILE",
        help="write the outputs as a dotenv report (GitLab default: capawesome.env)",
    )
    group.add_argument(
        "--summary-file",
        default=default,
        metavar="FILE",
        help="write the Markdown summary (GitLab default: capawesome-summary.md)",
    )
    group.add_argument(
        "--comment",
        action="store_true",
        default=flag_default,
        help="also post the summary as a sticky pull/merge request comment "
        "(token: $GITHUB_TOKEN on GitHub, $CAPAWESOME_GITLAB_TOKEN on GitLab)",
    )
    group.add_argument(
        "--comment-id",
        default=default,
        metavar="TEMPLATE",
        help="what tells this comment apart, e.g. '{job}/{platform}' (default: {workflow}/{job}/{command})",
    )
    group.add_argument(
        "--ci",
        default=default,
        metavar="{auto,local,github,gitlab,bitbucket}",
        help="where outputs go (default: auto-detected from the environment)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=flag_default,
        help="log each request (method, path, status; never the token)",
    )


def add_model_options(parser: argparse._ActionsContainer, model: Any) -> None:
    """One option per input field (capawesome_ci/fields.py): bool → --x/--no-x, list → repeatable,
    anything else → a value that the model validates (so every CI front end shares the same checks
    and messages)."""
    from capawesome_ci.fields import field_specs

    for spec in field_specs(model):
        help_text = spec.help.replace("%", "%%")  # argparse formats help with %
        if spec.kind == "bool":
            parser.add_argument(
                spec.flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {'yes' if spec.default == 'true' else 'no'})",
            )
            continue
        if spec.default is not None:
            help_text += f" (default: {spec.default})"
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text, "metavar": spec.metavar}
        if spec.kind == "list":
            kwargs["action"] = "append"
            kwargs["help"] += " [repeatable]"
        if spec.required:
            kwargs["help"] += " [required]"
        parser.add_argument(spec.flag, **kwargs)


def _find_command(argv: Sequence[str]) -> str | None:
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(command: str | None, model: Any = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="capawesome-ci",
        description="Drive Capawesome Cloud from CI: build, wait, download, deploy, rollout, live-update.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"capawesome-ci {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="<command>", parser_class=OneLineParser)
    for name, info in COMMANDS.items():
        sub = commands.add_parser(name, help=info.summary, description=info.summary)
        if name == command:
            add_model_options(sub.add_argument_group(f"{name} options"), model or info.load()[1])
        _global_options(sub, suppress=True)
    action = commands.add_parser("action", help="run a step with inputs from INPUT_* variables (container actions)")
    action.add_argument("step", choices=list(COMMANDS), help="the step to run")
    commands.add_parser("pipe", help="run the step named by $COMMAND with Bitbucket pipe variables")
    sandbox = commands.add_parser(
        "sandbox", help="the embedded emulator of a platform (--provider; default capawesome)"
    )
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="<action>", parser_class=OneLineParser)
    serve = sandbox_commands.add_parser("serve", help="serve the emulator over HTTP on loopback until interrupted")
    serve.add_argument(
        "--provider", default=argparse.SUPPRESS, metavar="NAME", help="whose emulator (default: capawesome)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--token", dest="sandbox_token", default=None, help="token clients must send (default: random)")
    serve.add_argument("--run-seconds", type=float, default=None, help="how long each job runs")
    serve.add_argument("--log-lines", type=int, default=None, help="log lines per job")
    serve.add_argument("--artifact-size", type=int, default=None, metavar="BYTES", help="size of each artifact")
    serve.add_argument(
        "--fault",
        action="append",
        default=None,
        metavar="SPEC",
        help="inject a fault, e.g. 'POST /v1/apps/*/builds 502 after' or 'GET */download reset-mid-body=1048576' "
        "(repeatable; see capawesome_ci/sandbox/faults.py)",
    )
    serve.add_argument(
        "--public-key-file", default=None, metavar="PATH", help="RSA public key (PEM): bundles must be signed"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        if argv is None:  # we are the program, about to exit (tests pass argv and go on)
            import gc

            # Everything dies with the process: the collector need not walk every object again at
            # shutdown, which costs a real command about 25 ms. Exit handlers and flushing still run.
            gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _find_command(args_list)
    provider = _find_provider(args_list)
    model = _step_model(command, provider)
    parser = build_parser(command if model is not None else None, model)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from capawesome_ci import runner

    if args.command == "sandbox":
        if args.sandbox_command != "serve":
            parser.error("sandbox needs an action: sandbox serve")
        return runner.serve_sandbox(args)
    if args.command == "action":
        return _run_from_environment(args.step, "action")
    if args.command == "pipe":
        return run_pipe()
    from capawesome_ci.settings import RunSettings

    fields = {name: getattr(args, name) for name in RunSettings.__dataclass_fields__ if hasattr(args, name)}
    settings = RunSettings(**{**fields, "provider": provider or "capawesome"})
    given = {name: getattr(args, name) for name in model.model_fields if name != "app_id" and hasattr(args, name)}
    return runner.run_step(args.command, given, settings)


def _step_model(command: str | None, provider: str | None) -> Any:
    """The inputs model of `command` on `provider` (None when there is no step to run, or the provider
    is unknown: the runner then says so in one line)."""
    if command not in COMMANDS:
        return None
    from capawesome_ci.errors import InputError
    from capawesome_ci.providers import get_provider

    _, model = COMMANDS[command].load()
    try:
        return get_provider(provider).model(command, model)
    except InputError:
        return model


def _find_provider(argv: Sequence[str]) -> str | None:
    """--provider NAME (or =NAME) anywhere on the line, else $CAPAWESOME_CI_PROVIDER."""
    import os

    from capawesome_ci.providers import PROVIDER_VARIABLE

    for index, arg in enumerate(argv):
        if arg == "--provider" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--provider="):
            return arg.split("=", 1)[1]
    return os.environ.get(PROVIDER_VARIABLE, "").strip() or None


def _run_from_environment(step: str, source: str) -> int:
    """A step whose inputs come from the environment: `action` (GitHub INPUT_*) or `pipe`
    (Bitbucket UPPER_SNAKE variables)."""
    import os

    from capawesome_ci import runner
    from capawesome_ci.ci.action_inputs import parse_bool, read_input, read_model_inputs
    from capawesome_ci.ci.detect import detect_ci
    from capawesome_ci.errors import InputError
    from capawesome_ci.naming import INPUTS, VARIABLES
    from capawesome_ci.providers import PROVIDER_VARIABLE, get_provider
    from capawesome_ci.settings import RunSettings

    environ = dict(os.environ)
    try:
        if source == "pipe":
            provider_name = environ.get("PROVIDER") or environ.get(PROVIDER_VARIABLE)
        else:
            provider_name = read_input(environ, "provider") or environ.get(PROVIDER_VARIABLE)
        _, model = COMMANDS[step].load()
        model = get_provider(provider_name).model(step, model)
        provider = provider_name or "capawesome"
        if source == "pipe":
            from capawesome_ci.ci.bitbucket import RESULT_NAME, output_dir, read_pipe_inputs

            given = read_pipe_inputs(model, environ)
            settings = RunSettings(
                provider=provider,
                # The token: the provider's variables, read like everywhere else.
                base_url=environ.get("BASE_URL") or None,
                app_id=environ.get("APP_ID") or None,
                dry_run=parse_bool("DRY_RUN", environ.get("DRY_RUN") or "false"),
                output_file=os.path.join(output_dir(environ), RESULT_NAME),
                ci="bitbucket",
                naming=VARIABLES,
            )
        else:
            given = read_model_inputs(model, environ)
            settings = RunSettings(
                provider=provider,
                token=read_input(environ, "token"),
                base_url=read_input(environ, "base-url"),
                app_id=read_input(environ, "app-id"),
                dry_run=parse_bool("dry-run", read_input(environ, "dry-run") or "false"),
                comment=parse_bool("comment", read_input(environ, "comment") or "false"),
                comment_id=read_input(environ, "comment-id"),
                github_token=read_input(environ, "github-token"),
                # GitLab has no output channel besides files: keep the whole result as one too.
                output_file="capawesome-result.json" if detect_ci(environ) == "gitlab" else None,
                naming=INPUTS,
            )
    except InputError as error:
        prefix = "::error title=capawesome-ci::" if source == "action" else "error: "
        sys.stderr.write(f"{prefix}{error.render(INPUTS if source == 'action' else VARIABLES)}\n")
        return int(error.exit_code)
    return runner.run_step(step, given, settings, environ)


def run_pipe() -> int:
    import os

    step = os.environ.get("COMMAND", "").strip()
    if step not in COMMANDS:
        sys.stderr.write(f"error: invalid variable COMMAND: expected one of {', '.join(COMMANDS)}, got {step!r}\n")
        return 2
    return _run_from_environment(step, "pipe")


if __name__ == "__main__":
    raise SystemExit(main())
