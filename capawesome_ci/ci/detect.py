"""Pick the reporter for the CI we run in (or the one forced with --ci)."""

from __future__ import annotations

import os

from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.errors import InputError

CI_KINDS = ("auto", "local", "github", "gitlab", "bitbucket")


def detect_ci(environ: dict[str, str]) -> str:
    """$CAPAWESOME_CI wins (our GitLab templates set it: gitlab-ci-local says GITLAB_CI=false)."""
    forced = environ.get("CAPAWESOME_CI", "").strip().lower()
    if forced in CI_KINDS and forced != "auto":
        return forced
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    if environ.get("BITBUCKET_BUILD_NUMBER"):
        return "bitbucket"
    return "local"


def make_reporter(
    kind: str | None,
    environ: dict[str, str],
    json_output: bool,
    debug: bool,
    dotenv_path: str | None = None,
    summary_path: str | None = None,
) -> LocalReporter:
    kind = kind or "auto"
    if kind not in CI_KINDS:
        raise InputError(f"invalid --ci: expected one of {', '.join(CI_KINDS)}, got {kind!r}")
    if kind == "auto":
        kind = detect_ci(environ)
    if kind == "github":
        from capawesome_ci.ci.github import GitHubReporter

        return GitHubReporter(
            environ, json_output=json_output, debug=debug, dotenv_path=dotenv_path, summary_path=summary_path
        )
    if kind == "gitlab":
        from capawesome_ci.ci.gitlab import GitLabReporter

        return GitLabReporter(json_output=json_output, debug=debug, dotenv_path=dotenv_path, summary_path=summary_path)
    if kind == "bitbucket":
        from capawesome_ci.ci.bitbucket import DOTENV_NAME, output_dir

        return LocalReporter(
            json_output=json_output,
            debug=debug,
            dotenv_path=dotenv_path or os.path.join(output_dir(environ), DOTENV_NAME),
            summary_path=summary_path,
        )
    return LocalReporter(json_output=json_output, debug=debug, dotenv_path=dotenv_path, summary_path=summary_path)
