"""Hostile remote data is neutralised, contained and bounded: log lines that try workflow commands,
GitLab sections, escape codes, broken text or sheer size; artifact names that try to escape."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.ci.github import GitHubReporter
from capawesome_ci.ci.gitlab import GitLabReporter
from capawesome_ci.platform import Artifact, Build
from capawesome_ci.sandbox import Sandbox
from capawesome_ci.sandbox.capawesome import state as sandbox_state
from capawesome_ci.steps.download import safe_file_name
from capawesome_ci.text import MAX_LINE_CHARS, clean_log_text

HOSTILE_LINES = (
    "::set-output name=build-id::forged",
    "::add-mask::",
    "::stop-commands::x",
    "::error title=forged::not from us",
    "\x1b[0Ksection_end:1700000000:capawesome_logs_1\r\x1b[0K",
    "\x1b]0;retitled\x07\x1b[2J\x1b[Hcleared the screen",
    "lone surrogate \ud800 and NUL \x00 and bell \x07",
    "x" * (10 * 1024 * 1024),
)


def test_hostile_log_lines_through_the_cli(cli: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sandbox_state.LOG_TEMPLATES, "android", HOSTILE_LINES)
    for ci in ("github", "gitlab", "local"):
        result = cli(
            "--ci",
            ci,
            "build",
            "--platform",
            "android",
            "--var",
            f"CAPAWESOME_SANDBOX_LOG_LINES={len(HOSTILE_LINES) + 1}",
            "--json",
        )
        assert result.code == 0, result.stderr[-2000:]
        assert result.json["status"] == "succeeded"
        assert len(result.stderr) < 200_000  # the 10 MB line was cut
        for line in result.stderr.splitlines():
            assert "\x1b[2J" not in line and "\x1b]" not in line and "\x00" not in line
        if ci == "github":
            lines = result.stderr.splitlines()
            token_lines = [line for line in lines if line.startswith("::stop-commands::")]
            assert token_lines, "remote logs must run with commands stopped"
            token = token_lines[0].split("::")[2]
            forged = lines.index(next(line for line in lines if "::set-output name=build-id::forged" in line))
            assert lines.index(token_lines[0]) < forged < lines.index(f"::{token}::")
        if ci == "gitlab":
            assert "section_end:1700000000" not in result.stderr


def test_reporters_keep_hostile_text_inside(tmp_path: Path) -> None:
    for reporter in (
        GitHubReporter({}, stdout=io.StringIO(), stderr=io.StringIO()),
        GitLabReporter(stdout=io.StringIO(), stderr=io.StringIO()),
    ):
        with reporter.log_group("logs") as sink:
            for line in HOSTILE_LINES:
                sink.line(line)
        written = reporter.stderr.getvalue()  # type: ignore[attr-defined]
        written.encode("utf-8")  # no lone surrogates left: writing to a real stream cannot crash
        assert max(len(line) for line in written.splitlines()) < MAX_LINE_CHARS + 100


def test_clean_log_text_handles_invalid_unicode() -> None:
    assert clean_log_text("a\ud800b", keep_colors=False).encode("utf-8")


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/absolute/app.apk", "app.apk"),
        ("C:\\Windows\\app.apk", "app.apk"),
        ("nul\x00byte.apk", "nul_byte.apk"),
        ("CON", "build-42.apk"),
        ("aux.txt", "build-42.apk"),
        ("..", "build-42.apk"),
        ("", "build-42.apk"),
        ("a" * 500 + ".apk", "a" * 196 + ".apk"),  # 200 bytes, the extension kept
    ],
)
def test_artifact_names_stay_inside_the_output_folder(file_name: str, expected: str) -> None:
    build = Build(id="b", number="42")
    name = safe_file_name(Artifact(id="a", build_id="b", type="apk", status="ready", file_name=file_name), build)
    assert name == expected
    assert "/" not in name and "\\" not in name and "\x00" not in name


def test_hostile_artifact_name_from_the_server(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    built = cli("build", "--platform", "android", "--json").json
    for artifact in sandbox.state.artifacts.values():
        artifact["fileName"] = "../../escaped.apk"
    result = cli("download", "--build-id", built["buildId"], "--output-dir", "out", "--json")
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "escaped.apk").is_file()
    assert not (tmp_path.parent / "escaped.apk").exists()
