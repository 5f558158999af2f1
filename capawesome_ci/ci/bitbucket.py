"""Bitbucket Pipelines pipes: variables in, result files out.

A pipe has no output channel, so the outputs go to files under `$BITBUCKET_CLONE_DIR` (a dotenv
that later steps `source`, and the JSON result) for the step to keep as `artifacts:`. Variables
arrive UPPER_SNAKE_CASE; a YAML list `CHANNELS: [a, b]` arrives as `CHANNELS_COUNT=2`,
`CHANNELS_0=a`, `CHANNELS_1=b`.
"""

from __future__ import annotations

import os
from typing import Any

from capawesome_ci.errors import InputError

DOTENV_NAME = "capawesome.env"
RESULT_NAME = "capawesome-result.json"
# Connection variables of the pipe (the token is a secured repository variable).
CONNECTION_VARIABLES = {
    "token": "CAPAWESOME_CLOUD_TOKEN",
    "app-id": "APP_ID",
    "base-url": "BASE_URL",
    "dry-run": "DRY_RUN",
}


def variable_name(input_name: str) -> str:
    return input_name.upper().replace("-", "_")


def read_list(environ: dict[str, str], name: str) -> list[str] | None:
    """`NAME_COUNT` + `NAME_<n>` (a YAML list), else `NAME` split on commas/newlines by the model."""
    count = environ.get(f"{name}_COUNT")
    if count is None:
        value = environ.get(name, "").strip()
        return [value] if value else None
    if not (count.isascii() and count.isdigit()):
        raise InputError(f"invalid variable {name}_COUNT: expected a number, got {count!r}")
    items = [environ.get(f"{name}_{index}", "").strip() for index in range(int(count))]
    return [item for item in items if item]


def read_pipe_inputs(model: Any, environ: dict[str, str]) -> dict[str, Any]:
    """The step's variables that are set, by field (capawesome_ci/fields.py)."""
    from capawesome_ci.ci.action_inputs import parse_bool
    from capawesome_ci.fields import field_specs

    given: dict[str, Any] = {}
    for spec in field_specs(model):
        name = spec.variable
        if spec.kind == "list":
            # A list may be named in the plural: CHANNELS: [production, beta].
            values = read_list(environ, name) or read_list(environ, f"{name}S")
            if values:
                given[spec.name] = values
            continue
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        given[spec.name] = parse_bool(name, raw) if spec.kind == "bool" else raw
    return given


def output_dir(environ: dict[str, str]) -> str:
    return environ.get("BITBUCKET_CLONE_DIR") or os.getcwd()
