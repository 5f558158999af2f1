"""Inputs of the container action, read from the runner's INPUT_* environment variables.

GitHub keeps hyphens (`app-id` → `INPUT_APP-ID`); composite variants pass `INPUT_APP_ID`. An
empty value is the same as an unset input. Booleans are YAML 1.2 core (`true|True|TRUE|…`),
lists are one item per line (commas work too, through the models).
"""

from __future__ import annotations

from typing import Any

from capawesome_ci.errors import InputError

TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")
# Inputs every action has besides its step's own fields: name → (description, required, default).
CONNECTION_INPUTS: dict[str, tuple[str, bool, str | None]] = {
    "token": ("Capawesome Cloud API token (pass a secret: secrets.CAPAWESOME_CLOUD_TOKEN)", False, None),
    "app-id": ("Capawesome Cloud app id", False, None),
    "base-url": ("API base URL (default https://api.cloud.capawesome.io)", False, None),
    "dry-run": ("Do the reads, print the mutating requests, send none", False, "false"),
    "comment": ("Also post the summary as a sticky pull request comment (needs github-token)", False, "false"),
    "comment-id": (
        "What tells this comment apart, e.g. '{job}/{platform}' (default {workflow}/{job}/{command})",
        False,
        None,
    ),
    "github-token": ("Token that may comment on pull requests (e.g. secrets.GITHUB_TOKEN)", False, None),
}


def input_name(field: str) -> str:
    return field.replace("_", "-")


def read_input(environ: dict[str, str], name: str) -> str | None:
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        value = environ.get(key)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def parse_bool(name: str, value: str) -> bool:
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InputError(f"invalid input {name}: expected true or false, got {value!r}")


def read_model_inputs(model: Any, environ: dict[str, str]) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        if field == "app_id":
            continue
        name = input_name(field)
        raw = read_input(environ, name)
        if raw is None:
            continue
        if info.annotation is bool:
            given[field] = parse_bool(name, raw)
        elif getattr(info.annotation, "__origin__", None) is list:
            given[field] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            given[field] = raw
    return given
