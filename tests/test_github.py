"""The GitHub Actions platform module: escaping, outputs, masks, groups, summary, inputs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from capawesome_ci.ci.action_inputs import read_input, read_model_inputs
from capawesome_ci.ci.github import GitHubReporter, command, escape_data, escape_property, format_output
from capawesome_ci.ci.markdown import render_summary
from capawesome_ci.ci.summary import summary_sections
from capawesome_ci.devtools import action_yml
from capawesome_ci.errors import InputError
from capawesome_ci.result import ArtifactResult, DeploymentResult, ShareResult, StepResult
from capawesome_ci.steps.build import BuildInputs


def parse_outputs(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does (heredoc blocks)."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines) and lines[index]:
        name, delimiter = lines[index].split("<<", 1)
        end = lines.index(delimiter, index + 1)
        outputs[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return outputs


def reporter(tmp_path: Path, **env: str) -> tuple[GitHubReporter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        **env,
    }
    return GitHubReporter(environ, stdout=out, stderr=err), out, err


def test_escaping_follows_the_toolkit() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert command("error", "line1\nline2", title="Build: failed, badly", file=None) == (
        "::error title=Build%3A failed%2C badly::line1%0Aline2"
    )


def test_a_value_cannot_inject_another_output(tmp_path: Path) -> None:
    evil = "x\nEOF\ninjected=yes\nghadelimiter_fake\nother<<EOF"
    (tmp_path / "output").write_text(format_output("error", evil) + format_output("status", "ok"))
    outputs = parse_outputs((tmp_path / "output").read_text())
    assert outputs == {"error": evil, "status": "ok"}
    first = format_output("a", "1").split("\n")[0]
    second = format_output("a", "1").split("\n")[0]
    assert first != second  # a fresh delimiter per value


def test_publish_writes_outputs_and_summary(tmp_path: Path) -> None:
    github, _, _ = reporter(tmp_path)
    result = StepResult(
        command="build",
        status="succeeded",
        build_id="b1",
        build_number="42",
        build_url="https://console.example/apps/a/builds/b1",
        job_status="succeeded",
        artifacts=[
            ArtifactResult(id="1", type="aab", path="out/app.aab", size=10, sha256="aa"),
            ArtifactResult(id="2", type="apk", path="out/app.apk", size=20, sha256="bb"),
        ],
        deployments=[DeploymentResult(id="d1", channel="beta", rollout_percentage=25)],
        share=ShareResult(id="s", url="https://console.example/share/s", qr_code_url="https://api.example/qr?x=1"),
    )
    github.publish(result)
    outputs = parse_outputs((tmp_path / "output").read_text())
    assert set(outputs) == set(action_yml.OUTPUTS)  # every documented output, every time
    assert outputs["status"] == "succeeded" and outputs["exit-code"] == "0" and outputs["error"] == ""
    assert outputs["job-id"] == "" and outputs["share-expires-at"] == "" and outputs["failure-summary"] == ""
    assert outputs["share-qr-code-url"] == "https://api.example/qr?x=1"
    assert outputs["channel"] == "beta"
    assert outputs["build-id"] == "b1"
    assert outputs["build-number"] == "42"
    assert outputs["job-status"] == "succeeded"
    assert outputs["artifact-paths"] == "out/app.aab\nout/app.apk"
    assert outputs["artifact-sha256"] == "aa\nbb"
    assert outputs["deployment-ids"] == "d1"
    assert outputs["rollout-percentage"] == "25"
    assert outputs["share-url"] == "https://console.example/share/s"
    assert '"buildId":"b1"' in outputs["result"]
    summary = (tmp_path / "summary").read_text()
    assert "| **Build** | \\#42 |" in summary  # Markdown-escaped: server text is text
    assert "out/app.apk" in summary and "25 %" in summary
    assert '<img src="https://api.example/qr?x=1"' in summary


def test_mask_is_line_by_line_and_comes_first(tmp_path: Path) -> None:
    github, _, err = reporter(tmp_path)
    github.mask("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\n")
    github.info("key line MIIEvQIBADANBg leaked?")
    lines = err.getvalue().splitlines()
    assert "::add-mask::MIIEvQIBADANBg" in lines
    assert "::add-mask::kqhkiG9w0BAQEF" in lines
    assert "key line *** leaked?" in lines


def test_remote_logs_cannot_run_workflow_commands(tmp_path: Path) -> None:
    github, _, err = reporter(tmp_path)
    with github.log_group("Build logs") as sink:
        sink.line("::add-mask::nothing")
        sink.line("::set-output name=build-id::forged")
    text = err.getvalue()
    token = re.search(r"::stop-commands::(\w+)", text)
    assert token is not None
    lines = text.splitlines()
    start, end = lines.index(f"::stop-commands::{token.group(1)}"), lines.index(f"::{token.group(1)}::")
    assert lines[0] == "::group::Build logs" and lines[-1] == "::endgroup::"
    assert start < lines.index("  │ ::add-mask::nothing") < end
    # Another group opened later gets a fresh token.
    with github.log_group("again"):
        pass
    assert len(set(re.findall(r"::stop-commands::(\w+)", err.getvalue()))) == 2


def test_annotations_are_capped(tmp_path: Path) -> None:
    github, _, err = reporter(tmp_path)
    for number in range(15):
        github.warning(f"w{number}")
    assert err.getvalue().count("::warning") == 10
    assert "warning: w14" in err.getvalue()


def test_summary_stays_under_the_limit_with_a_huge_log() -> None:
    result = StepResult(command="build", status="failed", log_tail=["x" * 8000] * 50)
    huge = render_summary(result, summary_sections(result), budget=100_000)
    assert len(huge.encode()) <= 100_000
    assert "earlier lines omitted" in huge


def test_summary_escapes_html_from_remote_logs() -> None:
    result = StepResult(command="build", status="failed", log_tail=["<script>alert(1)</script> | cell"])
    text = render_summary(result, summary_sections(result))
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_inputs_keep_hyphens_accept_underscores_and_ignore_empty() -> None:
    environ = {"INPUT_APP-ID": "app", "INPUT_GIT_REF": "main", "INPUT_TYPE": ""}
    assert read_input(environ, "app-id") == "app"
    assert read_input(environ, "git-ref") == "main"
    assert read_input(environ, "type") is None


def test_booleans_and_lists_as_github_documents() -> None:
    environ = {
        "INPUT_PLATFORM": "web",
        "INPUT_WAIT": "False",
        "INPUT_CHANNEL": "production\n beta \n\n",
        "INPUT_DOWNLOAD": "zip",
    }
    given = read_model_inputs(BuildInputs, environ)
    assert given["wait"] is False
    assert given["channel"] == ["production", "beta"]
    with pytest.raises(InputError, match="invalid input share"):
        read_model_inputs(BuildInputs, {"INPUT_SHARE": "yes"})


def test_action_files_match_the_generator() -> None:
    assert action_yml.main(["--check"]) == 0, "run: python -m capawesome_ci.devtools.action_yml"


def test_every_step_input_is_in_its_action() -> None:
    for step, content in (
        (path.parent.name, path.read_text()) for path in (action_yml.REPO_ROOT / "actions").glob("*/action.yml")
    ):
        if step == "composite":
            continue
        for name in action_yml.step_inputs(step):
            assert f"\n  {name}:\n" in content, (step, name)


def test_release_pins_every_docker_action_to_the_image_digest() -> None:
    image = "docker://ghcr.io/acme/capawesome-ci@sha256:" + "a" * 64
    files = action_yml.generate(image)
    docker_actions = [
        content for path, content in files.items() if path.name == "action.yml" and "using: docker" in content
    ]
    assert len(docker_actions) == len(action_yml.COMMANDS) + 1  # the root action and one per step
    assert all(f'image: "{image}"' in content for content in docker_actions)
    assert action_yml.main(["--image", "ghcr.io/no-scheme"]) == 2


def test_failure_outputs_carry_the_error_job_and_summary(tmp_path: Path) -> None:
    github, _, _ = reporter(tmp_path)
    result = StepResult(
        command="build",
        status="failed",
        exit_code=1,
        error="job j1 ended failed",
        job_id="j1",
        job_status="failed",
        failure_summary="Signing config missing\nsecond line",
        share=ShareResult(id="s", url="u", qr_code_url="q", expires_at="2026-12-01T00:00:00Z"),
    )
    github.publish(result)
    outputs = parse_outputs((tmp_path / "output").read_text())
    assert (outputs["status"], outputs["exit-code"], outputs["job-id"]) == ("failed", "1", "j1")
    assert outputs["error"] == "job j1 ended failed"
    assert outputs["failure-summary"] == "Signing config missing\nsecond line"
    assert outputs["share-expires-at"] == "2026-12-01T00:00:00Z"
