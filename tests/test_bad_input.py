"""Every option of every command: an invalid value gives exit 2 and one line naming the input.

Runs the CLI in-process (validation happens before any network call), so it is fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from capawesome_ci.cli import main

NOTES_WITHOUT_DEFAULT = '{"de-DE": "Hallo"}'

CASES: list[tuple[list[str], str]] = [
    # build
    (["build"], "missing --platform"),
    (["build", "--platform", "windows"], "invalid --platform"),
    (["build", "--platform", "ios", "--type", "release"], "invalid --type: 'release' does not fit platform ios"),
    (["build", "--platform", "web", "--type", "debug"], "does not fit platform web"),
    (["build", "--platform", "ios", "--stack", "linux"], "invalid --stack"),
    (["build", "--platform", "android", "--var", "NOVALUE"], "invalid --var"),
    (["build", "--platform", "android", "--var", "1BAD=x"], "invalid --var"),
    (["build", "--platform", "android", "--var-file", "missing.env"], "invalid --var-file"),
    (["build", "--platform", "android", "--var-file", "bad.env"], "invalid --var-file"),
    (["build", "--platform", "android", "--timeout", "0"], "invalid --timeout"),
    (["build", "--platform", "android", "--timeout", "soon"], "invalid --timeout"),
    (["build", "--platform", "android", "--download", "exe"], "invalid --download"),
    (["build", "--platform", "web", "--channel", "p", "--rollout", "150"], "invalid --rollout"),
    (["build", "--platform", "web", "--channel", "p", "--rollout", "-1"], "invalid --rollout"),
    (["build", "--platform", "web", "--channel", "p", "--rollout", "half"], "invalid --rollout"),
    (["build", "--platform", "android", "--channel", "production"], "channels take web builds"),
    (["build", "--platform", "web", "--destination", "store"], "invalid --destination"),
    (
        ["build", "--platform", "android", "--no-wait", "--download", "apk"],
        "invalid --download: it needs the build to finish",
    ),
    (["build", "--platform", "android", "--share", "--share-expires-in-days", "0"], "invalid --share-expires-in-days"),
    (["build", "--platform", "android", "--share-expires-in-days", "soon"], "invalid --share-expires-in-days"),
    (["build", "--platform", "android", "--release-notes", "x"], "release notes apply only to a --destination"),
    (["build", "--platform", "android", "--cancel-on-timeout=maybe"], "--cancel-on-timeout"),
    (["build", "--platform", "android", "--unknown-flag"], "--unknown-flag"),
    # wait
    (["wait"], "invalid --job-id"),
    (["wait", "--job-id", "j", "--build-id", "b"], "invalid --job-id"),
    (["wait", "--job-id", "j", "--timeout", "-5"], "invalid --timeout"),
    (["wait", "--build-number", "abc"], "invalid --build-number"),
    # download
    (["download", "--build-id", "b", "--type", "exe"], "invalid --type"),
    (["download"], "invalid --build-id"),
    (["download", "--build-id", "b", "--build-number", "3"], "invalid --build-id"),
    (["download", "--build-number", "x"], "invalid --build-number"),
    # deploy
    (["deploy", "--build-id", "b"], "missing --channel"),
    (["deploy", "--build-id", "b", "--channel", "p", "--rollout", "101"], "invalid --rollout"),
    (
        ["deploy", "--build-id", "b", "--destination", "d", "--release-notes-file", "missing.txt"],
        "invalid --release-notes-file",
    ),
    (
        ["deploy", "--build-id", "b", "--destination", "d", "--release-notes-file", "nodefault.json"],
        'needs a "default" entry',
    ),
    (
        ["deploy", "--build-id", "b", "--destination", "d", "--release-notes", "x", "--release-notes-file", "n.txt"],
        "not both",
    ),
    (["deploy", "--channel", "p"], "invalid --build-id"),
    # rollout
    (["rollout", "--percentage", "5"], "missing --channel"),
    (["rollout", "--channel", "p"], "missing --percentage"),
    (["rollout", "--channel", "p", "--percentage", "200"], "invalid --percentage"),
    (["rollout", "--channel", "p", "--percentage", "5x"], "invalid --percentage"),
    # global
    (["--token-file", "missing-token", "rollout", "--channel", "p", "--percentage", "5"], "invalid --token-file"),
    (["launch"], "invalid choice: 'launch'"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.env").write_text("FOO=1\nthis is not a pair\n")
    (tmp_path / "nodefault.json").write_text(NOTES_WITHOUT_DEFAULT)
    (tmp_path / "n.txt").write_text("notes")
    for name in ("CAPAWESOME_CLOUD_TOKEN", "CAPAWESOME_TOKEN", "CAPAWESOME_CLOUD_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAPAWESOME_APP_ID", "app")
    monkeypatch.setenv("CI", "true")  # never fall back to the sandbox here
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code  # argparse
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert expected in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    "argv", [["build", "--platform", "android"], ["rollout", "--channel", "p", "--percentage", "1"]]
)
def test_bad_input_in_json_mode_still_prints_one_json_result(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.delenv("CAPAWESOME_CLOUD_TOKEN", raising=False)
    monkeypatch.delenv("CAPAWESOME_TOKEN", raising=False)
    monkeypatch.setenv("CI", "true")
    code = main(
        ["--json", *argv, "--timeout", "never"] if argv[0] == "build" else ["--json", *argv, "--percentage", "x"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    assert out["status"] == "error"
    assert out["exitCode"] == 2
    assert out["error"].startswith("invalid --")
