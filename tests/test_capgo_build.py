"""Capgo Build: the adapter (respx), its log-stream reader, the inputs model, the emulator over real
HTTP (TUS, the builder origin, signed outputs) and the CLI against the emulator."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from capawesome_ci.cloud.capgo import CapgoApi, error_message
from capawesome_ci.cloud.capgo_build import CapgoBuilds, LogStream, split_options
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.deadline import NO_DEADLINE
from capawesome_ci.errors import CiError, ExitCode, InputError, NotFoundError
from capawesome_ci.platform import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED, Artifact, BuildRequest
from capawesome_ci.providers import Connection
from capawesome_ci.redact import SecretRedactor
from capawesome_ci.sandbox.artifacts import artifact_sha256, remember_kind
from capawesome_ci.sandbox.capgo.builds import BuildConfig, build_config_from_environment
from capawesome_ci.sandbox.capgo.start import CapgoEmulator
from capawesome_ci.steps.capgo.build import BuildInputs
from tests.conftest import CliResult, run_cli

API = "https://api.capgo.test"
KEY = "capgo-key-0123456789"
APP = "com.example.app"
LINK = "https://builder.capgo.test/outputs/app.apk?sig=abc"


def _builds(http: httpx.Client, recorder: Any = None) -> CapgoBuilds:
    connection = Connection(base_url=API, token=KEY, app_id=APP, dry_run_recorder=recorder)
    return CapgoBuilds(CapgoApi(http, message_of=error_message), APP, connection)


@pytest.fixture
def builds() -> Iterator[CapgoBuilds]:
    with make_http_client(API, KEY, auth_scheme=None) as http:
        adapter = _builds(http)
        yield adapter
        adapter.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("android/build.gradle", "apply plugin: 'com.android.application'\n")
    return path


OPTIONS = {
    "build_mode": "debug",
    "outputUploadEnabled": "true",
    "outputRetentionSeconds": "7200",
    "KEYSTORE_KEY_PASSWORD": "s3cret-pass",
    "ANDROID_KEYSTORE_FILE": "a2V5c3RvcmU=",
}


# -- the adapter ------------------------------------------------------------------------------------
def test_options_split_into_mode_build_options_and_credentials() -> None:
    mode, options, credentials = split_options(OPTIONS)
    assert mode == "debug"
    assert options == {"outputUploadEnabled": True, "outputRetentionSeconds": 7200}
    assert credentials == {"KEYSTORE_KEY_PASSWORD": "s3cret-pass", "ANDROID_KEYSTORE_FILE": "a2V5c3RvcmU="}


@respx.mock
def test_create_build_requests_uploads_then_starts(
    builds: CapgoBuilds, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_route = respx.post(f"{API}/build/request").respond(
        200, json={"job_id": "job-1", "upload_url": f"{API}/build/upload/job-1", "status": "pending"}
    )
    start_route = respx.post(f"{API}/build/start/job-1").respond(
        200, json={"job_id": "job-1", "status": "running", "logs_url": "https://logs.test/x", "logs_token": "t"}
    )
    uploaded: list[str] = []
    monkeypatch.setattr(builds, "_upload", lambda url, request: uploaded.append(url))
    build = builds.create_build(BuildRequest(platform="android", source=source, options=OPTIONS))
    assert build.id == build.job_id == "job-1" and build.platform == "android"
    sent = request_route.calls.last.request
    assert sent.headers["authorization"] == KEY  # raw, no Bearer
    assert json.loads(sent.content) == {
        "app_id": APP,
        "platform": "android",
        "build_mode": "debug",
        "build_options": {
            "platform": "android",
            "buildMode": "debug",
            "outputUploadEnabled": True,
            "outputRetentionSeconds": 7200,
        },
        "build_credentials": {"KEYSTORE_KEY_PASSWORD": "s3cret-pass", "ANDROID_KEYSTORE_FILE": "a2V5c3RvcmU="},
    }
    assert uploaded == [f"{API}/build/upload/job-1"]
    assert json.loads(start_route.calls.last.request.content) == {"app_id": APP}


@pytest.mark.parametrize(
    "request_",
    [
        BuildRequest(platform="web", source=Path("x.zip")),
        BuildRequest(platform="android", git_ref="main"),
        BuildRequest(platform="ios", source_url="https://example.com/s.zip"),
    ],
)
def test_web_git_refs_and_urls_are_refused_before_any_request(builds: CapgoBuilds, request_: BuildRequest) -> None:
    with respx.mock(assert_all_called=False) as mock, pytest.raises(InputError):
        builds.create_build(request_)
    assert not mock.calls


@respx.mock
def test_a_failed_build_request_is_not_retried(builds: CapgoBuilds, source: Path) -> None:
    route = respx.post(f"{API}/build/request").respond(503, json={"error": "service_unavailable", "message": "down"})
    with pytest.raises(CiError):
        builds.create_build(BuildRequest(platform="android", source=source))
    assert route.call_count == 1


def test_a_dry_run_plans_with_credential_names_only(source: Path) -> None:
    plan: list[tuple[str, str, Any]] = []
    with make_http_client(API, KEY, auth_scheme=None) as http, respx.mock(assert_all_called=False) as mock:
        build = _builds(http, lambda *entry: plan.append(entry)).create_build(
            BuildRequest(platform="android", source=source, options=OPTIONS)
        )
    assert not mock.calls and build.id == "<planned>"
    assert plan[0][:2] == ("POST", "/build/request")
    assert "s3cret-pass" not in repr(plan) and "a2V5c3RvcmU=" not in repr(plan)
    assert plan[0][2]["build_credentials"] == {"KEYSTORE_KEY_PASSWORD": "***", "ANDROID_KEYSTORE_FILE": "***"}


@respx.mock
@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("pending", PENDING),
        ("running", RUNNING),
        ("provisioning", RUNNING),
        ("succeeded", SUCCEEDED),
        ("released", SUCCEEDED),
        ("failed", FAILED),
        ("expired", FAILED),
        ("cancelled", CANCELED),
        ("canceled", CANCELED),
    ],
)
def test_statuses_are_normalised_and_the_raw_word_kept(builds: CapgoBuilds, raw: str, normalised: str) -> None:
    route = respx.get(f"{API}/build/status").respond(200, json={"job_id": "j", "status": raw, "error": None})
    job = builds.get_job("j")
    assert (job.status, job.raw_status) == (normalised, raw)
    assert dict(route.calls.last.request.url.params) == {"job_id": "j", "app_id": APP}


@respx.mock
def test_the_status_error_is_the_failure_summary_and_cancel_posts_the_app_id(builds: CapgoBuilds) -> None:
    respx.get(f"{API}/build/status").respond(200, json={"status": "failed", "error": "gradle exploded"})
    assert builds.get_job("j").status_message == "gradle exploded"
    assert builds.failure_summary("j") == "gradle exploded"
    route = respx.post(f"{API}/build/cancel/j").respond(200, json={"job_id": "j", "status": "cancelled"})
    assert builds.cancel_job("j").status == CANCELED
    assert json.loads(route.calls.last.request.content) == {"app_id": APP}


@respx.mock
def test_an_unknown_build_id_is_not_found(builds: CapgoBuilds) -> None:
    """Capgo answers a job id it does not know for this app with 400 `unauthorized` (so as not to
    leak other apps' jobs): for `wait --build-id TYPO` that is exit 4, not 2."""
    body = {"error": "unauthorized", "message": "You do not have permission to view builds for this app"}
    respx.get(f"{API}/build/status").respond(400, json=body)
    with pytest.raises(NotFoundError, match="build nope not found") as raised:
        builds.get_job("nope")
    assert raised.value.exit_code == ExitCode.NOT_FOUND


def _link_in_the_log(link: str) -> None:
    """A finished build whose log carries the artifact link (read from the SSE route by a later process)."""
    respx.get(f"{API}/build/status").respond(200, json={"job_id": "j", "status": "succeeded"})
    message = json.dumps({"type": "custom_msg", "kind": "qr_download_link", "data": {"url": link}})
    respx.get(f"{API}/build/logs/j").respond(200, text=f"data: {message}\n\n")


@respx.mock
def test_the_artifact_link_never_gets_our_key(builds: CapgoBuilds) -> None:
    _link_in_the_log(LINK)
    route = respx.get(LINK).respond(200, content=b"APK!", headers={"Content-Length": "4"})
    [artifact] = builds.list_artifacts("j")
    assert (artifact.type, artifact.file_name, artifact.status) == ("apk", "app.apk", "ready")
    with builds.open_artifact(artifact) as download:
        buffer = bytearray(16)
        assert download.readinto(memoryview(buffer)) == 4
    sent = route.calls.last.request
    assert "authorization" not in sent.headers and KEY not in str(sent.headers)


@respx.mock
def test_an_expired_link_says_what_to_do(builds: CapgoBuilds) -> None:
    _link_in_the_log(LINK)
    respx.get(LINK).respond(403, json={"error": "expired"})
    with pytest.raises(CiError, match="expire"), builds.open_artifact(Artifact("j", "j", "apk", "ready")):
        pass


def test_no_link_is_a_clear_not_found(builds: CapgoBuilds) -> None:
    with respx.mock:
        respx.get(f"{API}/build/status").respond(200, json={"status": "succeeded"})
        respx.get(f"{API}/build/logs/j").respond(200, text='data: {"type":"log","message":"done"}\n\n')
        with pytest.raises(CiError, match="output upload"):
            builds.list_artifacts("j")


def test_the_stream_reader_takes_every_message_shape_once() -> None:
    redact = SecretRedactor()
    redact.register("hunter2-secret")
    stream = LogStream("", redact, NO_DEADLINE)
    batch = {
        "type": "batch_messages",
        "messages": [{"id": 1, "type": "log", "message": "one"}, {"id": 2, "message": "two hunter2-secret"}],
    }
    assert stream.take(json.dumps(batch)) == 2
    assert stream.take(json.dumps(batch)) is None  # replayed after a reconnect: nothing twice
    stream.take("plain text line")
    stream.take(json.dumps({"type": "heartbeat_response"}))
    stream.take(json.dumps({"id": 3, "type": "custom_msg", "kind": "qr_download_link", "data": {"url": LINK}}))
    stream.take(json.dumps({"id": 4, "type": "status", "status": "SUCCEEDED"}))
    assert [line.text for line in stream.lines_from(0)][:3] == ["one", "two ***", "plain text line"]
    assert [line.number for line in stream.lines_from(2)] == [3, 4]
    assert stream.link == LINK and stream.final_status == "succeeded"


# -- the inputs model -------------------------------------------------------------------------------
def _inputs(tmp_path: Path, **given: Any) -> BuildInputs:
    (tmp_path / "android").mkdir(exist_ok=True)
    (tmp_path / "android" / "build.gradle").write_text("x")
    (tmp_path / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    return BuildInputs.model_validate({"app_id": APP, "platform": "android", "path": tmp_path, **given})


def test_credentials_come_from_files_or_capgo_variables(tmp_path: Path) -> None:
    keystore = tmp_path / "release.jks"
    keystore.write_bytes(b"\x00keystore")
    inputs = _inputs(tmp_path, keystore_file=keystore, download=["apk"])
    options = inputs.options_from(
        {"KEYSTORE_KEY_ALIAS": "upload", "KEYSTORE_STORE_PASSWORD": "pw", "P12_PASSWORD": "ios-only"}
    )
    assert options == {
        "build_mode": "release",
        "outputUploadEnabled": "true",  # --download asks for the link
        "ANDROID_KEYSTORE_FILE": base64.b64encode(b"\x00keystore").decode(),
        "KEYSTORE_KEY_ALIAS": "upload",
        "KEYSTORE_STORE_PASSWORD": "pw",
        "KEYSTORE_KEY_PASSWORD": "pw",  # one password serves as both, as in Capgo's CLI
    }
    assert _inputs(tmp_path).options_from({})["outputUploadEnabled"] == "false"


def test_the_checkout_is_the_default_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"no package\.json"):
        BuildInputs(platform="android")
    (tmp_path / "package.json").write_text("{}")
    assert BuildInputs(platform="android").path == Path(".")


@pytest.mark.parametrize(
    "given",
    [
        {"platform": "web"},
        {"git_ref": "main"},
        {"path": None, "url": "https://example.com/s.zip"},
        {"certificate": "prod"},
        {"output_retention": "10m"},
        {"channel": ["production"]},
    ],
)
def test_what_capgo_cannot_do_is_refused_by_the_model(tmp_path: Path, given: dict[str, Any]) -> None:
    with pytest.raises((InputError, ValueError)):
        _inputs(tmp_path, **given)


# -- the emulator over HTTP ---------------------------------------------------------------------------
@pytest.fixture
def emulator() -> Iterator[CapgoEmulator]:
    with CapgoEmulator(build_config=BuildConfig(run_seconds=0.6, queue_seconds=0.1)) as running:
        yield running


def _client(emulator: CapgoEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.base_url, headers={"authorization": emulator.token}, timeout=10)


def test_build_config_from_the_environment() -> None:
    config = build_config_from_environment(
        {"CAPGO_SANDBOX_BUILD_RUN_SECONDS": "2", "CAPGO_SANDBOX_BUILD_OUTCOME": "failed"}
    )
    assert (config.run_seconds, config.outcome) == (2.0, "failed")
    for bad in ({"CAPGO_SANDBOX_BUILD_ARTIFACT_SIZE": "-1"}, {"CAPGO_SANDBOX_BUILD_OUTCOME": "maybe"}):
        with pytest.raises(InputError):
            build_config_from_environment(bad)


def test_tus_upload_rules_and_capgo_errors(emulator: CapgoEmulator) -> None:
    with _client(emulator) as client:
        assert client.post("/build/request", json={"app_id": APP}).json()["error"] == "missing_parameter"
        assert client.post("/build/request", json={"app_id": "com.nope.app", "platform": "ios"}).status_code == 400
        answer = client.post("/build/request", json={"app_id": APP, "platform": "android"}).json()
        job, upload_url = answer["job_id"], answer["upload_url"]
        created = client.post(upload_url, headers={"Upload-Length": "6", "Tus-Resumable": "1.0.0"})
        assert created.status_code == 201
        location = created.headers["Location"]
        patch = {"Content-Type": "application/offset+octet-stream", "Tus-Resumable": "1.0.0"}
        assert client.patch(location, content=b"abc", headers={**patch, "Upload-Offset": "0"}).status_code == 204
        assert client.patch(location, content=b"def", headers={**patch, "Upload-Offset": "0"}).status_code == 409
        assert client.head(location).headers["Upload-Offset"] == "3"
        early = client.post(f"/build/start/{job}", json={"app_id": APP})
        assert early.status_code == 400  # the upload is not complete
        client.patch(location, content=b"def", headers={**patch, "Upload-Offset": "3"})
        assert emulator.builds is not None and emulator.builds.uploaded_bytes(job) == b"abcdef"
        started = client.post(f"/build/start/{job}", json={"app_id": APP}).json()
        assert started["status"] == "running" and started["logs_url"].endswith(f"/build_logs_direct/{job}")
        # The builder origin takes the log token, not the API key.
        start_url = started["logs_url"] + "/start"
        assert httpx.post(start_url, headers={"x-capgo-log-token": "wrong"}).status_code == 401
        assert httpx.post(start_url, headers={"x-capgo-log-token": started["logs_token"]}).status_code == 200
        other = client.get("/build/status", params={"job_id": job, "app_id": "com.other.app"})
        assert other.json()["error"] == "unauthorized"
        assert client.post(f"/build/cancel/{job}", json={"app_id": APP}).json()["status"] == "cancelled"
        assert client.get("/build/status", params={"job_id": job, "app_id": APP}).json()["status"] == "cancelled"
        assert client.post(f"/build/cancel/{job}", json={"app_id": APP}).status_code == 400
    with httpx.Client(base_url=emulator.base_url) as anonymous:
        assert anonymous.post("/build/request", json={"app_id": APP, "platform": "android"}).status_code == 401


def _connection(emulator: CapgoEmulator) -> Connection:
    return Connection(base_url=emulator.base_url, token=emulator.token, app_id=APP)


def test_the_adapter_against_the_emulator_end_to_end(emulator: CapgoEmulator, source: Path) -> None:
    from capawesome_ci.cloud.capgo import connect

    progress: list[tuple[int, int]] = []
    options = {"outputUploadEnabled": "true", "KEYSTORE_KEY_ALIAS": "alias-secret-value"}
    with connect(_connection(emulator)) as platform:
        build = platform.create_build(
            BuildRequest(
                platform="android", source=source, options=options, source_progress=lambda *p: progress.append(p)
            )
        )
        assert progress[-1] == (source.stat().st_size, source.stat().st_size)
        lines: list[str] = []
        while True:
            job = platform.get_job(build.id)
            lines += [line.text for line in platform.read_log_lines(build.id, len(lines))]
            if job.terminal:
                break
            time.sleep(0.1)
        assert job.status == SUCCEEDED
        assert lines[0].startswith("Preparing android release build") and "Build succeeded" in lines
        assert "Signing with key alias ***" in lines and "alias-secret-value" not in "\n".join(lines)
        assert len(lines) == len(set(lines))  # each once
        [artifact] = platform.list_artifacts(build.id)
        digest = hashlib.sha256()
        with platform.open_artifact(artifact, start=0) as download:
            buffer = bytearray(1 << 16)
            while count := download.readinto(memoryview(buffer)):
                digest.update(buffer[:count])
        assert digest.hexdigest() == artifact_sha256(f"capgo-build:{build.id}", 256 * 1024)
    with connect(_connection(emulator)) as later:  # another process: the SSE route, the build has ended
        assert later.list_artifacts(build.id)[0].type == "apk"


# -- the CLI against the emulator ----------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPAWESOME_", "CAPGO_", "GITHUB_", "CI"))}
    env.update(PYTHONUNBUFFERED="1", CAPGO_SANDBOX_BUILD_QUEUE_SECONDS="0.1", CAPGO_SANDBOX_BUILD_RUN_SECONDS="0.8")
    return {**env, **extra}


def capgo(tmp_path: Path, *args: str, **env: str) -> CliResult:
    return run_cli(["--json", "--sandbox", "--provider", "capgo", *args], env=_env(**env), cwd=tmp_path, timeout=90)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    (folder / "android").mkdir(parents=True)
    (folder / "android" / "build.gradle").write_text("apply plugin: 'com.android.application'\n")
    (folder / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    return folder


def test_build_wait_download_through_the_cli(tmp_path: Path, project: Path) -> None:
    result = capgo(
        tmp_path,
        *("build", "--platform", "android", "--path", str(project), "--download", "apk", "--output-dir", "out"),
        KEYSTORE_KEY_ALIAS="alias-secret-value",
    )
    assert result.code == 0, result.stderr
    data = result.json
    assert data["jobStatus"] == "succeeded"
    [artifact] = data["artifacts"]
    path = tmp_path / artifact["path"]
    assert artifact["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    seed = f"capgo-build:{data['buildId']}"
    remember_kind(seed, "apk")  # the emulator ran in the CLI's process: the container kind is said here too
    assert artifact["sha256"] == artifact_sha256(seed, 256 * 1024)
    steps = [f"step {index} of 12" for index in range(1, 13)]
    positions = [result.stderr.find(step) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert all(result.stderr.count(step + "\n") == 1 for step in steps)  # printed once each
    assert "alias-secret-value" not in result.output


def test_a_timeout_cancels_the_build(tmp_path: Path, project: Path) -> None:
    result = capgo(
        tmp_path,
        *("build", "--platform", "android", "--path", str(project), "--timeout", "2s"),
        CAPGO_SANDBOX_BUILD_RUN_SECONDS="60",
    )
    assert result.code == 124, result.output
    assert "cancel" in result.stderr.lower()


@pytest.mark.parametrize(
    "args",
    [
        ("--platform", "web", "--path", "app"),
        ("--platform", "android", "--git-ref", "main"),
        ("--platform", "android", "--url", "https://example.com/s.zip"),
        ("--platform", "android", "--path", "app", "--share"),
    ],
)
def test_what_capgo_cannot_build_exits_2(tmp_path: Path, project: Path, args: tuple[str, ...]) -> None:
    result = capgo(tmp_path, "build", *args)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output


def test_credentials_are_masked_on_github_before_anything_is_printed(tmp_path: Path, project: Path) -> None:
    password = "keystore-password-0123"
    result = capgo(
        tmp_path,
        *("build", "--platform", "android", "--path", str(project), "--no-wait"),
        GITHUB_ACTIONS="true",
        KEYSTORE_KEY_PASSWORD=password,
    )
    assert result.code == 0, result.output
    assert f"::add-mask::{password}\n" in result.stderr
    assert result.output.count(password) == result.stderr.count(f"::add-mask::{password}")  # nowhere else


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """As if the capgo-build extra's `modules` were not installed."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))


def test_without_the_extra_a_build_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, builds: CapgoBuilds, source: Path
) -> None:
    _without(monkeypatch, "tusclient")
    # respx with no route: any request would fail the test
    with respx.mock, pytest.raises(InputError, match=r"capgo-build extra \(tusclient missing\)"):
        builds.create_build(BuildRequest(platform="android", source=source))


def test_without_the_extra_the_emulator_serves_all_but_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "websockets")
    with CapgoEmulator() as emulator, httpx.Client(base_url=emulator.base_url) as http:
        headers = {"authorization": emulator.token}
        assert http.get("/channel/", params={"app_id": APP}, headers=headers).status_code == 200
        answer = http.post("/build/request", json={"app_id": APP, "platform": "android"}, headers=headers)
        assert answer.status_code == 503
        assert "capgo-build" in answer.json()["message"]


def test_a_failed_upload_cancels_the_build_request_it_made(emulator: CapgoEmulator, source: Path) -> None:
    from capawesome_ci.cloud.capgo import connect

    emulator.faults.add("PATCH /build/upload/* 500 times=9")
    with connect(_connection(emulator)) as platform, pytest.raises(CiError) as raised:
        platform.create_build(BuildRequest(platform="android", source=source))
    assert "was canceled" in raised.value.message
    [cancel] = [r for r in emulator.state.requests if r.path.startswith("/build/cancel/")]
    assert cancel.status == 200
    assert not [r for r in emulator.state.requests if r.path.startswith("/build/start/")]


def test_a_later_wait_prints_the_whole_log_once_the_build_has_ended(tmp_path: Path, project: Path) -> None:
    """Only the process that started a build holds its log token: a later `wait` follows the status,
    then prints the log from Capgo's log route, each line once and in order."""
    config = BuildConfig(run_seconds=1.0, queue_seconds=0.1, log_lines=5)
    with CapgoEmulator(build_config=config) as emulator:
        env = {
            **_env(),
            "CAPGO_TOKEN": emulator.token,
            "CAPGO_BASE_URL": emulator.base_url,
            "CAPGO_APP_ID": emulator.config.app_id,
        }
        started = run_cli(
            ["--json", "--provider", "capgo", "build", "--platform", "android", "--path", str(project), "--no-wait"],
            env=env,
            cwd=tmp_path,
        )
        assert started.code == 0, started.stderr
        waited = run_cli(
            ["--provider", "capgo", "wait", "--build-id", started.json["buildId"]], env=env, cwd=tmp_path, timeout=60
        )
        log_reads = [r for r in emulator.state.requests if r.path.startswith("/build/logs/")]
    assert waited.code == 0, waited.stderr
    steps = [f"step {index} of 5" for index in range(1, 6)]
    positions = [waited.stderr.find(step) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert all(waited.stderr.count(step + "\n") == 1 for step in steps)
    assert len(log_reads) == 1  # read once, after the build ended (reading it earlier would cancel it)
