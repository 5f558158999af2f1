"""Capwrapper: the adapter (respx), the contract of seed 002 replayed against the emulator, and the CLI
end to end against the emulator (build → wait → download, deploy, what is not available)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from capawesome_ci.cloud.capwrapper import CapwrapperPlatform, deploy_body
from capawesome_ci.cloud.transport import download_client, make_http_client
from capawesome_ci.errors import ApiError, AuthError, ExitCode, NotFoundError, TransientError
from capawesome_ci.platform import FAILED, PENDING, RUNNING, SUCCEEDED, BuildRequest
from capawesome_ci.sandbox.artifacts import artifact_sha256
from capawesome_ci.sandbox.capwrapper.start import CapwrapperEmulator
from capawesome_ci.sandbox.capwrapper.state import CapwrapperConfig
from tests.conftest import CliResult, run_cli

API = "https://api.capwrapper.test/v1"
KEY = "cw_live_0123456789abcdef"
STORAGE = "https://storage.example.net/signed/bin?sig=abc"


@pytest.fixture
def platform() -> Iterator[CapwrapperPlatform]:
    with make_http_client(API, KEY) as http, download_client() as downloads:
        yield CapwrapperPlatform(http, downloads)


def _build(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "bld_1", "status": status, "bundleId": "com.example.app", "version": "1.4.2", **extra}


# -- the adapter ------------------------------------------------------------------------------------
@respx.mock
def test_create_build_sends_the_documented_body_with_bearer_auth(platform: CapwrapperPlatform) -> None:
    route = respx.post(f"{API}/builds").respond(201, json=_build("queued"))
    options = {"url": "https://app.example.com", "app_name": "Example", "bundle_id": "com.example.app"}
    build = platform.create_build(
        BuildRequest(platform="", options={**options, "version": "1.4.2", "permissions": "camera,gps"})
    )
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {
        "url": "https://app.example.com",
        "appName": "Example",
        "bundleId": "com.example.app",
        "version": "1.4.2",
        "permissions": ["camera", "gps"],
    }
    assert build.id == build.job_id == "bld_1"  # the build is its own job


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("queued", PENDING), ("building", RUNNING), ("success", SUCCEEDED), ("failed", FAILED), ("packaging", RUNNING)],
)
@respx.mock
def test_statuses_are_normalised_and_the_raw_word_kept(platform: CapwrapperPlatform, raw: str, normalised: str) -> None:
    respx.get(f"{API}/builds/bld_1").respond(json=_build(raw, error="boom" if raw == "failed" else None))
    job = platform.get_job("bld_1")
    assert (job.status, job.raw_status) == (normalised, raw)
    assert job.status_message == ("boom" if raw == "failed" else None)


@respx.mock
def test_error_bodies_give_their_message_and_a_400_is_exit_2(platform: CapwrapperPlatform) -> None:
    respx.post(f"{API}/builds").respond(
        400, json={"error": "version_not_increased", "message": "Version must increase."}
    )
    with pytest.raises(ApiError) as raised:
        platform.create_build(BuildRequest(platform="", options={"version": "1.0.0"}))
    assert raised.value.exit_code == ExitCode.USAGE and "Version must increase." in raised.value.message
    respx.get(f"{API}/builds/x").respond(401, json={"error": "unauthorized", "message": "Invalid or missing API key."})
    with pytest.raises(AuthError, match="Invalid or missing API key"):
        platform.get_build("x")


@respx.mock
def test_the_download_url_never_gets_our_token_and_a_403_is_renewed_once(platform: CapwrapperPlatform) -> None:
    fresh = "https://storage.example.net/signed/bin?sig=fresh"
    reads = iter([_build("success", downloadUrl=STORAGE), _build("success", downloadUrl=fresh)])
    respx.get(f"{API}/builds/bld_1").mock(side_effect=lambda request: httpx.Response(200, json=next(reads)))
    expired = respx.get(STORAGE).respond(403, text="<Error>expired</Error>")
    served = respx.get(fresh).respond(
        200, content=b"binary", headers={"Content-Disposition": "attachment; filename*=UTF-8''App%20%C3%A9.aab"}
    )
    platform.get_build("bld_1")
    [artifact] = platform.list_artifacts("bld_1")
    assert (artifact.file_name, artifact.type, artifact.status) == ("App é.aab", "aab", "ready")
    with platform.open_artifact(artifact) as stream:
        buffer = bytearray(64)
        assert bytes(buffer[: stream.readinto(memoryview(buffer))]) == b"binary"
    for call in [*expired.calls, *served.calls]:
        assert "authorization" not in {name.lower() for name in call.request.headers}


@respx.mock
def test_a_second_403_is_an_auth_error_not_a_loop(platform: CapwrapperPlatform) -> None:
    respx.get(f"{API}/builds/bld_1").respond(json=_build("success", downloadUrl=STORAGE))
    respx.get(STORAGE).respond(403)
    with pytest.raises(AuthError, match="refused"):
        platform.list_artifacts("bld_1")


@pytest.mark.parametrize("shape", ["list", "data", "builds"])
@respx.mock
def test_the_newest_build_of_a_bundle_id_from_any_list_shape(platform: CapwrapperPlatform, shape: str) -> None:
    items = [_build("success", id="bld_3", bundleId="com.other.app"), _build("building", id="bld_2")]
    respx.get(f"{API}/builds").respond(json=items if shape == "list" else {shape: items})
    assert platform.find_newest_build("com.example.app").id == "bld_2"
    with pytest.raises(NotFoundError):
        platform.find_newest_build("com.missing.app")


@pytest.mark.parametrize(
    "answer",
    [
        b"{not json",
        b"[]",
        json.dumps(_build(7)).encode(),
        json.dumps(_build("success", downloadUrl="ftp://x")).encode(),
    ],
)
@respx.mock
def test_unusable_answers_are_75_never_a_traceback(platform: CapwrapperPlatform, answer: bytes) -> None:
    respx.get(f"{API}/builds/bld_1").respond(200, content=answer)
    with pytest.raises(TransientError):
        platform.get_job("bld_1")


def test_the_deploy_body_is_built_in_one_place() -> None:
    assert deploy_body("bld_1", "google-play", {"track": "internal"}) == {
        "buildId": "bld_1",
        "store": "google-play",
        "track": "internal",
    }


@respx.mock
def test_deploy_posts_to_deploys_with_the_pass_through_fields(platform: CapwrapperPlatform) -> None:
    route = respx.post(f"{API}/deploys").respond(201, json={"id": "dep_9"})
    store = platform.find_destination("app-store")
    assert store is not None and platform.find_destination("testflight") is None
    store.options = {"track": "beta"}
    deployment = platform.create_deployment("bld_1", destination=store)
    assert json.loads(route.calls.last.request.content) == {"buildId": "bld_1", "store": "app-store", "track": "beta"}
    assert deployment.id == "dep_9"


# -- the contract of seed 002, replayed against the emulator -----------------------------------------
@pytest.fixture
def emulator() -> Iterator[CapwrapperEmulator]:
    with CapwrapperEmulator(CapwrapperConfig(queue_seconds=0.1, build_seconds=0.3, artifact_size=4096)) as running:
        yield running


def _client(emulator: CapwrapperEmulator, token: str | None = None) -> httpx.Client:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or emulator.token}"}
    return httpx.Client(base_url=emulator.base_url, headers=headers)


BODY = {"url": "https://app.example.com", "appName": "Example", "bundleId": "com.example.app", "version": "1.0.0"}


def test_seed_002_every_request_needs_the_bearer_key(emulator: CapwrapperEmulator) -> None:
    # curl -X GET https://api.capwrapper.com/v1/builds -H "Authorization: Bearer YOUR_API_KEY" -H "Content-Type: …"
    with _client(emulator) as http:
        assert http.get("/v1/builds").status_code == 200
        assert http.get("/api/v1/builds").status_code == 200  # the docs' endpoint table writes /api/v1
    with _client(emulator, "wrong") as http:
        answer = http.get("/v1/builds")
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthorized", "message": "Invalid or missing API key."}


def test_seed_002_builds_create_read_list(emulator: CapwrapperEmulator) -> None:
    with _client(emulator) as http:
        created = http.post("/v1/builds", json={**BODY, "permissions": ["camera", "gps", "notifications"]})
        assert created.status_code == 201
        build = created.json()
        assert build["id"].startswith("bld_") and build["status"] == "queued"
        assert {key: build[key] for key in BODY} == BODY and "createdAt" in build
        deadline = time.monotonic() + 5
        while (read := http.get(f"/v1/builds/{build['id']}").json())["status"] != "success":
            assert read["status"] in ("queued", "building") and "downloadUrl" not in read
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert read["platform"] in ("android", "ios") and read["completedAt"] and read["downloadUrl"]
        assert not read["downloadUrl"].startswith(emulator.base_url)  # another origin
        assert [item["id"] for item in http.get("/v1/builds", params={"limit": 1}).json()] == [build["id"]]
        missing = http.get("/v1/builds/bld_missing")
        assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


def test_seed_002_errors_are_error_and_message(emulator: CapwrapperEmulator) -> None:
    emulator.faults.add("GET /v1/builds 429 retry-after=2")
    with _client(emulator) as http:
        assert http.post("/v1/builds", json=BODY).status_code == 201
        again = http.post("/v1/builds", json=BODY)  # the version must increase
        missing = http.post("/v1/builds", json={**BODY, "version": "2.0.0", "url": None})
        limited = http.get("/v1/builds")
    assert again.status_code == 400 and again.json()["error"] == "version_not_increased"
    assert "1.0.0" in again.json()["message"]
    assert missing.status_code == 400 and set(missing.json()) == {"error", "message"}
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert set(limited.json()) == {"error", "message"} and limited.json()["error"] == "rate_limited"


def test_signed_urls_expire_and_honour_range(emulator: CapwrapperEmulator) -> None:
    emulator.config.url_seconds = 1
    with _client(emulator) as http:
        build_id = http.post("/v1/builds", json=BODY).json()["id"]
        time.sleep(0.5)
        url = http.get(f"/v1/builds/{build_id}").json()["downloadUrl"]
    whole = httpx.get(url)
    part = httpx.get(url, headers={"Range": "bytes=100-"})
    assert whole.status_code == 200 and len(whole.content) == 4096
    assert part.status_code == 206 and part.content == whole.content[100:]
    assert part.headers["Content-Range"] == "bytes 100-4095/4096"
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403
    time.sleep(1.2)
    assert httpx.get(url).json()["error"] == "expired"


# -- the CLI against the emulator ----------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPAWESOME_", "CAPWRAPPER_", "GITHUB_", "CI"))}
    env.update(PYTHONUNBUFFERED="1", CAPWRAPPER_SANDBOX_QUEUE_SECONDS="0.1", CAPWRAPPER_SANDBOX_BUILD_SECONDS="0.5")
    return {**env, **extra}


BUILD = ["build", "--url", "https://app.example.com", "--app-name", "Example App", "--bundle-id", "com.example.app"]


def cw(tmp_path: Path, *args: str, **env: str) -> CliResult:
    return run_cli(["--json", "--sandbox", "--provider", "capwrapper", *args], env=_env(**env), cwd=tmp_path)


def test_build_wait_download_on_the_emulator(tmp_path: Path) -> None:
    result = cw(tmp_path, *BUILD, "--version", "1.4.2", "--permission", "camera", "--download", "all")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["jobStatus"] == "succeeded" and data["jobStatusRaw"] == "success"
    [artifact] = data["artifacts"]
    path = tmp_path / artifact["path"]
    assert path.name == "Example App-1.4.2.apk"  # from Content-Disposition
    assert artifact["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert artifact["sha256"] == artifact_sha256(f"capwrapper:{data['buildId']}", 256 * 1024)
    assert result.stderr.count(f"job {data['buildId']}: success") == 1  # each status once, no logs


def test_the_version_defaults_to_the_ci_tag_and_must_be_given_otherwise(tmp_path: Path) -> None:
    result = cw(tmp_path, *BUILD, "--no-wait", CI_COMMIT_TAG="v2.0.1")
    assert result.code == 0, result.stderr
    assert result.json["status"] == "started"
    missing = cw(tmp_path, *BUILD, CI_COMMIT_TAG="release-candidate")
    assert missing.code == 2 and missing.json["error"].startswith("missing --version")


def test_a_failed_build_says_why_with_exit_1(tmp_path: Path) -> None:
    result = cw(tmp_path, *BUILD, "--version", "1.0.0", CAPWRAPPER_SANDBOX_OUTCOME="failed")
    assert result.code == 1
    assert "did not load" in result.json["error"] and "did not load" in result.json["failureSummary"]


def test_a_stuck_build_hits_the_timeout_with_124_and_keeps_running(tmp_path: Path) -> None:
    started = time.monotonic()
    result = cw(tmp_path, *BUILD, "--version", "1.0.0", "--timeout", "2s", CAPWRAPPER_SANDBOX_OUTCOME="never")
    assert result.code == 124, result.stderr
    assert "keeps running" in result.json["error"] and time.monotonic() - started < 20


def test_deploy_to_a_store_and_what_is_not_available(tmp_path: Path) -> None:
    # One emulator for both steps: serve it, point the CLI at it.
    with CapwrapperEmulator(CapwrapperConfig(queue_seconds=0.1, build_seconds=0.3)) as emulator:
        env = _env(CAPWRAPPER_API_KEY=emulator.token, CAPWRAPPER_BASE_URL=emulator.api_url)

        def run(*args: str) -> CliResult:
            return run_cli(["--json", "--provider", "capwrapper", *args], env=env, cwd=tmp_path)

        built = run(*BUILD, "--version", "3.0.0")
        assert built.code == 0, built.stderr
        deployed = run("deploy", "--bundle-id", "com.example.app", "--destination", "google-play",
                       "--deploy-field", "track=internal")  # fmt: skip
        assert deployed.code == 0, deployed.stderr
        assert deployed.json["deployments"][0]["destination"] == "google-play"
        assert emulator.state.deploys[0]["buildId"] == built.json["buildId"]
        assert emulator.state.deploys[0]["track"] == "internal"
        again = run(*BUILD, "--version", "3.0.0")
        assert again.code == 2 and "must be greater than 3.0.0" in again.json["error"]
        before = len(emulator.state.requests)
        for argv in (
            ["deploy", "--build-id", "x", "--channel", "production"],
            ["wait", "--build-number", "1"],
            ["deploy", "--build-id", "x", "--destination", "testflight"],
            ["wait", "--build-id", "x", "--app-id", "app-1"],
            ["rollout", "--channel", "production", "--percentage", "5"],
            ["live-update", "--path", "."],
        ):
            refused = run(*argv)
            assert refused.code == 2, (argv, refused.stderr)
        assert len(emulator.state.requests) == before  # refused before any request
