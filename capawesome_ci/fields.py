"""What each input field of a step is, worked out once from its inputs model.

Four front ends read a step's inputs: the CLI options (`cli.add_model_options`), the GitHub action
reader (`ci/action_inputs.py`, INPUT_* variables), the Bitbucket pipe reader (`ci/bitbucket.py`,
UPPER_SNAKE variables) and the generated action.yml files and GitLab templates
(`devtools/action_yml.py`). Each asks this module, and only this module, whether a field is a
flag, a list or a value, which choices it has, which regex its text must match, its default, help
and metavar; so they cannot drift apart (tests/test_fields.py holds them to it).

Models come in as arguments and the patterns are imported from steps/inputs.py only when a model
is first described, so the steps may import this module without a cycle. Only the standard library
is imported at load time: the CLI stays quick to start.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from capawesome_ci.naming import FLAGS, INPUTS, VARIABLES

# The text forms of typed inputs: what the steps' validators accept and GitLab's `regex:` checks.
_DECIMAL = r"[0-9]+(?:\.[0-9]+)?"
PERCENTAGE = re.compile(rf"({_DECIMAL})%?")
DURATION = re.compile(rf"(?:({_DECIMAL})h)?(?:({_DECIMAL})m)?(?:({_DECIMAL})s?)?", re.IGNORECASE)

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

Kind = Literal["bool", "list", "value"]
# Connection settings, not a step's own inputs: each front end reads them with the token and the
# base URL (`--app-id`, input `app-id`, variable `APP_ID`).
CONNECTION_FIELDS = frozenset({"app_id"})


@dataclass(frozen=True)
class FieldSpec:
    """One input field, as every front end sees it."""

    name: str  # the model field: `output_dir`
    kind: Kind  # bool: --x/--no-x, true/false; list: repeatable, one item per line; value: one text
    choices: tuple[str, ...] | None  # a Literal's values, in order
    # The regex (anchored, RE2- and Python-compatible) that the field's validator matches the text
    # against: GitLab's `regex:` and the CLI accept the same strings with it. None: no fixed form.
    pattern: str | None
    # A bare number is how it is usually written (`rollout: 25`): GitLab types it `number`, and a
    # number input cannot carry a `regex:`, so the step checks the form itself.
    number: bool
    default: str | None  # as text: "true", "3600", "."; None when there is none to show
    help: str  # the model's description (it may name other inputs as --flags)
    metavar: str
    required: bool

    @property
    def flag(self) -> str:
        """The CLI option: `--output-dir`."""
        return FLAGS.name(self.name)

    @property
    def input(self) -> str:
        """The GitHub action and GitLab template input: `output-dir` (read from `INPUT_OUTPUT-DIR`)."""
        return INPUTS.name(self.name)

    @property
    def variable(self) -> str:
        """The Bitbucket pipe variable: `OUTPUT_DIR` (`path` is `BUNDLE_PATH`: `PATH` is the shell's)."""
        return VARIABLES.name(self.name)


def ordered_fields(model: type[BaseModel]) -> list[str]:
    """The model's own fields first, then the inherited ones: how help texts list them."""
    own = [name for name in inspect.get_annotations(model) if name in model.model_fields]
    return own + [name for name in model.model_fields if name not in own]


@functools.cache
def field_specs(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The step's input fields (not the connection ones), in `ordered_fields` order."""
    forms = _text_forms()
    return tuple(
        _spec(name, model.model_fields[name], forms) for name in ordered_fields(model) if name not in CONNECTION_FIELDS
    )


def step_specs(command: str) -> tuple[FieldSpec, ...]:
    """Every input `command` takes on any provider: the step's own fields, then those only some
    providers add (their help names them), for front ends that serve every provider at once (the
    generated action inputs and templates)."""
    import dataclasses

    from capawesome_ci.commands import COMMANDS
    from capawesome_ci.providers import PROVIDERS

    _, base = COMMANDS[command].load()
    specs = {spec.name: spec for spec in field_specs(base)}
    extra: dict[str, tuple[FieldSpec, list[str]]] = {}
    optional_somewhere: set[str] = set()  # required by the step, optional on some provider (Capgo's percentage)
    for provider in PROVIDERS.values():
        for spec in field_specs(provider.model(command, base)):
            if spec.name not in specs:
                extra.setdefault(spec.name, (spec, []))[1].append(provider.id)
            elif not spec.required:
                optional_somewhere.add(spec.name)
    for name in optional_somewhere:
        specs[name] = dataclasses.replace(specs[name], required=False)
    for spec, owners in extra.values():
        specs[spec.name] = dataclasses.replace(spec, required=False, help=f"[{', '.join(owners)}] {spec.help}")
    return tuple(specs.values())


def anchored(pattern: re.Pattern[str]) -> str:
    """A validator's regex as a whole-value regex for GitLab (RE2) and `re.match` alike."""
    group = "(?i:" if pattern.flags & re.IGNORECASE else "(?:"
    return f"^{group}{pattern.pattern})$"


def _text_forms() -> dict[str, tuple[re.Pattern[str], bool]]:
    """Typed text forms, by the metavar that names them: the validators' regex (steps/inputs.py parses
    with these very patterns), and whether a bare number is the usual way to write one (FieldSpec.number)."""
    return {"DURATION": (DURATION, False), "PERCENT": (PERCENTAGE, True)}


def _spec(name: str, info: FieldInfo, forms: dict[str, tuple[re.Pattern[str], bool]]) -> FieldSpec:
    annotation = info.annotation
    choices = _choices(annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    metavar = str(extra.get("metavar") or ("{" + ",".join(choices) + "}" if choices else name.upper()))
    kind: Kind = "bool" if annotation is bool else "list" if typing.get_origin(annotation) is list else "value"
    form = forms.get(metavar) if kind == "value" else None
    return FieldSpec(
        name=name,
        kind=kind,
        choices=choices,
        pattern=anchored(form[0]) if form else None,
        number=annotation in (int, float) and (form is None or form[1]),
        default=_default_text(info),
        help=info.description or "",
        metavar=metavar,
        required=info.is_required(),
    )


def _choices(annotation: Any) -> tuple[str, ...] | None:
    """`Literal["a", "b"]` or `Literal["a", "b"] | None` → ("a", "b")."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    values = [value for member in members if typing.get_origin(member) is Literal for value in typing.get_args(member)]
    return tuple(values) if values and all(isinstance(value, str) for value in values) else None


def _default_text(info: FieldInfo) -> str | None:
    if info.is_required() or info.default_factory is not None or info.default is None:
        return None
    value = info.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
