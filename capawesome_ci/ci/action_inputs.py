"""Inputs of the container action, read from the runner's INPUT_* environment variables.

GitHub keeps hyphens (`app-id` → `INPUT_APP-ID`); composite variants pass `INPUT_APP_ID`. An
empty value is the same as an unset input. Booleans are YAML 1.2 core (`true|True|TRUE|…`),
lists are one item per line (commas work too, through the models).
"""

from __future__ import annotations

from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.fields import field_specs

TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")
# Inputs every action has besides its step's own fields: name → (description, required, default).
CONNECTION_INPUTS: dict[str, tuple[str, bool, str | None]] = {
    "provider": ("The platform to drive (default capawesome)", False, None),
    "token": ("The platform's API token or key (pass a secret, e.g. secrets.CAPAWESOME_CLOUD_TOKEN)", False, None),
    "app-id": ("App id (Capawesome Cloud: its id; Capgo: the reverse-DNS app id)", False, None),
    "base-url": ("API base URL (default: the platform's public API)", False, None),
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
    """A connection setting's or a step field's input name: `app_id` → `app-id` (FieldSpec.input)."""
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
    """The step's inputs that are set, by field (capawesome_ci/fields.py): booleans parsed, lists
    one item per line; the model validates the rest."""
    given: dict[str, Any] = {}
    for spec in field_specs(model):
        raw = read_input(environ, spec.input)
        if raw is None:
            continue
        if spec.kind == "bool":
            given[spec.name] = parse_bool(spec.input, raw)
        elif spec.kind == "list":
            given[spec.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            given[spec.name] = raw
    return given
