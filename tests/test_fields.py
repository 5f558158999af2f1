"""One description of every input field (capawesome_ci/fields.py), and the four front ends held to it:
the CLI, the GitHub action reader, the Bitbucket pipe reader and the generated GitLab templates
must read and accept the same values for every field of every command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from capawesome_ci.ci.action_inputs import read_model_inputs
from capawesome_ci.ci.bitbucket import read_pipe_inputs
from capawesome_ci.cli import build_parser
from capawesome_ci.cloud import methods
from capawesome_ci.commands import COMMANDS
from capawesome_ci.devtools import action_yml
from capawesome_ci.errors import CiError
from capawesome_ci.fields import DURATION, PERCENTAGE, FieldSpec, field_specs, ordered_fields, step_specs
from capawesome_ci.providers import PROVIDERS
from capawesome_ci.steps.build import BuildInputs
from capawesome_ci.steps.inputs import STACKS

MODELS = {command: info.load()[1] for command, info in COMMANDS.items()}
SPECS = [(command, spec) for command, model in MODELS.items() for spec in field_specs(model)]
IDS = [f"{command}:{spec.name}" for command, spec in SPECS]

# What the duration and percentage validators take (the CLI, the action and the pipe all read text
# and hand it to the model), and what they refuse. Blanks around or inside a value are trimmed by
# the step but not by GitLab's regex, which is stricter there on purpose: no sample has them.
DURATIONS = ["3600", "90m", "1h30m", "1.5h", "45s", "2.5", "1H30M", "0.5h", "1h30", "10m5s", "007"]
NOT_DURATIONS = ["1d", "abc", "-5", "+5", "1e3", "nan", "inf", "h", "m30", "1.h", ".5h", "1_0", "١٠", "１０"]
NOT_DURATIONS += ["1h1h", "30m1h", "5ms", "90min", "0x10", "1,5h", "3600%"]
PERCENTAGES = ["25", "25%", "12.5", "12.5%", "0", "100", "007"]
NOT_PERCENTAGES = ["1_0", "١٠", "１０", "1e1", "-0", "+5", "nan", "inf", "%", "25%%", "abc", "0x10"]
# Right form, wrong size: GitLab lets them through and the step says why (exit 2).
OUT_OF_RANGE = {"DURATION": ["0", "0h0m0s"], "PERCENT": ["101", "100.5%"]}
FORMS = {"DURATION": (DURATIONS, NOT_DURATIONS), "PERCENT": (PERCENTAGES, NOT_PERCENTAGES)}


def fillers(model: Any) -> dict[str, str]:
    """Values for the model's required fields, so that one field can be checked on its own."""
    return {spec.name: (spec.choices or ("5",))[0] for spec in field_specs(model) if spec.required}


def field_accepts(model: Any, name: str, value: Any) -> bool:
    """Whether the model's own validator for `name` takes `value` (other complaints do not count)."""
    try:
        model.model_validate({**fillers(model), name: value})
    except ValidationError as error:
        return not any(problem["loc"][:1] == (name,) for problem in error.errors())
    except CiError:  # a rule across fields, checked after each field's own validator passed
        return True
    return True


# Values the field validators take, where a made-up word would not do.
LISTS = {"download": ["apk", "aab"], "type": ["apk", "aab"], "var": ["A=1", "B=2"], "custom_property": ["a=1", "b=2"]}
VALUES = {"build_number": "42", "share_expires_in_days": "30"}


def sample(spec: FieldSpec) -> str:
    if spec.choices:
        return spec.choices[-1]
    if spec.metavar in FORMS:
        return FORMS[spec.metavar][0][1]
    return VALUES.get(spec.name, f"{spec.name}-1")


def cli_given(command: str, argv: list[str]) -> dict[str, Any]:
    """What the CLI hands to the step for `argv` (as cli.main does)."""
    args = build_parser(command).parse_args([command, *argv])
    return {spec.name: getattr(args, spec.name) for spec in field_specs(MODELS[command]) if hasattr(args, spec.name)}


def gitlab_inputs(step: str) -> dict[str, dict[str, Any]]:
    """The `spec: inputs:` of templates/<step>.yml, as written (values are JSON or bare scalars)."""
    text = (action_yml.REPO_ROOT / "templates" / f"{step}.yml").read_text(encoding="utf-8")
    inputs: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for line in text.split("\n---\n", 1)[0].splitlines():
        if re.fullmatch(r"    [a-z0-9-]+:", line):
            current = inputs.setdefault(line.strip().rstrip(":"), {})
        elif line.startswith("      "):
            key, _, value = line.strip().partition(": ")
            try:
                current[key] = json.loads(value)
            except ValueError:
                current[key] = value
    return inputs


