"""The local reporter and the text hygiene every reporter shares."""

from __future__ import annotations

import io
import json

from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.ci.summary import summary_sections
from capawesome_ci.redact import SecretRedactor
from capawesome_ci.result import ArtifactResult, DeploymentResult, StepResult
from capawesome_ci.text import MAX_LINE_CHARS, clean_log_text


def test_clean_log_text_strips_control_but_can_keep_colours() -> None:
    hostile = "\x1b[32mok\x1b[0m \x1b]0;title\x07\x1b[2J\rover\x00write\x1b"
    assert clean_log_text(hostile, keep_colors=False) == "ok overwrite"
    assert clean_log_text(hostile, keep_colors=True) == "\x1b[32mok\x1b[0m overwrite"


def test_clean_log_text_bounds_a_huge_line() -> None:
    cleaned = clean_log_text("x" * (10 * 1024 * 1024), keep_colors=False)
    assert len(cleaned) < MAX_LINE_CHARS + 50
    assert cleaned.endswith("[line truncated]")


def test_redactor_masks_each_line_of_a_multiline_secret() -> None:
    redact = SecretRedactor()
    list(redact.add("-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----"))
    assert redact("line AAAABBBBCCCC and DDDDEEEE") == "line *** and ***"


def test_json_mode_writes_only_json_to_stdout_and_redacts() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = LocalReporter(json_output=True, stdout=out, stderr=err)
    reporter.mask("cap_secret_value")
    reporter.info("using cap_secret_value")
    reporter.publish(StepResult(command="build", status="failed", error="bad cap_secret_value"))
    assert json.loads(out.getvalue())["error"] == "bad ***"
    assert "cap_secret_value" not in err.getvalue()


def test_log_group_lines_are_cleaned() -> None:
    err = io.StringIO()
    reporter = LocalReporter(stderr=err)
    with reporter.log_group("logs") as sink:
        sink.line("\x1b[31mred\x1b[0m ::error::x")
    assert "  │ red ::error::x" in err.getvalue()


def test_summary_has_build_artifacts_deployments_and_failure_logs() -> None:
    result = StepResult(
        command="build",
        status="failed",
        build_number="42",
        platform="android",
        artifacts=[ArtifactResult(id="a", type="apk", path="x.apk", size=2048, sha256="ab")],
        deployments=[DeploymentResult(id="d", channel="beta", rollout_percentage=25)],
        log_tail=["line 1", "line 2"],
    )
    titles = [section.title for section in summary_sections(result)]
    assert titles == ["capawesome-ci build: failed", "Artifacts", "Deployments", "Last 2 log lines"]
    out = io.StringIO()
    LocalReporter(stdout=out, stderr=io.StringIO()).publish(result)
    assert "x.apk" in out.getvalue() and "25 %" in out.getvalue()
