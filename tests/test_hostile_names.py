"""Names, numbers and bundles from places we do not control, through the real CLI.

- Artifact file names are built from the server's `fileName`, `type` and build number: whatever
  those hold, the file lands directly inside `--output-dir` under one clean name (no separators,
  no control or bidi characters, at most MAX_NAME_BYTES of UTF-8 with the extension kept).
- live-update: symlinks are bundled as their target when it is a regular file inside the folder
  and refused (exit 2) otherwise; a bundle without index.html is never uploaded, nor a .zip that
  could unpack outside its folder; a file lost while zipping is exit 8 and leaves nothing behind.
- Numbers typed by users (rollout percentages, durations, build numbers) are plain ASCII decimals;
  ids and names sent to the API hold no control characters. Bad ones are exit 2, one line.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.cli import main
from capawesome_ci.sandbox import Sandbox
from capawesome_ci.steps import bundle, deploy, live_update
from capawesome_ci.steps.names import MAX_NAME_BYTES
from tests.conftest import cli_env, make_site
from tests.hostile import Json
from tests.test_github import parse_outputs
from tests.test_live_update import download


def only_file(folder: Path) -> Path:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) == 1, files
    return files[0]


def assert_clean(name: str) -> None:
    assert "/" not in name and "\\" not in name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name), ascii(name)


# -- artifact names -------------------------------------------------------------------------------
def test_a_server_type_cannot_write_outside_the_output_folder(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    """The fallback `build-7.{type}` used the type unsanitised: with `out/build-7.x/` and
    `escaped/` present, `x/../../escaped/pwned` wrote `escaped/pwned` beside the output folder."""
    hostile.artifact["fileName"] = ""
    hostile.artifact["type"] = "x/../../escaped/pwned"
    (tmp_path / "out" / "build-7.x").mkdir(parents=True)
    (tmp_path / "escaped").mkdir()
    result = hostile_cli("download", "--build-id", "build-1", "--output-dir", "out", "--json")
    assert result.code == 0, result.stderr
    assert list((tmp_path / "escaped").iterdir()) == []
    written = only_file(tmp_path / "out")
    assert written.parent == tmp_path / "out"
    assert written.name == "build-7.x_.._.._escaped_pwned"
    assert result.json["artifacts"][0]["path"] == str(Path("out") / written.name)


@pytest.mark.parametrize(
    ("file_name", "type_", "number", "expected"),
    [
        ("", "a\x00b", "7", "build-7.a_b"),  # was exit 70 (embedded null byte)
        ("", "apk\nb", "7", "build-7.apk_b"),  # the newline reached the file name
        ("", "apk", "7/../../..", "build-7_.._.._...apk"),
        ("", "apk", "", "build-build-1.apk"),
        ("é" * 300, "apk", "7", "é" * (MAX_NAME_BYTES // 2)),  # was exit 8, File name too long
        ("é" * 300 + ".apk", "apk", "7", "é" * ((MAX_NAME_BYTES - 4) // 2) + ".apk"),
        ("😀" * 100 + ".apk", "apk", "7", "😀" * ((MAX_NAME_BYTES - 4) // 4) + ".apk"),
        ("\u202egpj.exe", "apk", "7", "_gpj.exe"),  # shown as exe.jpg
        ("a\u2028b\x85c\x9fd\x7fe\u2066.apk", "apk", "7", "a_b_c_d_e_.apk"),
        ("a\ud800.apk", "apk", "7", "a_.apk"),  # a lone surrogate cannot be encoded
        ("CON .apk", "apk", "7", "build-7.apk"),
        ("COM¹.txt", "apk", "7", "build-7.apk"),
    ],
    ids=ascii,
)
def test_hostile_artifact_names_become_one_clean_name(
    hostile: Any, hostile_cli: Any, tmp_path: Path, file_name: Any, type_: str, number: str, expected: str
) -> None:
    hostile.artifact.update(fileName=file_name, type=type_)
    hostile.build["numberAsString"] = number
    output = tmp_path / "github-output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "s")}
    result = hostile_cli("--ci", "github", "download", "--build-id", "build-1", "--output-dir", "out", env=env)
    assert result.code == 0, result.stderr
    written = only_file(tmp_path / "out")
    assert written.parent == tmp_path / "out"
    assert written.name == expected
    assert_clean(written.name)
    # The line-separated output names exactly the file that was written.
    assert parse_outputs(output.read_text())["artifact-paths"] == str(Path("out") / expected)


def test_duplicate_long_names_keep_the_byte_limit(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    name = "é" * 300 + ".apk"
    artifacts = [{**hostile.artifact, "id": f"artifact-{n}", "fileName": name} for n in range(3)]
    hostile.route("GET", "/v1/apps/*/builds/*/artifacts", lambda: Json(artifacts))
    result = hostile_cli("download", "--build-id", "build-1", "--output-dir", "out", "--json")
    assert result.code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    stem = "é" * ((MAX_NAME_BYTES - 4) // 2)
    assert names == sorted([stem + ".apk", stem[:-1] + "-2.apk", stem[:-1] + "-3.apk"])
    for written in names:
        assert_clean(written)


# -- live-update: symlinks, zips, files lost while zipping (make_site: index.html and assets/app.js) --
def test_a_symlink_inside_the_folder_is_bundled_as_its_file(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    site = make_site(tmp_path / "www")
    (site / "app.html").write_text("<!doctype html><title>real</title>")
    (site / "index.html").unlink()
    (site / "index.html").symlink_to("app.html")
    (site / "assets" / "alias.js").symlink_to("app.js")
    for artifact_type in ("zip", "manifest"):
        result = cli("live-update", "--path", "www", "--artifact-type", artifact_type, "--json")
        assert result.code == 0, result.stderr
    zipped = cli("live-update", "--path", "www", "--json").json
    archive = zipfile.ZipFile(io.BytesIO(download(sandbox, zipped["buildId"], zipped["artifacts"][0]["id"])))
    assert archive.read("index.html") == (site / "app.html").read_bytes()
    assert archive.read("assets/alias.js") == (site / "assets" / "app.js").read_bytes()


@pytest.mark.parametrize(
    ("link", "target", "expected"),
    [
        ("index.html", "../outside.html", "index.html is a symlink to"),  # was uploaded without index.html
        ("secret.txt", "../outside.html", "outside the folder"),
        ("dangling.js", "missing.js", "broken symlink"),
        ("loop.js", "loop.js", "broken symlink"),
        ("linked", "assets", "symlink to a folder"),
    ],
)
@pytest.mark.parametrize("artifact_type", ["zip", "manifest"])
def test_other_symlinks_are_refused_before_any_request(
    cli: Any, sandbox: Sandbox, tmp_path: Path, link: str, target: str, expected: str, artifact_type: str
) -> None:
    site = make_site(tmp_path / "www")
    (tmp_path / "outside.html").write_text("<!doctype html>")
    (site / link).unlink(missing_ok=True)
    (site / link).symlink_to(target)
    result = cli("live-update", "--path", "www", "--artifact-type", artifact_type, "--channel", "production")
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and expected in lines[0] and "--path" in lines[0], result.stderr
    assert sandbox.state.mutations() == []


def test_special_files_are_skipped_with_a_warning(cli: Any, tmp_path: Path) -> None:
    site = make_site(tmp_path / "www")
    os.mkfifo(site / "pipe")  # reading it would block forever
    result = cli("--dry-run", "live-update", "--path", "www", timeout=30)
    assert result.code == 0, result.stderr
    assert "skipping pipe: not a regular file" in result.stderr


def zip_with(path: Path, *entries: zipfile.ZipInfo | str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for entry in entries:
            archive.writestr(entry, "x")
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode below counts
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["www/index.html"], "has no index.html at its root"),
        (["index.html", "../evil.js"], "'../evil.js' that points outside"),
        (["index.html", "assets/../../evil.js"], "points outside"),
        (["index.html", "/etc/evil"], "'/etc/evil' that points outside"),
        (["index.html", "C:/evil"], "points outside"),
        (["index.html", "a\\..\\..\\evil"], "points outside"),
        (["index.html", symlink_entry("app.js")], "symlink entry 'app.js'"),
        (None, "is not a valid zip"),
    ],
    ids=ascii,
)
@pytest.mark.parametrize("self_hosted", [False, True])
def test_an_unsafe_zip_is_refused_before_any_request(
    cli: Any, sandbox: Sandbox, tmp_path: Path, entries: list[Any] | None, expected: str, self_hosted: bool
) -> None:
    if entries is None:
        (tmp_path / "bundle.zip").write_bytes(b"not a zip at all")
    else:
        zip_with(tmp_path / "bundle.zip", *entries)
    url = ["--url", "https://cdn.example.com/bundle.zip"] if self_hosted else []
    result = cli("live-update", "--path", "bundle.zip", *url, "--channel", "production")
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert sandbox.state.mutations() == []


def run_in_process(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> tuple[int, Any]:
    """main() in this process (so a test can interpose on the file system), against the sandbox,
    with its temporary files in tmp_path/scratch."""
    for name, value in cli_env(sandbox).items():
        monkeypatch.setenv(name, value)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    code = main(["--json", *args])
    return code, scratch


def replace_by_a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


LOSSES: dict[str, Callable[[Path], None]] = {
    "deleted": Path.unlink,
    "replaced by a folder": replace_by_a_folder,
    "unreadable": lambda path: path.chmod(0),
}


@pytest.mark.parametrize("loss", LOSSES)
def test_a_file_lost_while_zipping_is_exit_8_and_leaves_nothing(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    loss: str,
) -> None:
    if loss == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    make_site(tmp_path / "www")
    listed = bundle.bundle_files

    def listed_then_lost(folder: Path, warn: Callable[[str], None]) -> list[tuple[Path, str]]:
        files = listed(folder, warn)
        LOSSES[loss](folder / "assets" / "app.js")  # after the listing, before it is read
        return files

    monkeypatch.setattr(bundle, "bundle_files", listed_then_lost)  # the zipper's, not the validation's
    code, scratch = run_in_process(sandbox, monkeypatch, tmp_path, "live-update", "--path", "www")
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == 8, captured.err
    assert len(errors) == 1 and "app.js" in errors[0], captured.err
    assert json.loads(captured.out)["exitCode"] == 8
    assert sandbox.state.mutations() == []
    assert list(scratch.iterdir()) == []


def test_index_html_deleted_after_validation_is_never_uploaded(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(tmp_path / "www")
    checked = deploy.check_channels

    def checked_then_deleted(*args: Any) -> None:
        checked(*args)
        (site / "index.html").unlink()

    monkeypatch.setattr(live_update, "check_channels", checked_then_deleted)
    code, scratch = run_in_process(sandbox, monkeypatch, tmp_path, "live-update", "--path", "www")
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "has no index.html" in captured.err
    assert sandbox.state.mutations() == []
    assert list(scratch.iterdir()) == []


def test_a_manifest_file_lost_after_hashing_is_exit_8_and_names_the_unfinished_bundle(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(tmp_path / "www")
    prepared = live_update.prepare_manifest

    def prepared_then_lost(*args: Any) -> Any:
        uploads = prepared(*args)
        (site / "assets" / "app.js").unlink()  # hashed and listed, not yet uploaded
        return uploads

    monkeypatch.setattr(live_update, "prepare_manifest", prepared_then_lost)
    code, _ = run_in_process(
        sandbox, monkeypatch, tmp_path, "live-update", "--path", "www", "--artifact-type", "manifest"
    )
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == 8, captured.err
    assert len(errors) == 1 and "app.js" in errors[0] and "was created but not finished" in errors[0], captured.err
    assert "Traceback" not in captured.err


# -- numbers and ids typed by users ---------------------------------------------------------------
# Accepted before (int()/float() semantics), but nan and inf, which are here to stay refused.
BAD_PERCENTAGES = ["1_0", "١٠", "１０", "1e1", "-0", "+5", "5 %", "nan", "inf"]
GOOD_PERCENTAGES = [("10", 10), (" 12.5% ", 12.5), ("0", 0), ("100", 100), ("007", 7)]


@pytest.mark.parametrize("value", BAD_PERCENTAGES, ids=ascii)
@pytest.mark.parametrize("way", ["rollout", "deploy", "action", "pipe"])
def test_a_percentage_is_plain_ascii_decimal(hostile: Any, hostile_cli: Any, way: str, value: str) -> None:
    if way == "rollout":
        result = hostile_cli("rollout", "--channel", "production", "--percentage", value)
    elif way == "deploy":
        result = hostile_cli("deploy", "--build-id", "build-1", "--channel", "production", "--rollout", value)
    elif way == "action":
        env = {"GITHUB_ACTIONS": "true", "INPUT_CHANNEL": "production", "INPUT_PERCENTAGE": value}
        result = hostile_cli("action", "rollout", env=env)
    else:
        env = {"BITBUCKET_BUILD_NUMBER": "1", "COMMAND": "rollout", "CHANNEL": "production", "PERCENTAGE": value}
        result = hostile_cli("pipe", env=env)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("::add-mask::")]
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and ("percentage" in lines[0].lower() or "rollout" in lines[0]), result.stderr
    assert hostile.requests == []  # refused before any request


@pytest.mark.parametrize(("value", "expected"), GOOD_PERCENTAGES, ids=ascii)
def test_plain_percentages_still_work(hostile: Any, hostile_cli: Any, value: str, expected: float) -> None:
    result = hostile_cli("rollout", "--channel", "production", "--percentage", value, "--json")
    assert result.code == 0, result.stderr
    assert result.json["deployments"][0]["rolloutPercentage"] == expected


@pytest.mark.parametrize("value", ["١٠", "１０m", "9" * 400 + "h", "nan", "inf"], ids=ascii)
def test_a_duration_is_plain_ascii_decimal(hostile: Any, hostile_cli: Any, value: str) -> None:
    result = hostile_cli("wait", "--build-id", "build-1", "--timeout", value)
    lines = result.stderr.strip().splitlines()
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and "invalid --timeout" in lines[0], result.stderr
    assert hostile.requests == []


@pytest.mark.parametrize("value", ["1_0", "+10", "10.0"])
def test_share_expiry_days_are_plain_ascii_digits(hostile_cli: Any, value: str) -> None:
    result = hostile_cli("--dry-run", "build", "--platform", "android", "--share", "--share-expires-in-days", value)
    assert result.code == 2, result.stderr


@pytest.mark.parametrize("value", ["١٠", "²", "##5"], ids=ascii)
def test_a_build_number_is_plain_ascii_digits(hostile: Any, hostile_cli: Any, value: str) -> None:
    result = hostile_cli("download", "--build-number", value, "--output-dir", "out")
    assert result.code == 2, result.stderr
    assert "invalid --build-number" in result.stderr
    assert hostile.requests == []


def test_a_build_number_is_looked_up_as_the_api_writes_it(hostile: Any, hostile_cli: Any) -> None:
    result = hostile_cli("download", "--build-number", "#007", "--output-dir", "out")
    assert result.code == 0, result.stderr
    assert [r.query["numberAsString"] for r in hostile.requested("GET", "/v1/apps/*/builds")] == [["7"]]


@pytest.mark.parametrize(
    "args",
    [
        ["download", "--build-id", "{}", "--output-dir", "out"],
        ["wait", "--job-id", "{}"],
        ["wait", "--build-id", "{}"],
        ["wait", "--deployment-id", "{}"],
        ["deploy", "--build-id", "build-1", "--channel", "{}"],
        ["deploy", "--build-id", "build-1", "--destination", "{}"],
        ["rollout", "--channel", "{}", "--percentage", "5"],
        ["--app-id", "{}", "rollout", "--channel", "production", "--percentage", "5"],
    ],
    ids=lambda args: " ".join(a for a in args if a.startswith("--") or a in ("download", "wait", "deploy", "rollout")),
)
@pytest.mark.parametrize("value", ["a\x1bb", "a\x7fb", "a\x9bb", "a\u202eb"], ids=ascii)
def test_an_id_with_control_characters_is_exit_2(hostile: Any, hostile_cli: Any, args: list[str], value: str) -> None:
    """Escape codes were exit 70 (httpx: InvalidURL) in a URL path and went to the API elsewhere."""
    argv = [value if a == "{}" else a for a in args]
    result = hostile_cli(*argv, "--json")
    lines = result.stderr.strip().splitlines()
    flag = args[args.index("{}") - 1]
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid {flag}: "), result.stderr
    assert json.loads(result.stdout)["exitCode"] == 2
    assert hostile.requests == []


@pytest.mark.parametrize("args", [["wait", "--job-id", "a\nb"], ["download", "--build-id", "a\nb"]], ids=str)
def test_an_id_with_a_newline_is_exit_2(hostile: Any, hostile_cli: Any, args: list[str]) -> None:
    """Was exit 70 (httpx: InvalidURL). The channel and destination lists split on newlines."""
    result = hostile_cli(*args)
    assert result.code == 2, result.stderr
    assert hostile.requests == []


def test_an_empty_channel_is_exit_2(hostile: Any, hostile_cli: Any) -> None:
    result = hostile_cli("rollout", "--channel", " ", "--percentage", "5")
    assert result.code == 2, result.stderr
    assert "invalid --channel: must name a channel" in result.stderr
    assert hostile.requests == []
