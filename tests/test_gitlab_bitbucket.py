"""GitLab and Bitbucket platform modules: dotenv rules, section codes, forged sections, pipe variables."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from capawesome_ci.ci.bitbucket import read_list, read_pipe_inputs
from capawesome_ci.ci.detect import detect_ci, make_reporter
from capawesome_ci.ci.dotenv import MAX_BYTES, dotenv_values, format_dotenv
from capawesome_ci.ci.gitlab import GitLabReporter, neutralise, section_end, section_start
from capawesome_ci.errors import InputError
from capawesome_ci.result import ArtifactResult, DeploymentResult, StepResult
from capawesome_ci.steps.deploy import DeployInputs


def test_dotenv_is_single_line_valid_keys_and_bounded() -> None:
    result = StepResult(
        command="build",
        status="failed",
        build_id="b1",
        error="line one\nline two\r\n\ttabbed",
        artifacts=[ArtifactResult(id="a", type="apk", path="out/app.apk", sha256="ab")],
        deployments=[DeploymentResult(id="d1", channel="beta", rollout_percentage=12.5)],
    )
    text = format_dotenv(dotenv_values(result), "gitlab")
    lines = text.splitlines()
    assert "CAPAWESOME_ERROR=line one line two tabbed" in lines
    assert "CAPAWESOME_ARTIFACT_PATH=out/app.apk" in lines
    assert "CAPAWESOME_ROLLOUT_PERCENTAGE=12.5" in lines
    assert all(line.split("=", 1)[0].replace("_", "").isalnum() for line in lines)
    assert len(lines) <= 20  # older self-managed GitLab refuses more


def test_dotenv_drops_the_least_important_keys_to_fit() -> None:
    values = {f"CAPAWESOME_K{i}": "x" * 400 for i in range(30)}
    text = format_dotenv(values, "gitlab")
    assert len(text.encode()) < MAX_BYTES  # GitLab wants it smaller than its limit
    assert text.startswith("CAPAWESOME_K0=")
    with pytest.raises(ValueError):
        format_dotenv({"BAD-KEY": "x"}, "shell")


def test_dotenv_never_contains_secrets(tmp_path: Path) -> None:
    reporter = GitLabReporter(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        dotenv_path=str(tmp_path / "o.env"),
        summary_path=str(tmp_path / "s.md"),
    )
    reporter.mask("cap_secret_token_value")
    reporter.publish(StepResult(command="build", status="error", error="bad token cap_secret_token_value"))
    assert "cap_secret_token_value" not in (tmp_path / "o.env").read_text()
    assert "cap_secret_token_value" not in (tmp_path / "s.md").read_text()


def test_section_codes() -> None:
    start = section_start("capawesome_logs_1", "Build #1 logs")
    assert start.startswith("\x1b[0Ksection_start:")
    assert start.endswith(":capawesome_logs_1[collapsed=true]\r\x1b[0KBuild #1 logs")
    assert section_end("capawesome_logs_1").startswith("\x1b[0Ksection_end:")


def test_remote_lines_cannot_open_or_close_sections() -> None:
    forged = "\x1b[0Ksection_end:1700000000:capawesome_logs_1\r\x1b[0K and \x1b[0Ksection_start:1:evil\r\x1b[0Kx"
    cleaned = neutralise(forged)
    assert "\x1b[0K" not in cleaned and "\r" not in cleaned
    assert "section_end:" not in cleaned and "section_start:" not in cleaned
    assert neutralise("\x1b[32mgreen\x1b[0m") == "\x1b[32mgreen\x1b[0m"  # colours survive


def test_log_group_wraps_lines_in_a_section() -> None:
    err = io.StringIO()
    reporter = GitLabReporter(stdout=io.StringIO(), stderr=err)
    with reporter.log_group("Build logs") as sink:
        sink.line("section_end:0:capawesome_logs_1")
    lines = err.getvalue().rstrip("\n").split("\n")
    assert "section_start:" in lines[0] and "section_end:" in lines[-1]
    assert lines[1] == "section_end :0:capawesome_logs_1"


def test_detection_and_override() -> None:
    assert detect_ci({"GITLAB_CI": "true"}) == "gitlab"
    assert detect_ci({"GITLAB_CI": "false", "CAPAWESOME_CI": "gitlab"}) == "gitlab"
    assert detect_ci({"BITBUCKET_BUILD_NUMBER": "7"}) == "bitbucket"
    assert detect_ci({"GITHUB_ACTIONS": "true"}) == "github"
    assert detect_ci({}) == "local"
    with pytest.raises(InputError):
        make_reporter("jenkins", {}, False, False)


def test_bitbucket_list_variables() -> None:
    environ = {"CHANNELS_COUNT": "2", "CHANNELS_0": "production", "CHANNELS_1": " beta "}
    assert read_list(environ, "CHANNELS") == ["production", "beta"]
    assert read_list({"CHANNEL": "a,b"}, "CHANNEL") == ["a,b"]  # split by the model
    given = read_pipe_inputs(DeployInputs, {**environ, "BUILD_ID": "b1", "ROLLOUT": "25", "CREATE_CHANNEL": "true"})
    assert given == {"channel": ["production", "beta"], "build_id": "b1", "rollout": "25", "create_channel": True}
    with pytest.raises(InputError, match="CHANNEL_COUNT"):
        read_list({"CHANNEL_COUNT": "two"}, "CHANNEL")
