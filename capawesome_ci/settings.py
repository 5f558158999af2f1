"""How one run is set up, built once by each front end (the CLI from its flags, the action from its
INPUT_* variables, the pipe from its variables) and read by the runner: no argparse Namespace travels."""

from __future__ import annotations

from dataclasses import dataclass, field

from capawesome_ci.naming import FLAGS, Naming
from capawesome_ci.providers import DEFAULT_PROVIDER


@dataclass(frozen=True)
class RunSettings:
    provider: str = DEFAULT_PROVIDER
    token: str | None = None
    token_file: str | None = None
    base_url: str | None = None
    app_id: str | None = None
    sandbox: bool = False
    dry_run: bool = False
    json: bool = False
    debug: bool = False
    output_file: str | None = None
    dotenv: str | None = None
    summary_file: str | None = None
    comment: bool = False
    comment_id: str | None = None
    github_token: str | None = None
    ci: str | None = None
    # How this front end names its inputs in messages.
    naming: Naming = field(default=FLAGS)