def test_specs_cover_every_input_field_once_in_help_order() -> None:
    for model in MODELS.values():
        names = [spec.name for spec in field_specs(model)]
        assert names == [name for name in ordered_fields(model) if name != "app_id"]
        assert field_specs(model) is field_specs(model)  # computed once


def test_fields_imports_neither_the_steps_nor_pydantic() -> None:
    heavy = "('pydantic', 'capawesome_ci.steps')"
    code = f"import sys, capawesome_ci.fields; print([m for m in sys.modules if m.startswith({heavy})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("command", "spec"), SPECS, ids=IDS)
def test_cli_action_and_pipe_read_the_same_value(command: str, spec: FieldSpec) -> None:
    model = MODELS[command]
    if spec.kind == "bool":
        for value, argv in ((True, [spec.flag]), (False, ["--no-" + spec.flag[2:]])):
            text = "true" if value else "false"
            assert cli_given(command, argv) == {spec.name: value}
            assert read_model_inputs(model, {f"INPUT_{spec.input.upper()}": text}) == {spec.name: value}
            assert read_pipe_inputs(model, {spec.variable: text}) == {spec.name: value}
        return
    if spec.kind == "list":
        items = LISTS.get(spec.name, ["first", "second"])
        expected: Any = items
        assert cli_given(command, [spec.flag, items[0], spec.flag, items[1]]) == {spec.name: items}
        lines = f"{items[0]}\n {items[1]} \n"
        assert read_model_inputs(model, {f"INPUT_{spec.input.upper()}": lines}) == {spec.name: items}
        for name in (spec.variable, spec.variable + "S"):  # a YAML list, named in the singular or plural
            listed = {f"{name}_COUNT": "2", f"{name}_0": items[0], f"{name}_1": items[1]}
            assert read_pipe_inputs(model, listed) == {spec.name: items}
    else:
        expected = sample(spec)
        assert cli_given(command, [spec.flag, expected]) == {spec.name: expected}
        # GitHub keeps the hyphen, composite actions and GitLab templates pass an underscore.
        for key in (f"INPUT_{spec.input.upper()}", f"INPUT_{spec.name.upper()}"):
            assert read_model_inputs(model, {key: f" {expected} "}) == {spec.name: expected}
        assert read_pipe_inputs(model, {spec.variable: expected}) == {spec.name: expected}
    # An empty value is an unset input everywhere but on the command line.
    assert read_model_inputs(model, {f"INPUT_{spec.name.upper()}": ""}) == {}
    assert read_pipe_inputs(model, {spec.variable: ""}) == {}
    assert field_accepts(model, spec.name, expected), (command, spec.name, expected)


