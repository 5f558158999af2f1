"""Pick the reporter for the CI we run in (or the one forced with --ci)."""

from __future__ import annotations

from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.errors import InputError

CI_KINDS = ("auto", "local", "github")


def detect_ci(environ: dict[str, str]) -> str:
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    return "local"


def make_reporter(kind: str | None, environ: dict[str, str], json_output: bool, debug: bool) -> LocalReporter:
    kind = kind or "auto"
    if kind not in CI_KINDS:
        raise InputError(f"invalid --ci: expected one of {', '.join(CI_KINDS)}, got {kind!r}")
    if kind == "auto":
        kind = detect_ci(environ)
    if kind == "github":
        from capawesome_ci.ci.github import GitHubReporter

        return GitHubReporter(environ, json_output=json_output, debug=debug)
    return LocalReporter(json_output=json_output, debug=debug)
