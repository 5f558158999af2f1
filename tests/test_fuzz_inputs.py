"""Property-based bad input: any value of any option of any command ends in exit 2 with exactly one
line on stderr (naming the input, or the missing token), never a traceback and never a hang."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capawesome_ci.cli import main
from capawesome_ci.commands import COMMANDS
from capawesome_ci.steps.inputs import ordered_fields
from tests import reliability

TRICKY = st.sampled_from(
    [
        "",
        " ",
        "-1",
        "101",
        "1e309",
        "nan",
        "inf",
        "%",
        "50%%",
        "0x10",
        "１２",
        "\u202e",
        "a=b=c",
        "=x",
        "../..",
        "\n",
        "true",
    ]
)
VALUES = st.one_of(TRICKY, st.text(min_size=0, max_size=40), st.integers(-(10**6), 10**6).map(str))


def options() -> list[tuple[str, str, bool]]:
    found = []
    for command, info in COMMANDS.items():
        _, model = info.load()
        for name in ordered_fields(model):
            if name != "app_id":
                found.append((command, "--" + name.replace("_", "-"), model.model_fields[name].annotation is bool))
    return found


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
    return code, err.getvalue()


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in list(os.environ):
        if name.startswith(("CAPAWESOME_", "GITHUB_", "GITLAB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CI", "true")  # never the sandbox fallback: no network at all
    monkeypatch.setenv("CAPAWESOME_APP_ID", "app")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(("command", "flag", "is_bool"), options(), ids=lambda v: str(v))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_any_value_is_one_line_and_exit_2(command: str, flag: str, is_bool: bool, value: str) -> None:
    argv = [command, f"{flag}={value}"] if not is_bool else [command, flag, value]
    code, err = run(argv)
    reliability.count("fuzzed inputs tried")
    lines = err.strip().splitlines()
    assert code == 2, (argv, err)
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    assert flag in lines[0] or "token" in lines[0] or "unrecognized arguments" in lines[0] or "--" in lines[0], lines