@pytest.mark.parametrize(("command", "spec"), SPECS, ids=IDS)
def test_cli_help_and_generated_inputs_describe_the_field(
    command: str, spec: FieldSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser(command).parse_args([command, "--help"])
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps long lines
    shown = f"{spec.flag}, --no-{spec.flag[2:]}" if spec.kind == "bool" else f"{spec.flag} {spec.metavar}"
    assert shown in usage
    if spec.kind == "bool":
        assert f"(default: {'yes' if spec.default == 'true' else 'no'})" in usage
    elif spec.default is not None:
        assert f"(default: {spec.default})" in usage
    description, required, default = action_yml.step_inputs(command)[spec.input]
    # Front ends that serve every provider require an input only where every provider does.
    optional_elsewhere = any(
        not other.required
        for provider in PROVIDERS.values()
        for other in field_specs(provider.model(command, MODELS[command]))
        if other.name == spec.name
    )
    assert (required, default) == (spec.required and not optional_elsewhere, spec.default)
    assert description.startswith(spec.help.replace("--", ""))


@pytest.mark.parametrize(("command", "spec"), SPECS, ids=IDS)
def test_gitlab_template_input_matches_the_spec(command: str, spec: FieldSpec) -> None:
    entry = gitlab_inputs(command)[spec.input]
    if spec.kind == "bool":
        assert entry["type"] == "boolean"
        assert entry["default"] is (spec.default == "true")
        return
    served = {other.name: other for other in step_specs(command)}[spec.name]  # as every provider takes it
    # A number input GitLab checks needs a value: an optional one without a default stays a string.
    number = spec.number and (served.required or spec.default is not None)
    # GitLab refuses a template whose number input has a regex: never both.
    assert (entry.get("type") == "number") is number
    assert "regex" not in entry or entry.get("type") != "number"
    if spec.choices:
        assert entry["options"] == ([] if spec.required else [""]) + list(spec.choices)
        for choice in spec.choices:
            assert field_accepts(MODELS[command], spec.name, choice)
        assert not field_accepts(MODELS[command], spec.name, "not-a-choice")
    if spec.pattern and not number:
        assert re.search(entry["regex"], entry["default"]), "GitLab checks the default too"
        assert entry["regex"] in (spec.pattern, f"^$|{spec.pattern}")
    else:
        assert "regex" not in entry


PATTERNED = [(command, spec) for command, spec in SPECS if spec.pattern]


def test_the_typed_forms_are_the_ones_expected() -> None:
    assert {(command, spec.name, spec.metavar) for command, spec in PATTERNED} == {
        (command, "timeout", "DURATION") for command in ("build", "wait", "download", "deploy")
    } | {
        ("download", "stall_timeout", "DURATION"),
        ("build", "rollout", "PERCENT"),
        ("deploy", "rollout", "PERCENT"),
        ("live-update", "rollout", "PERCENT"),
        ("rollout", "percentage", "PERCENT"),
    }


@pytest.mark.parametrize(("command", "spec"), PATTERNED, ids=[f"{c}:{s.name}" for c, s in PATTERNED])
def test_regex_accepts_what_the_validator_accepts(command: str, spec: FieldSpec) -> None:
    assert spec.pattern is not None
    model = MODELS[command]
    good, bad = FORMS[spec.metavar]
    for value in good:
        assert re.search(spec.pattern, value), value  # GitLab's match is unanchored: the ^…$ are ours
        assert field_accepts(model, spec.name, value), value
        assert cli_given(command, [spec.flag, value]) == {spec.name: value}
    for value in bad:
        assert not re.search(spec.pattern, value), value
        assert not field_accepts(model, spec.name, value), value
    for value in OUT_OF_RANGE[spec.metavar]:
        assert re.search(spec.pattern, value), value
        assert not field_accepts(model, spec.name, value), value


def test_the_duration_regex_in_every_template_is_the_validators() -> None:
    for step in ("build", "wait", "download", "deploy"):
        regex = gitlab_inputs(step)["timeout"]["regex"]
        assert regex == f"^(?i:{DURATION.pattern})$"
        for value in ("1.5h", "90m", "1h30m", "3600"):
            assert re.search(regex, value), (step, value)
        for value in ("1d", "ninety", "-1", "1e3"):
            assert not re.search(regex, value), (step, value)
    assert gitlab_inputs("download")["stall-timeout"]["regex"] == f"^(?i:{DURATION.pattern})$"
    assert PERCENTAGE.fullmatch("12.5") and not PERCENTAGE.fullmatch("12.5 %")


def test_one_list_of_stacks() -> None:
    (stack,) = [spec for spec in field_specs(BuildInputs) if spec.name == "stack"]
    assert stack.choices == STACKS
    assert gitlab_inputs("build")["stack"]["options"] == ["", *STACKS]


def test_method_sets_are_derived_from_one_table() -> None:
    assert methods.READ_METHODS < methods.IDEMPOTENT_METHODS  # a read may always be repeated
    assert methods.FOLLOWED_METHODS < methods.READ_METHODS  # only a read follows a redirect
    assert not methods.MUTATING_METHODS & methods.IDEMPOTENT_METHODS  # never retried once sent
    from capawesome_ci.cloud import errors, redirects, retry, transport

    assert retry.IDEMPOTENT_METHODS is methods.IDEMPOTENT_METHODS
    assert transport.READ_METHODS is methods.READ_METHODS
    assert errors.MUTATING_METHODS is methods.MUTATING_METHODS
    assert redirects.FOLLOWED_METHODS is methods.FOLLOWED_METHODS


def test_the_pipe_reads_a_bundle_path_not_the_shells_path() -> None:
    from capawesome_ci.steps.live_update import LiveUpdateInputs

    environ = {"PATH": "/usr/local/bin:/usr/bin", "BUNDLE_PATH": "dist"}
    assert read_pipe_inputs(LiveUpdateInputs, environ)["path"] == "dist"
    assert "path" not in read_pipe_inputs(LiveUpdateInputs, {"PATH": "/usr/bin"})
