"""Builds from local sources in-process: the step against FakePlatform (what the zip holds, the
request, lost files, refused platforms), the .gitignore rules, and the Capawesome adapter's wire
format (respx)."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from capawesome_ci import providers
from capawesome_ci.cli import main
from capawesome_ci.cloud import retry
from capawesome_ci.cloud.capawesome import CapawesomePlatform
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.errors import ExitCode, InputError, LocalIOError, TransientError
from capawesome_ci.platform import BuildRequest, Capability
from capawesome_ci.providers import Provider
from capawesome_ci.steps import build as build_step
from capawesome_ci.steps import sources
from capawesome_ci.steps.build import BuildInputs
from capawesome_ci.steps.sources import source_files
from tests.fakes import FakePlatform, make_ctx

BASE = "https://api.test"
APP = "/v1/apps/app"


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"package.json": "{}", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def names(root: Path, excludes: list[str] | None = None) -> list[str]:
    return [name for _, name in source_files(root, excludes or [], lambda _: None)]


# -- the .gitignore rules ----------------------------------------------------------------------------
def test_git_rules_nested_files_negations_and_folders(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            ".gitignore": "*.log\n!keep.log\nbuild/\n/only-root.txt\n# a comment\n\\#literal\n",
            "a.log": "",
            "keep.log": "",
            "#literal": "",
            "only-root.txt": "",
            "sub/only-root.txt": "",
            "sub/build/x.js": "",
            "sub/build.txt": "",  # `build/` is a folder pattern
            "sub/.gitignore": "!*.log\nlocal/\n",
            "sub/b.log": "",  # re-included by the deeper .gitignore
            "sub/local/y": "",
            "local/z": "",  # the nested pattern does not reach up
            "sub/deeper/c.log": "",  # the nested negation applies below it too
        },
    )
    assert names(root) == [
        ".gitignore",
        "keep.log",
        "local/z",
        "package.json",
        "sub/.gitignore",
        "sub/b.log",
        "sub/build.txt",
        "sub/deeper/c.log",
        "sub/only-root.txt",
    ]


def test_a_folder_left_out_cannot_be_re_included_and_is_not_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, {".gitignore": "gen/\n!gen/keep.ts\n", "gen/keep.ts": "", "node_modules/a/b.js": ""})
    walked: list[str] = []
    real_enter = sources._Ignored.enter

    def enter(self: Any, folder: Path, relative: str) -> None:
        walked.append(relative)
        real_enter(self, folder, relative)

    monkeypatch.setattr(sources._Ignored, "enter", enter)
    assert names(root) == [".gitignore", "package.json"]
    assert walked == [""]


def test_excludes_win_over_a_gitignore_negation(tmp_path: Path) -> None:
    root = project(tmp_path, {".gitignore": "!secret.pem\n", "secret.pem": "", "docs/a.md": "", "b.md": ""})
    assert names(root, ["*.pem", "/docs/"]) == [".gitignore", "b.md", "package.json"]


def test_always_excluded_folders_at_any_depth(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {
            ".git/config": "",
            "packages/app/.git/HEAD": "",
            "packages/app/node_modules/x.js": "",
            "packages/app/ios/Pods/p": "",
            "packages/app/android/app/build/o": "",
            "packages/app/android/app/src/m.kt": "",
            "build/kept": "",  # only android/ and ios/ build folders are left out, like the CLI
        },
    )
    assert names(root) == ["build/kept", "package.json", "packages/app/android/app/src/m.kt"]


def test_an_unreadable_gitignore_line_is_skipped_like_git_does(tmp_path: Path) -> None:
    root = project(tmp_path, {".gitignore": "!\nx\\\n*.tmp\n", "a.tmp": "", "b.txt": ""})
    assert names(root) == [".gitignore", "b.txt", "package.json"]


# -- the step ----------------------------------------------------------------------------------------
def inputs(**given: Any) -> BuildInputs:
    return BuildInputs.model_validate({"app_id": "app-1", "platform": "web", **given})


def test_the_step_zips_the_folder_and_sends_no_git_ref(tmp_path: Path) -> None:
    root = project(tmp_path / "app", {".gitignore": "*.log\n", "a.log": "", "src/main.ts": "x"})
    platform = FakePlatform()
    build_step.run(inputs(path=str(root)), make_ctx(platform, environ={"CI_COMMIT_SHA": "abc"}))
    (request,) = platform.build_requests
    assert request.git_ref is None and request.source_url is None
    assert zipfile.ZipFile(io.BytesIO(platform.build_sources[0])).namelist() == [
        ".gitignore",
        "package.json",
        "src/main.ts",
    ]
    assert request.source is not None and not request.source.exists()  # the temporary zip is gone


def test_the_step_passes_a_url_through(tmp_path: Path) -> None:
    platform = FakePlatform()
    build_step.run(inputs(url="https://example.com/s.zip"), make_ctx(platform))
    (request,) = platform.build_requests
    assert (request.source, request.source_url, request.git_ref) == (None, "https://example.com/s.zip", None)


def test_a_file_lost_while_zipping_is_exit_8_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "app", {"src/a.ts": "x"})
    real = sources.source_files

    def then_lose_one(*args: Any) -> list[tuple[Path, str]]:
        files = real(*args)
        (root / "src" / "a.ts").unlink()
        return files

    monkeypatch.setattr(sources, "source_files", then_lose_one)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    platform = FakePlatform()
    with pytest.raises(LocalIOError) as caught:
        build_step.run(inputs(path=str(root)), make_ctx(platform))
    assert caught.value.exit_code == ExitCode.IO and "src/a.ts" in caught.value.message
    assert list(scratch.iterdir()) == []
    assert platform.build_requests == [] and platform.calls == []


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"path": "app", "git_ref": "main"}, "git_ref"),
        ({"path": "app", "url": "https://x/s.zip"}, "url"),
        ({"url": "ftp://x/s.zip"}, "url"),
        ({"exclude": ["*.log"]}, "exclude"),
        ({"path": "app", "exclude": ["!"]}, "exclude"),
        ({"path": "app/bad.zip"}, "path"),
    ],
)
def test_inputs_that_do_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: dict[str, Any], field: str
) -> None:
    monkeypatch.chdir(tmp_path)
    project(tmp_path / "app", {"bad.zip": "not a zip"})
    with pytest.raises(InputError) as caught:
        inputs(**given)
    assert caught.value.field == field


def test_needs_the_build_sources_capability(tmp_path: Path) -> None:
    root = project(tmp_path, {})
    assert (Capability.BUILD_SOURCES, "path") in build_step.needs(inputs(path=str(root)))
    assert (Capability.BUILD_SOURCES, "url") in build_step.needs(inputs(url="https://x/s.zip"))
    assert not any(c is Capability.BUILD_SOURCES for c, _ in build_step.needs(inputs()))


def test_a_platform_without_build_sources_refuses_path_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connected: list[str] = []
    provider = Provider(
        id="plain",
        title="Plain Cloud",
        short_title="Plain",
        token_variables=("PLAIN_TOKEN",),
        base_url_variable="PLAIN_BASE_URL",
        app_id_variable="PLAIN_APP_ID",
        default_base_url="https://api.plain.example",
        capabilities=frozenset({Capability.BUILD, Capability.WAIT}),
        adapter=f"{__name__}:refuse_to_connect",
        emulator=f"{__name__}:refuse_to_connect",
    )
    monkeypatch.setitem(providers.PROVIDERS, "plain", provider)
    monkeypatch.setattr(f"{__name__}.CONNECTED", connected)
    monkeypatch.setenv("PLAIN_TOKEN", "plain-token-0123456789")
    monkeypatch.setenv("PLAIN_APP_ID", "app-7")
    code = main(["--json", "--provider", "plain", "build", "--platform", "web", "--path", str(project(tmp_path, {}))])
    result = json.loads(capsys.readouterr().out)
    assert code == 2 and "build-sources is not available" in result["error"]
    assert connected == []


CONNECTED: list[str] = []


def refuse_to_connect(*args: Any) -> Any:
    CONNECTED.append("connect")
    raise AssertionError("no request may be sent")


# -- the Capawesome adapter (respx) ------------------------------------------------------------------
@pytest.fixture
def platform() -> Iterator[CapawesomePlatform]:
    with make_http_client(BASE, "cap_secret_token") as http:
        yield CapawesomePlatform(http, "app")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry.time, "sleep", lambda _: None)


def test_the_adapter_uploads_the_source_then_builds_from_it(platform: CapawesomePlatform, tmp_path: Path) -> None:
    archive = tmp_path / "source.zip"
    archive.write_bytes(b"PK" + b"x" * 100)
    progress: list[tuple[int, int]] = []
    with respx.mock(base_url=BASE) as mock:
        create = mock.post(f"{APP}/build-sources").respond(201, json={"id": "s1", "status": "pending"})
        upload = f"{APP}/build-sources/s1/upload"
        start = mock.post(upload, params={"action": "mpu-create"}).respond(json={"uploadId": "u1"})
        part = mock.put(upload).respond(json={"etag": '"e1"', "partNumber": 1})
        done = mock.post(upload, params={"action": "mpu-complete"}).respond(json={})
        build = mock.post(f"{APP}/builds").respond(201, json={"id": "b1", "numberAsString": "1", "jobId": "j1"})
        request = BuildRequest(platform="web", source=archive, source_progress=lambda *a: progress.append(a))
        assert platform.create_build(request).id == "b1"
    assert json.loads(create.calls.last.request.content) == {"fileSizeInBytes": 102}
    assert start.called and done.called
    sent = part.calls.last.request
    assert sent.url.params["uploadId"] == "u1" and b'filename="source.zip"' in sent.content
    assert json.loads(done.calls.last.request.content) == {"parts": [{"etag": '"e1"', "partNumber": 1}]}
    assert json.loads(build.calls.last.request.content) == {"platform": "web", "appBuildSourceId": "s1"}
    assert progress[-1] == (102, 102)


def test_the_adapter_registers_a_url(platform: CapawesomePlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        create = mock.post(f"{APP}/build-sources").respond(201, json={"id": "s2", "status": "ready"})
        build = mock.post(f"{APP}/builds").respond(201, json={"id": "b1", "numberAsString": "1", "jobId": "j1"})
        platform.create_build(BuildRequest(platform="web", source_url="https://x/s.zip"))
    assert json.loads(create.calls.last.request.content) == {"fileUrl": "https://x/s.zip"}
    assert json.loads(build.calls.last.request.content)["appBuildSourceId"] == "s2"


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(500, json={"message": "boom"}), httpx.Response(200, text="not json"), httpx.Response(200, json=[])],
)
def test_a_bad_upload_answer_is_transient_and_no_build_is_made(
    platform: CapawesomePlatform, tmp_path: Path, answer: httpx.Response
) -> None:
    archive = tmp_path / "source.zip"
    archive.write_bytes(b"PK")
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        create = mock.post(f"{APP}/build-sources").respond(201, json={"id": "s1"})
        mock.post(f"{APP}/build-sources/s1/upload", params={"action": "mpu-create"}).mock(return_value=answer)
        build = mock.post(f"{APP}/builds")
        with pytest.raises(TransientError) as caught:
            platform.create_build(BuildRequest(platform="web", source=archive))
    assert caught.value.exit_code == ExitCode.TRANSIENT
    assert "build source s1 was created but its upload did not finish" in caught.value.message
    assert create.call_count == 1 and not build.called


def test_a_source_id_the_server_leaves_out_is_transient(platform: CapawesomePlatform, tmp_path: Path) -> None:
    archive = tmp_path / "source.zip"
    archive.write_bytes(b"PK")
    with respx.mock(base_url=BASE) as mock:
        mock.post(f"{APP}/build-sources").respond(201, json={"status": "pending"})
        with pytest.raises(TransientError):
            platform.create_build(BuildRequest(platform="web", source=archive))
