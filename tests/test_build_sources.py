"""Builds from local sources (`build --path/--url`) against the sandbox: what the zip holds (the
.gitignore files, --exclude, the folders always left out), the build-sources routes and their
validation, hostile trees and a server answering the upload badly."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from capawesome_ci.sandbox import Sandbox, parse_fault
from tests.conftest import sandbox_client

MIB = 1024 * 1024


def make_project(root: Path) -> Path:
    """A project with a .gitignore at the root and a nested one, and what each must keep out."""
    files = {
        "package.json": '{"name": "demo"}',
        "src/main.ts": "console.log(1)",
        "src/debug.log": "ignored by the root .gitignore",
        "keep.log": "re-included by a negation",
        "dist/index.html": "ignored folder",
        ".env": "SECRET=1",  # ignored, anchored at the root
        "config/.env": "NOT_SECRET=1",  # the root pattern is anchored: this one ships
        "android/app/src/main.kt": "fun main() {}",
        "android/app/build/out.apk": "always left out",
        "android/.gradle/cache": "always left out",
        "ios/Pods/x": "always left out",
        "node_modules/pkg/index.js": "always left out",
        ".git/HEAD": "ref: refs/heads/main",
        "packages/lib/.gitignore": "generated/\n!important.log\n",
        "packages/lib/generated/api.ts": "ignored by the nested .gitignore",
        "packages/lib/important.log": "re-included by the nested .gitignore",
        "packages/lib/index.ts": "export {}",
        "scratch/notes.tmp": "left out by --exclude",
        ".gitignore": "*.log\n!keep.log\ndist/\n/.env\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    gradlew = root / "gradlew"
    gradlew.write_text("#!/bin/sh\n")
    gradlew.chmod(0o755)
    return root


SHIPPED = {
    ".gitignore",
    "android/app/src/main.kt",
    "config/.env",
    "gradlew",
    "keep.log",
    "package.json",
    "packages/lib/.gitignore",
    "packages/lib/important.log",
    "packages/lib/index.ts",
    "src/main.ts",
}


def uploaded_source(sandbox: Sandbox, build_id: str) -> zipfile.ZipFile:
    with sandbox_client(sandbox, timeout=60) as http:
        build = http.get(f"/v1/apps/{sandbox.app_id}/builds/{build_id}").raise_for_status().json()
        source = http.get(f"/v1/apps/{sandbox.app_id}/build-sources/{build['appBuildSourceId']}/download")
        return zipfile.ZipFile(io.BytesIO(source.raise_for_status().content))


def test_a_project_folder_is_built_without_what_is_ignored(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    result = cli("build", "--platform", "web", "--path", "app", "--exclude", "*.tmp", "--download", "zip", "--json")
    assert result.code == 0, result.stderr
    assert (tmp_path / result.json["artifacts"][0]["path"]).is_file()
    archive = uploaded_source(sandbox, result.json["buildId"])
    assert set(archive.namelist()) == SHIPPED  # fails if an ignored file is shipped
    assert archive.read("src/main.ts") == b"console.log(1)"
    assert archive.getinfo("gradlew").external_attr >> 16 & 0o111  # still executable on the runner
    with sandbox_client(sandbox) as http:
        assert http.get(f"/v1/apps/{sandbox.app_id}/builds/{result.json['buildId']}").json()["gitRef"] is None


def test_the_same_tree_uploads_the_same_bytes(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    ids = [cli("build", "--platform", "web", "--path", "app", "--json").json["buildId"] for _ in range(2)]
    assert uploaded_source(sandbox, ids[0]).infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
    with sandbox_client(sandbox) as http:
        sources = [
            http.get(f"/v1/apps/{sandbox.app_id}/builds/{build_id}").json()["appBuildSourceId"] for build_id in ids
        ]
        data = [http.get(f"/v1/apps/{sandbox.app_id}/build-sources/{s}/download").content for s in sources]
    assert data[0] == data[1]


def test_a_large_source_goes_up_in_parts_in_constant_memory(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    project = make_project(tmp_path / "app")
    (project / "assets").mkdir()
    for index in range(3):  # 24 MiB that deflate cannot shrink: three 10 MiB parts
        (project / "assets" / f"blob{index}.bin").write_bytes(os.urandom(8 * MIB))
    result = cli("build", "--platform", "android", "--path", "app", "--exclude", "*.tmp", "--json")
    assert result.code == 0, result.stderr
    parts = [r for r in sandbox.state.requests if "mpu-uploadpart" in r.query]
    assert len(parts) == 3
    assert len(uploaded_source(sandbox, result.json["buildId"]).namelist()) == len(SHIPPED) + 3


def test_a_source_zip_is_uploaded_unchanged(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("package.json", "{}")
    (tmp_path / "src.zip").write_bytes(buffer.getvalue())
    result = cli("build", "--platform", "web", "--path", "src.zip", "--json")
    assert result.code == 0, result.stderr
    with sandbox_client(sandbox) as http:
        build = http.get(f"/v1/apps/{sandbox.app_id}/builds/{result.json['buildId']}").json()
        source = http.get(f"/v1/apps/{sandbox.app_id}/build-sources/{build['appBuildSourceId']}/download")
    assert source.content == buffer.getvalue()


def test_a_source_without_a_project_fails_on_the_runner(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.md", "no package.json")
    (tmp_path / "src.zip").write_bytes(buffer.getvalue())
    assert cli("build", "--platform", "web", "--path", "src.zip").code == 1


def test_a_url_source(cli: Any, sandbox: Sandbox) -> None:
    result = cli("build", "--platform", "web", "--url", "https://example.com/source.zip", "--json")
    assert result.code == 0, result.stderr
    assert len([r for r in sandbox.state.requests if r.path.endswith("/build-sources")]) == 1
    assert not [r for r in sandbox.state.requests if "upload" in r.path]
    with sandbox_client(sandbox) as http:
        build = http.get(f"/v1/apps/{sandbox.app_id}/builds/{result.json['buildId']}").json()
        source = http.get(f"/v1/apps/{sandbox.app_id}/build-sources/{build['appBuildSourceId']}/download")
    assert (source.status_code, source.headers["location"]) == (302, "https://example.com/source.zip")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--path", "app", "--git-ref", "main"], "--git-ref"),
        (["--path", "app", "--url", "https://example.com/s.zip"], "--url"),
        (["--url", "http://example.com/s.zip"], "--url"),
        (["--path", "missing"], "--path"),
        (["--path", "app/src"], "--path"),  # no package.json
        (["--path", "app/package.json"], "--path"),  # neither a folder nor a .zip
        (["--url", "https://example.com/s.zip", "--exclude", "*.log"], "--exclude"),
        (["--path", "app", "--exclude", "!"], "--exclude"),
    ],
)
def test_wrong_source_inputs_are_refused_before_any_request(
    cli: Any, sandbox: Sandbox, tmp_path: Path, args: list[str], field: str
) -> None:
    make_project(tmp_path / "app")
    result = cli("build", "--platform", "web", *args)
    assert result.code == 2, result.stderr
    assert field in result.stderr.strip().splitlines()[-1]
    assert sandbox.state.requests == []


def test_a_symlink_out_of_the_tree_is_refused(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    (tmp_path / "id_rsa").write_text("private")
    (tmp_path / "app" / "src" / "key").symlink_to(tmp_path / "id_rsa")
    result = cli("build", "--platform", "web", "--path", "app")
    assert result.code == 2, result.stderr
    assert "outside the folder" in result.stderr
    assert sandbox.state.requests == []


def test_an_ignored_symlink_out_of_the_tree_is_not_looked_at(cli: Any, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    (tmp_path / "app" / "node_modules" / ".bin").mkdir()
    (tmp_path / "app" / "node_modules" / ".bin" / "tool").symlink_to("/usr/bin/env")
    assert cli("build", "--platform", "web", "--path", "app").code == 0


def test_a_bad_answer_to_the_source_upload_is_transient(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    sandbox.faults.add(parse_fault("POST */build-sources/*/upload malformed-json"))
    result = cli("build", "--platform", "web", "--path", "app", "--json")
    assert result.code == 75, result.stderr
    assert "was created but its upload did not finish" in result.json["error"]
    assert not [r for r in sandbox.state.requests if r.path.endswith("/builds")]
    creates = [r for r in sandbox.state.requests if r.method == "POST" and r.path.endswith("/build-sources")]
    assert len(creates) == 1  # the POST is never repeated


def test_a_lost_answer_to_the_source_create_is_not_repeated(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_project(tmp_path / "app")
    sandbox.faults.add(parse_fault("POST */build-sources 503 after"))
    result = cli("build", "--platform", "web", "--path", "app")
    assert result.code == 75, result.stderr
    creates = [r for r in sandbox.state.requests if r.method == "POST" and r.path.endswith("/build-sources")]
    assert len(creates) == 1


# -- the emulator's routes ---------------------------------------------------------------------------
@pytest.fixture
def http(sandbox: Sandbox) -> Any:
    with sandbox_client(sandbox) as client:
        yield client


def test_the_emulator_validates_build_sources(sandbox: Sandbox, http: httpx.Client) -> None:
    base = f"/v1/apps/{sandbox.app_id}/build-sources"
    for body in ({}, {"fileUrl": "https://x/s.zip", "fileSizeInBytes": 1}, {"fileSizeInBytes": 0}, {"fileUrl": "x"}):
        answer = http.post(base, json=body)
        assert answer.status_code == 400 and "issues" in answer.json()["error"], body
    pending = http.post(base, json={"fileSizeInBytes": 10}).json()
    assert pending["status"] == "pending"
    builds = f"/v1/apps/{sandbox.app_id}/builds"
    not_ready = http.post(builds, json={"platform": "web", "appBuildSourceId": pending["id"]})
    assert (not_ready.status_code, not_ready.json()) == (400, {"message": "App build source is not ready."})
    missing = http.post(builds, json={"platform": "web", "appBuildSourceId": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"message": "App build source not found."})
    upload = f"{base}/{pending['id']}/upload"
    upload_id = http.post(upload, params={"action": "mpu-create"}, json={}).json()["uploadId"]
    part = http.put(
        upload,
        params={"action": "mpu-uploadpart", "uploadId": upload_id},
        files={"blob": ("source.zip", b"12345"), "partNumber": (None, "1")},
    ).json()
    short = http.post(upload, params={"action": "mpu-complete", "uploadId": upload_id}, json={"parts": [part]})
    assert short.status_code == 400 and "size mismatch" in short.json()["message"]
    assert http.get(f"{base}/{pending['id']}/download").status_code == 404
