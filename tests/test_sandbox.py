"""The sandbox is a faithful Capawesome Cloud over real loopback HTTP: paths, camelCase fields, bare-array
lists with limit/offset, job progression, logs, artifacts, ranges, signed URLs, deployments and the error
shapes — checked with plain httpx, raw sockets and the official SDK."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from collections.abc import Iterator
from http.client import HTTPConnection, HTTPException
from typing import Any

import httpx
import pytest
from capawesome_cloud import CapawesomeCloud
from capawesome_cloud.exceptions import CapawesomeCloudError

from capawesome_ci.sandbox import Sandbox, SandboxConfig, serve_forever
from capawesome_ci.sandbox.artifacts import artifact_chunks, artifact_sha256
from tests.conftest import sandbox_client

FAST = SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=10, artifact_size=300_000)
TERMINAL = {"succeeded", "failed", "canceled", "rejected", "timed_out"}
INSTANT = {"CAPAWESOME_SANDBOX_RUN_SECONDS": "0"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(**vars(FAST))) as running:
        yield running


@pytest.fixture
def http(sb: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sb) as client:
        yield client


@pytest.fixture
def anon(sb: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sb, authorized=False) as client:
        yield client


@pytest.fixture
def app(sb: Sandbox) -> str:
    return f"/v1/apps/{sb.app_id}"


def wait_terminal(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished")


def finished_build(http: httpx.Client, app: str, **body: Any) -> dict[str, Any]:
    body.setdefault("adHocEnvironmentVariables", INSTANT)
    build: dict[str, Any] = http.post(f"{app}/builds", json=body).json()
    wait_terminal(http, build["jobId"])
    return build


def issues(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    return list(response.json()["error"]["issues"])


# -- plumbing, auth, errors ----------------------------------------------------------------------
def test_config_token_and_base_url() -> None:
    assert (SandboxConfig().queue_seconds, SandboxConfig().run_seconds, SandboxConfig().log_lines) == (0.3, 2.0, 30)
    sandbox = Sandbox(SandboxConfig())
    assert sandbox.token.startswith("cap_sandbox_") and len(sandbox.token) == len("cap_sandbox_") + 32
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url
    with sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:") and not sandbox.base_url.endswith("/")
    sandbox.stop()  # idempotent
    assert Sandbox(SandboxConfig(token="cap_fixed")).token == "cap_fixed"
    with pytest.raises(ValueError):
        Sandbox(SandboxConfig(host="0.0.0.0"))


def test_auth_and_error_shapes(sb: Sandbox, http: httpx.Client, app: str, anon: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": sb.token}):
        response = anon.get("/v1/apps", headers=headers)
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized."})
    assert anon.get("/v1/nothing").status_code == 401  # the token is checked before routing
    assert http.get("/v1/users/me").json() == {
        "id": http.get("/v1/users/me").json()["id"],
        "email": "sandbox@example.com",
        "name": "Sandbox User",
    }
    assert (http.get("/v1/nothing-here").status_code, http.get("/v1/nothing-here").json()) == (
        404,
        {"message": "Not found."},
    )
    assert http.get("/v1/apps/nope").json() == {"message": "App not found."}
    assert http.get(f"{app}/builds/nope").json() == {"message": "App build not found."}
    assert http.get("/v1/jobs/nope").json() == {"message": "Job not found."}
    wrong_method = http.put(app)
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"message": "Method not allowed."})
    malformed = http.post(f"{app}/channels", content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "message" in malformed.json()
    assert issues(http.post(f"{app}/channels", json=[1, 2]))[0]["path"] == []


def test_keep_alive_chunked_bodies_and_stop(sb: Sandbox, app: str) -> None:
    port = int(sb.base_url.rsplit(":", 1)[1])
    connection = HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(3):  # one connection, several requests
        connection.request("GET", "/v1/users/me", headers={"Authorization": f"Bearer {sb.token}"})
        assert connection.getresponse().read().startswith(b"{")
    with sandbox_client(sb) as client:
        chunked = client.post(f"{app}/channels", content=iter([b'{"name": ', b'"chunky"}']))
        assert chunked.status_code == 201 and chunked.json()["name"] == "chunky"
        paused = client.post(f"{app}/channels/{chunked.json()['id']}/pause")
        assert (paused.status_code, paused.content) == (204, b"")
    sb.stop()
    with pytest.raises((ConnectionError, HTTPException)):
        connection.request("GET", "/v1/users/me", headers={"Authorization": f"Bearer {sb.token}"})
        connection.getresponse()


def test_requests_are_recorded(sb: Sandbox, http: httpx.Client, app: str) -> None:
    http.get(f"{app}/channels", params={"limit": 5})
    http.post(f"{app}/channels", json={"name": "recorded"})
    http.get("/v1/jobs/missing")
    records = [(r.method, r.path, r.query, r.status) for r in sb.state.requests]
    assert records == [
        ("GET", f"{app}/channels", "limit=5", 200),
        ("POST", f"{app}/channels", "", 201),
        ("GET", "/v1/jobs/missing", "", 404),
    ]
    assert [(r.method, r.status) for r in sb.state.mutations()] == [("POST", 201)]


# -- seed data and lists -------------------------------------------------------------------------
def test_seed_and_lists(sb: Sandbox, http: httpx.Client, app: str) -> None:
    apps = http.get("/v1/apps").json()
    assert isinstance(apps, list) and [a["id"] for a in apps] == [sb.app_id]
    demo = http.get(app).json()
    assert demo["name"] == "Demo App" and demo["type"] == "capacitor" and demo["buildStack"] == "macos-tahoe"
    assert demo["createdAt"].endswith("Z") and demo["organizationId"]
    assert http.get("/v1/apps", params={"name": "Other"}).json() == []
    channels = http.get(f"{app}/channels").json()
    assert [c["name"] for c in channels] == ["production", "beta"]
    assert set(channels[0]) == {
        "id", "appId", "name", "appDeploymentId", "pausedAt", "protectedAt", "totalAppDeployments",
        "totalAppDevices", "expiresAt", "createdAt", "updatedAt",
    }  # fmt: skip
    expected = {
        "certificates": ["android-release", "ios-app-store"],
        "environments": ["production", "staging"],
        "configurations": ["default"],
        "destinations": ["google-play-internal", "app-store-connect"],
    }
    for kind, names in expected.items():
        assert [item["name"] for item in http.get(f"{app}/{kind}").json()] == names
        assert [item["name"] for item in http.get(f"{app}/{kind}", params={"name": names[-1]}).json()] == names[-1:]
    assert [d["platform"] for d in http.get(f"{app}/destinations").json()] == ["android", "ios"]


def test_limit_offset_and_filters(http: httpx.Client, app: str) -> None:
    for index in range(12):
        assert http.post(f"{app}/channels", json={"name": f"feature-{index:02}"}).status_code == 201
    assert len(http.get(f"{app}/channels").json()) == 10  # the documented default limit
    everything = http.get(f"{app}/channels", params={"limit": 100}).json()
    assert len(everything) == 14
    page = http.get(f"{app}/channels", params={"limit": 5, "offset": 10}).json()
    assert [c["id"] for c in page] == [c["id"] for c in everything[10:]]
    assert http.get(f"{app}/channels", params={"offset": 100}).json() == []
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": "x"}):
        assert issues(http.get(f"{app}/channels", params=bad))[0]["path"] in (["limit"], ["offset"])
    assert [c["name"] for c in http.get(f"{app}/channels", params={"name": "beta"}).json()] == ["beta"]
    assert http.get(f"{app}/channels", params={"name": "bet"}).json() == []  # name is exact
    assert len(http.get(f"{app}/channels", params={"query": "FEATURE-0", "limit": 100}).json()) == 10


def test_channel_lifecycle(http: httpx.Client, app: str) -> None:
    created = http.post(f"{app}/channels", json={"name": "qa", "protected": True, "appId": "ignored"})
    assert created.status_code == 201
    channel = created.json()
    assert channel["protectedAt"] and channel["appDeploymentId"] is None and channel["totalAppDeployments"] == 0
    assert issues(http.post(f"{app}/channels", json={"name": "qa"})) == [
        {"path": ["name"], "message": "Channel name already exists."}
    ]
    assert issues(http.post(f"{app}/channels", json={}))[0]["path"] == ["name"]
    url = f"{app}/channels/{channel['id']}"
    assert http.get(url, params={"relations": "appDeployment"}).json()["appDeployment"] is None
    patched = http.patch(url, json={"name": "qa-2", "protected": False, "expiresAt": "2030-01-01T00:00:00.000Z"})
    assert (patched.json()["name"], patched.json()["protectedAt"], patched.json()["expiresAt"]) == (
        "qa-2",
        None,
        "2030-01-01T00:00:00.000Z",
    )
    assert http.post(f"{url}/pause").status_code == 204 and http.get(url).json()["pausedAt"]
    assert http.post(f"{url}/resume").status_code == 204 and http.get(url).json()["pausedAt"] is None
    assert http.delete(url).status_code == 204
    assert http.get(url).json() == {"message": "App channel not found."}
    assert http.delete(f"{app}/channels", params={"name": "beta"}).status_code == 204
    assert http.get(f"{app}/channels", params={"name": "beta"}).json() == []
    assert http.delete(f"{app}/channels", params={"name": "beta"}).status_code == 404


# -- builds, jobs, logs --------------------------------------------------------------------------
def test_build_job_progression_and_logs() -> None:
    with (
        Sandbox(SandboxConfig(queue_seconds=0.2, run_seconds=0.4, log_lines=12)) as sb,
        sandbox_client(sb) as http,
    ):
        created = http.post(f"/v1/apps/{sb.app_id}/builds", json={"platform": "android", "type": "release"})
        assert created.status_code == 201
        build = created.json()
        assert set(build) == {
            "id", "appId", "numberAsString", "platform", "type", "stack", "gitRef", "jobId", "displayName",
            "createdAt", "updatedAt",
        }  # fmt: skip
        assert (build["numberAsString"], build["platform"], build["type"], build["gitRef"]) == (
            "1",
            "android",
            "release",
            None,
        )
        statuses: list[str] = []
        line_counts: list[int] = []
        seen: list[dict[str, Any]] = []
        while not statuses or statuses[-1] not in TERMINAL:
            job = http.get(f"/v1/jobs/{build['jobId']}").json()
            new = http.get(f"/v1/jobs/{build['jobId']}/logs", params={"offset": len(seen)}).json()
            seen += new
            if not statuses or statuses[-1] != job["status"]:
                statuses.append(job["status"])
            line_counts.append(len(seen))
            time.sleep(0.02)
        assert statuses == ["queued", "pending", "in_progress", "succeeded"]
        assert any(0 < count < 12 for count in line_counts)  # lines arrived while it ran
        assert [line["number"] for line in seen] == list(range(1, 13))
        assert http.get(f"/v1/jobs/{build['jobId']}/logs").json() == seen
        assert http.get(f"/v1/jobs/{build['jobId']}/logs", params={"offset": 3, "limit": 2}).json() == seen[3:5]
        assert set(seen[0]) == {"jobId", "number", "payload", "timestamp"}
        assert seen[-1]["payload"] == "\\x1b[32mBuild succeeded.\\x1b[0m"  # escaped ANSI, as the API sends it
        assert "\x1b" not in "".join(line["payload"] for line in seen)
        job = http.get(f"/v1/jobs/{build['jobId']}", params={"relations": "jobLogs"}).json()
        assert job["jobLogs"] == seen and job["finishedAt"].endswith("Z") and job["statusMessage"] is None
        assert (job["appBuildId"], job["appDeploymentId"], job["organizationId"]) == (
            build["id"],
            None,
            http.get(f"/v1/apps/{sb.app_id}").json()["organizationId"],
        )
        assert job["totalTimeInSeconds"] == pytest.approx(0.6, abs=0.01)
        second = http.post(f"/v1/apps/{sb.app_id}/builds", json={"platform": "web"}).json()
        assert second["numberAsString"] == "2"


def test_build_list_get_and_relations(http: httpx.Client, app: str) -> None:
    first = finished_build(http, app, platform="android", type="release", gitRef="main")
    second = finished_build(http, app, platform="web")
    assert [b["id"] for b in http.get(f"{app}/builds").json()] == [second["id"], first["id"]]  # newest first
    assert [b["id"] for b in http.get(f"{app}/builds", params={"platform": "android"}).json()] == [first["id"]]
    assert [b["id"] for b in http.get(f"{app}/builds", params={"numberAsString": "2"}).json()] == [second["id"]]
    full = http.get(f"{app}/builds/{first['id']}", params={"relations": "appBuildArtifacts,job,job.jobLogs"}).json()
    assert full["gitRef"] == "main" and full["job"]["status"] == "succeeded"
    assert sorted(a["type"] for a in full["appBuildArtifacts"]) == ["aab", "apk"]
    assert [line["number"] for line in full["job"]["jobLogs"]] == list(range(1, 11))
    assert "job" not in http.get(f"{app}/builds/{first['id']}").json()


@pytest.mark.parametrize(
    ("platform", "build_type", "files"),
    [
        ("android", "debug", {"apk": "app-debug.apk"}),
        ("android", "release", {"aab": "app-release.aab", "apk": "app-release.apk"}),
        ("ios", "simulator", {"zip": "App.app.zip"}),
        ("ios", "app-store", {"ipa": "App.ipa", "dsym": "App.app.dSYM.zip"}),
        ("ios", "enterprise", {"ipa": "App.ipa", "dsym": "App.app.dSYM.zip"}),
        ("web", None, {"zip": "web.zip"}),
    ],
)
def test_artifacts_per_platform(
    http: httpx.Client, app: str, platform: str, build_type: str | None, files: dict[str, str]
) -> None:
    build = finished_build(http, app, platform=platform, type=build_type)
    artifacts = http.get(f"{app}/builds/{build['id']}/artifacts").json()
    assert {a["type"]: a["fileName"] for a in artifacts} == files
    assert set(artifacts[0]) == {
        "id", "appBuildId", "type", "status", "fileName", "totalSizeInBytes", "totalDownloads", "formFactor",
        "downloadUrl", "createdAt", "updatedAt",
    }  # fmt: skip
    assert all(a["status"] == "ready" and a["totalSizeInBytes"] == 300_000 for a in artifacts)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, ["platform"]),
        ({"platform": "windows"}, ["platform"]),
        ({"platform": "ios", "type": "release"}, ["type"]),
        ({"platform": "android", "type": "app-store"}, ["type"]),
        ({"platform": "web", "type": "debug"}, ["type"]),
        ({"platform": "ios", "stack": "ubuntu"}, ["stack"]),
        ({"platform": "web", "gitRef": "main", "appBuildSourceId": "x"}, ["appBuildSourceId"]),
        ({"platform": "web", "adHocEnvironmentVariables": ["A=1"]}, ["adHocEnvironmentVariables"]),
        ({"platform": "web", "adHocEnvironmentVariables": {"A": 1}}, ["adHocEnvironmentVariables", "A"]),
        ({"platform": "web", "unknownField": 1}, []),
        ({"platform": "web", "gitRef": 7}, ["gitRef"]),
        ({"platform": "android", "releaseNotes": {"default": "x"}}, ["releaseNotes"]),
        (
            {"platform": "web", "adHocEnvironmentVariables": {"CAPAWESOME_SANDBOX_OUTCOME": "maybe"}},
            ["adHocEnvironmentVariables", "CAPAWESOME_SANDBOX_OUTCOME"],
        ),
        (
            {"platform": "web", "adHocEnvironmentVariables": {"CAPAWESOME_SANDBOX_LOG_LINES": "0"}},
            ["adHocEnvironmentVariables", "CAPAWESOME_SANDBOX_LOG_LINES"],
        ),
    ],
)
def test_build_validation_issues(
    sb: Sandbox, http: httpx.Client, app: str, body: dict[str, Any], path: list[str]
) -> None:
    assert issues(http.post(f"{app}/builds", json=body))[0]["path"] == path
    assert sb.state.builds == {}


def test_build_validation_messages_and_references(http: httpx.Client, app: str) -> None:
    assert issues(http.post(f"{app}/builds", json={"platform": "windows"})) == [
        {"path": ["platform"], "message": "Invalid enum value. Expected 'android' | 'ios' | 'web'"}
    ]
    missing = {
        "appCertificateName": "App certificate not found.",
        "appEnvironmentName": "App environment not found.",
        "appConfigurationName": "App configuration not found.",
    }
    for key, message in missing.items():
        response = http.post(f"{app}/builds", json={"platform": "android", key: "nope"})
        assert (response.status_code, response.json()) == (404, {"message": message})
    assert http.post(f"{app}/builds", json={"platform": "web", "appChannelNames": ["nope"]}).json() == {
        "message": "App channel not found."
    }
    assert http.post(f"{app}/builds", json={"platform": "ios", "appChannelNames": ["beta"]}).status_code == 400
    good = {
        "platform": "android",
        "type": "release",
        "stack": "macos-sequoia",
        "gitRef": "main",
        "appCertificateName": "android-release",
        "appEnvironmentName": "staging",
        "appConfigurationName": "default",
        "adHocEnvironmentVariables": {"FOO": "bar"},
    }
    created = http.post(f"{app}/builds", json=good)
    assert created.status_code == 201 and created.json()["stack"] == "macos-sequoia"


# -- outcomes, cancel, failure summary -----------------------------------------------------------
def test_outcomes_next_outcome_and_failure_summary(sb: Sandbox, http: httpx.Client, app: str) -> None:
    sb.state.next_outcome = "failed"
    failed = finished_build(http, app, platform="android")
    assert sb.state.next_outcome is None  # consumed
    job = http.get(f"/v1/jobs/{failed['jobId']}").json()
    assert job["status"] == "failed" and job["statusMessage"] and job["finishedAt"]
    last = http.get(f"/v1/jobs/{failed['jobId']}/logs").json()[-1]["payload"]
    assert last.startswith("\\x1b[31m") and job["statusMessage"] in last
    assert http.get(f"{app}/builds/{failed['id']}/artifacts").json() == []
    summary = http.post(f"/v1/jobs/{failed['jobId']}/failure-summary")
    assert summary.status_code == 200 and list(summary.json()) == ["summary"] and summary.json()["summary"]
    assert http.post(f"/v1/jobs/{failed['jobId']}/failure-summary").json() == summary.json()  # cached
    succeeded = finished_build(http, app, platform="android")
    assert http.get(f"/v1/jobs/{succeeded['jobId']}").json()["status"] == "succeeded"
    refused = http.post(f"/v1/jobs/{succeeded['jobId']}/failure-summary")
    assert (refused.status_code, refused.json()) == (400, {"message": "Job has not failed."})
    for outcome in ("rejected", "timed_out", "canceled"):
        build = finished_build(
            http, app, platform="web", adHocEnvironmentVariables={**INSTANT, "CAPAWESOME_SANDBOX_OUTCOME": outcome}
        )
        assert http.get(f"/v1/jobs/{build['jobId']}").json()["status"] == outcome
    sized = finished_build(
        http,
        app,
        platform="web",
        adHocEnvironmentVariables={
            **INSTANT,
            "CAPAWESOME_SANDBOX_LOG_LINES": "3",
            "CAPAWESOME_SANDBOX_ARTIFACT_SIZE": "7",
        },
    )
    assert len(http.get(f"/v1/jobs/{sized['jobId']}/logs").json()) == 3
    assert http.get(f"{app}/builds/{sized['id']}/artifacts").json()[0]["totalSizeInBytes"] == 7


def test_never_and_cancel(http: httpx.Client, app: str) -> None:
    never = http.post(
        f"{app}/builds", json={"platform": "ios", "adHocEnvironmentVariables": {"CAPAWESOME_SANDBOX_OUTCOME": "never"}}
    ).json()
    time.sleep(0.4)  # past queue + run
    job = http.get(f"/v1/jobs/{never['jobId']}").json()
    assert (job["status"], job["finishedAt"]) == ("in_progress", None)
    assert len(http.get(f"/v1/jobs/{never['jobId']}/logs").json()) == 10
    assert issues(http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "running"}))[0]["path"] == ["status"]
    canceled = http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "canceled"})
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled" and canceled.json()["finishedAt"]
    logs = http.get(f"/v1/jobs/{never['jobId']}/logs").json()
    assert [line["number"] for line in logs] == list(range(1, 12)) and logs[-1]["payload"] == "Job canceled."
    again = http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "canceled"})
    assert (again.status_code, again.json()) == (400, {"message": "Job is already finished."})
    time.sleep(0.1)
    assert http.get(f"/v1/jobs/{never['jobId']}/logs").json() == logs  # frozen
    assert http.get(f"{app}/builds/{never['id']}/artifacts").json() == []
    with Sandbox(SandboxConfig(queue_seconds=30)) as slow:
        client = sandbox_client(slow)
        queued = client.post(f"/v1/apps/{slow.app_id}/builds", json={"platform": "web"}).json()
        assert client.patch(f"/v1/jobs/{queued['jobId']}", json={"status": "canceled"}).json()["status"] == "canceled"
        assert [line["payload"] for line in client.get(f"/v1/jobs/{queued['jobId']}/logs").json()] == ["Job canceled."]
        client.close()


# -- artifacts: download, ranges, signed URLs, shares ------------------------------------------------
def test_download_ranges_and_signed_url(sb: Sandbox, http: httpx.Client, app: str, anon: httpx.Client) -> None:
    build = finished_build(http, app, platform="android", type="release")
    artifact = http.get(f"{app}/builds/{build['id']}/artifacts").json()[0]
    url = f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/download"
    full = http.get(url)
    assert full.status_code == 200 and len(full.content) == 300_000
    assert hashlib.sha256(full.content).hexdigest() == artifact_sha256(f"{sb.config.seed}:{artifact['id']}", 300_000)
    assert full.headers["Content-Type"] == "application/octet-stream"
    assert full.headers["Content-Length"] == "300000" and full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["Content-Disposition"] == f'attachment; filename="{artifact["fileName"]}"'
    for header, expected, content_range in (
        ("bytes=1000-1999", full.content[1000:2000], "bytes 1000-1999/300000"),
        ("bytes=299000-", full.content[299000:], "bytes 299000-299999/300000"),
        ("bytes=299990-400000", full.content[299990:], "bytes 299990-299999/300000"),
        ("bytes=-10", full.content[-10:], "bytes 299990-299999/300000"),
    ):
        part = http.get(url, headers={"Range": header})
        assert (part.status_code, part.headers["Content-Range"], part.content) == (206, content_range, expected)
    unsatisfiable = http.get(url, headers={"Range": "bytes=300000-"})
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["Content-Range"] == "bytes */300000"
    assert http.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200  # several ranges: ignored
    assert http.get(f"{app}/builds/{build['id']}/artifacts").json()[0]["totalDownloads"] == 6
    signed = http.get(f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/signed-download-url").json()
    assert set(signed) == {"url", "expiresAt"}
    assert signed["url"].startswith(f"{sb.base_url}/signed/") and signed["url"].endswith(artifact["fileName"])
    assert 14 * 60_000 < signed["expiresAt"] - time.time() * 1000 <= 15 * 60_000
    assert anon.get(signed["url"]).content == full.content  # no Authorization needed
    assert anon.get(signed["url"], headers={"Range": "bytes=5-9"}).content == full.content[5:10]
    with sb.state.lock:
        for capability, (artifact_id, _) in list(sb.state.signed_urls.items()):
            sb.state.signed_urls[capability] = (artifact_id, time.time() - 1)
    assert anon.get(signed["url"]).status_code == 404  # expired
    assert http.get(f"{app}/builds/{build['id']}/artifacts/nope/download").json() == {
        "message": "App build artifact not found."
    }


def test_shares_qrcode_and_console(sb: Sandbox, http: httpx.Client, app: str, anon: httpx.Client) -> None:
    build = finished_build(http, app, platform="ios", type="ad-hoc")
    created = http.post(f"{app}/builds/{build['id']}/shares", json={"description": "QA", "expiresAt": "2030-01-01"})
    assert created.status_code == 201
    share = created.json()
    assert set(share) == {"id", "appBuildId", "description", "expiresAt", "createdAt"}
    assert (share["appBuildId"], share["description"]) == (build["id"], "QA")
    assert http.post(f"{app}/builds/{build['id']}/shares", json={}).json()["expiresAt"] is None
    assert len(http.get(f"{app}/builds/{build['id']}/shares").json()) == 2
    assert http.delete(f"{app}/builds/{build['id']}/shares/{share['id']}").status_code == 204
    assert http.delete(f"{app}/builds/{build['id']}/shares/{share['id']}").status_code == 404
    assert len(http.get(f"{app}/builds/{build['id']}/shares").json()) == 1
    qr = anon.get("/v1/qrcodes", params={"content": "https://example.com/x", "format": "png"})
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/png"
    assert qr.content.startswith(b"\x89PNG\r\n\x1a\n")
    console = anon.get(f"/console/apps/{sb.app_id}/builds/{build['id']}")
    assert console.status_code == 200 and console.headers["Content-Type"].startswith("text/html")


# -- deployments ---------------------------------------------------------------------------------
def test_channel_deployments_relations_and_rollout(http: httpx.Client, app: str) -> None:
    web = http.post(f"{app}/builds", json={"platform": "web", "appChannelNames": ["beta"]}).json()
    not_ready = http.post(f"{app}/deployments", json={"appBuildId": web["id"], "appChannelName": "production"})
    assert (not_ready.status_code, not_ready.json()) == (400, {"message": "App build is not ready."})
    wait_terminal(http, web["jobId"])
    beta = http.get(f"{app}/channels", params={"name": "beta"}).json()[0]
    beta_full = http.get(f"{app}/channels/{beta['id']}", params={"relations": "appDeployment"}).json()
    assert beta_full["appDeployment"]["appBuildId"] == web["id"]  # deployed on success, as asked
    assert beta_full["appDeployment"]["rolloutPercentage"] == 1 and beta_full["totalAppDeployments"] == 1
    created = http.post(
        f"{app}/deployments", json={"appBuildId": web["id"], "appChannelName": "production", "rolloutPercentage": 0.25}
    )
    assert created.status_code == 201
    deployment = created.json()
    assert set(deployment) == {
        "id", "appId", "appBuildId", "appChannelId", "appDestinationId", "jobId", "rolloutPercentage",
        "releaseNotes", "createdAt", "updatedAt",
    }  # fmt: skip
    assert (deployment["rolloutPercentage"], deployment["jobId"], deployment["appDestinationId"]) == (0.25, None, None)
    production = http.get(f"{app}/channels", params={"name": "production"}).json()[0]
    assert production["appDeploymentId"] == deployment["id"]
    url = f"{app}/deployments/{deployment['id']}"
    for bad in ({"rolloutPercentage": 2}, {"rolloutPercentage": -0.1}, {}, {"rolloutPercentage": "half"}):
        assert issues(http.patch(url, json=bad))[0]["path"] == ["rolloutPercentage"]
    assert http.patch(url, json={"rolloutPercentage": 0.5}).json()["rolloutPercentage"] == 0.5
    assert (
        http.get(f"{app}/channels/{production['id']}", params={"relations": "appDeployment"}).json()["appDeployment"][
            "rolloutPercentage"
        ]
        == 0.5
    )
    by_id = http.post(f"{app}/deployments", json={"appBuildId": web["id"], "appChannelId": beta["id"]})
    assert by_id.status_code == 201
    listed = http.get(f"{app}/deployments", params={"appBuildId": web["id"], "relations": "appBuild"}).json()
    assert [d["id"] for d in listed][:2] == [by_id.json()["id"], deployment["id"]]  # newest first
    assert listed[0]["appBuild"]["id"] == web["id"]
    assert [d["id"] for d in http.get(f"{app}/deployments", params={"appChannelId": production["id"]}).json()] == [
        deployment["id"]
    ]
    assert http.get(url, params={"relations": "appBuild"}).json()["appBuild"]["id"] == web["id"]
    assert http.get(f"{app}/deployments/nope").json() == {"message": "App deployment not found."}


def test_deployment_validation(sb: Sandbox, http: httpx.Client, app: str) -> None:
    web = finished_build(http, app, platform="web")
    android = finished_build(http, app, platform="android", type="release")

    def post(body: dict[str, Any]) -> httpx.Response:
        return http.post(f"{app}/deployments", json=body)

    assert issues(post({"appChannelName": "beta"}))[0]["path"] == ["appBuildId"]
    assert issues(post({"appBuildId": web["id"]}))[0]["path"] == []
    assert issues(post({"appBuildId": web["id"], "appChannelName": "beta", "appDestinationName": "x"}))[0]["path"] == []
    assert issues(post({"appBuildId": web["id"], "appChannelName": "beta", "rolloutPercentage": 1.5}))[0]["path"] == [
        "rolloutPercentage"
    ]
    notes_on_channel = post({"appBuildId": web["id"], "appChannelName": "beta", "releaseNotes": {"default": "x"}})
    assert issues(notes_on_channel)[0]["path"] == ["releaseNotes"]
    notes_without_default = post(
        {"appBuildId": android["id"], "appDestinationName": "google-play-internal", "releaseNotes": {"de-DE": "x"}}
    )
    assert issues(notes_without_default)[0]["path"] == ["releaseNotes", "default"]
    assert post({"appBuildId": "nope", "appChannelName": "beta"}).json() == {"message": "App build not found."}
    assert post({"appBuildId": web["id"], "appChannelName": "nope"}).json() == {"message": "App channel not found."}
    assert post({"appBuildId": web["id"], "appDestinationName": "nope"}).json() == {
        "message": "App destination not found."
    }
    assert post({"appBuildId": android["id"], "appChannelName": "beta"}).status_code == 400  # native → channel
    assert post({"appBuildId": web["id"], "appDestinationName": "google-play-internal"}).status_code == 400
    assert post({"appBuildId": android["id"], "appDestinationName": "app-store-connect"}).status_code == 400
    assert sb.state.deployments == {}


def test_destination_deployment_runs_a_job(sb: Sandbox, http: httpx.Client, app: str) -> None:
    android = finished_build(http, app, platform="android", type="release")
    notes = {"default": "Bug fixes", "de-DE": "Fehlerbehebungen"}
    created = http.post(
        f"{app}/deployments",
        json={"appBuildId": android["id"], "appDestinationName": "google-play-internal", "releaseNotes": notes},
    )
    assert created.status_code == 201
    deployment = created.json()
    assert deployment["jobId"] and deployment["releaseNotes"] == notes and deployment["appChannelId"] is None
    job = wait_terminal(http, deployment["jobId"])
    assert job["status"] == "succeeded" and job["appDeploymentId"] == deployment["id"]
    full = http.get(f"{app}/deployments/{deployment['id']}", params={"relations": "job,job.jobLogs"}).json()
    assert full["job"]["status"] == "succeeded" and full["job"]["jobLogs"][-1]["payload"].startswith("\\x1b[32m")
    destination = http.get(f"{app}/destinations", params={"name": "google-play-internal"}).json()[0]
    assert (
        http.get(f"{app}/deployments", params={"appDestinationId": destination["id"]}).json()[0]["id"]
        == (deployment["id"])
    )
    sb.state.next_outcome = "failed"
    failing = http.post(
        f"{app}/deployments", json={"appBuildId": android["id"], "appDestinationId": destination["id"]}
    ).json()
    assert wait_terminal(http, failing["jobId"])["status"] == "failed"


# -- the official SDK ----------------------------------------------------------------------------
def test_the_official_sdk_works_against_it(sb: Sandbox, anon: httpx.Client) -> None:
    with CapawesomeCloud(token=sb.token, base_url=sb.base_url, max_retries=0) as client:
        assert client.users.me().email == "sandbox@example.com"
        assert client.apps.get(sb.app_id).name == "Demo App"
        assert [c.name for c in client.apps.channels.list(sb.app_id)] == ["production", "beta"]
        build = client.apps.builds.create(
            sb.app_id, platform="android", type="release", git_ref="main", ad_hoc_environment_variables=INSTANT
        )
        job = client.jobs.wait(build.job_id or "", poll_interval=0.02, timeout=10)
        assert job.status == "succeeded" and job.finished_at is not None
        assert [line.number for line in client.jobs.logs(job.id or "")] == list(range(1, 11))
        artifacts = list(client.apps.builds.artifacts.list(sb.app_id, build.id or ""))
        assert sorted(a.type or "" for a in artifacts) == ["aab", "apk"]
        data = client.apps.builds.artifacts.download(sb.app_id, build.id or "", artifacts[0].id or "")
        assert hashlib.sha256(data).hexdigest() == artifact_sha256(f"{sb.config.seed}:{artifacts[0].id}", 300_000)
        signed = client.apps.builds.artifacts.get_download_url(sb.app_id, build.id or "", artifacts[0].id or "")
        assert anon.get(signed["url"]).content == data
        web = client.apps.builds.create(
            sb.app_id, platform="web", app_channel_names=["beta"], ad_hoc_environment_variables=INSTANT
        )
        client.jobs.wait(web.job_id or "", poll_interval=0.02, timeout=10)
        deployment = client.apps.deployments.create(
            sb.app_id, app_build_id=web.id or "", app_channel_name="production", rollout_percentage=0.1
        )
        updated = client.apps.deployments.update(sb.app_id, deployment.id or "", rollout_percentage=0.75)
        assert updated.rollout_percentage == 0.75
        assert next(d.id for d in client.apps.deployments.list(sb.app_id, app_build_id=web.id)) == deployment.id
        beta = client.apps.channels.list_page(sb.app_id, name="beta")[0]
        client.apps.channels.pause(sb.app_id, beta.id or "")
        assert client.apps.channels.get(sb.app_id, beta.id or "").paused_at is not None
        client.apps.channels.resume(sb.app_id, beta.id or "")
        client.apps.channels.create(sb.app_id, name="temporary")
        client.apps.channels.delete(sb.app_id, name="temporary")
        sb.state.next_outcome = "failed"
        failing = client.apps.builds.create(
            sb.app_id, platform="ios", type="app-store", ad_hoc_environment_variables=INSTANT
        )
        client.jobs.wait(failing.job_id or "", poll_interval=0.02, timeout=10)
        assert client.jobs.get_failure_summary(failing.job_id or "").summary
        never = client.apps.builds.create(
            sb.app_id, platform="web", ad_hoc_environment_variables={"CAPAWESOME_SANDBOX_OUTCOME": "never"}
        )
        assert client.jobs.cancel(never.job_id or "").status == "canceled"
        with pytest.raises(CapawesomeCloudError) as not_found:
            client.apps.builds.get(sb.app_id, "missing")
        assert (not_found.value.status, not_found.value.message) == (404, "App build not found.")
        with pytest.raises(CapawesomeCloudError) as invalid:
            client.apps.builds.create(sb.app_id, platform="windows")
        assert invalid.value.message == "platform: Invalid enum value. Expected 'android' | 'ios' | 'web'"
    with CapawesomeCloud(token="cap_wrong", base_url=sb.base_url, max_retries=0) as intruder:
        with pytest.raises(CapawesomeCloudError) as unauthorized:
            intruder.users.me()
        assert (unauthorized.value.status, unauthorized.value.message) == (401, "Unauthorized.")


# -- streaming -----------------------------------------------------------------------------------
def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_large_artifact_streams_in_constant_memory(sb: Sandbox, http: httpx.Client, app: str) -> None:
    size = 200 << 20
    build = finished_build(
        http, app, platform="web", adHocEnvironmentVariables={**INSTANT, "CAPAWESOME_SANDBOX_ARTIFACT_SIZE": str(size)}
    )
    artifact = http.get(f"{app}/builds/{build['id']}/artifacts").json()[0]
    digest = hashlib.sha256()
    before = _rss_kib()
    with http.stream("GET", f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/download") as response:
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_bytes():
            digest.update(chunk)
    grown = _rss_kib() - before
    assert grown < 30 * 1024, f"RSS grew by {grown} KiB"  # the sandbox shares this process: nothing was buffered
    assert digest.hexdigest() == artifact_sha256(f"{sb.config.seed}:{artifact['id']}", size)


def test_client_hanging_up_mid_stream_is_quiet(
    sb: Sandbox, http: httpx.Client, app: str, capfd: pytest.CaptureFixture[str]
) -> None:
    build = finished_build(
        http,
        app,
        platform="web",
        adHocEnvironmentVariables={**INSTANT, "CAPAWESOME_SANDBOX_ARTIFACT_SIZE": str(64 << 20)},
    )
    artifact = http.get(f"{app}/builds/{build['id']}/artifacts").json()[0]
    path = f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/download"
    port = int(sb.base_url.rsplit(":", 1)[1])
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sb.token}\r\n\r\n".encode())
            assert raw.recv(65536).startswith(b"HTTP/1.1 200")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    time.sleep(0.1)
    assert http.get("/v1/users/me").status_code == 200  # still serving
    sb.stop()
    assert capfd.readouterr().err == ""


def test_artifact_chunks_any_range() -> None:
    size = 3 << 20
    chunks = list(artifact_chunks("seed", size))
    assert all(len(chunk) <= 1 << 20 for chunk in chunks)
    whole = b"".join(chunks)
    assert len(whole) == size and whole == b"".join(artifact_chunks("seed", size))  # deterministic
    assert whole[: 1 << 20] == hashlib.shake_256(b"seed").digest(1 << 20) == whole[1 << 20 : 2 << 20]
    assert b"".join(artifact_chunks("seed", size, 1_500_000, 2_600_000)) == whole[1_500_000:2_600_000]
    assert b"".join(artifact_chunks("seed", size, size - 5)) == whole[-5:]
    assert b"".join(artifact_chunks("seed", 10, 0, 100)) == whole[:10]
    assert artifact_sha256("seed", size) == hashlib.sha256(whole).hexdigest()
    assert b"".join(artifact_chunks("other", 10)) != whole[:10]


def test_serve_forever_announces_and_stops_on_ctrl_c() -> None:
    lines: list[str] = []

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("export "):
            settings = dict(part.split("=", 1) for part in line.removeprefix("export ").split())
            me = httpx.get(
                settings["CAPAWESOME_CLOUD_BASE_URL"] + f"/v1/apps/{settings['CAPAWESOME_APP_ID']}",
                headers={"Authorization": f"Bearer {settings['CAPAWESOME_CLOUD_TOKEN']}"},
            )
            assert me.json()["name"] == "Demo App"
            lines.append(settings["CAPAWESOME_CLOUD_BASE_URL"])
            raise KeyboardInterrupt  # what Ctrl+C raises in the blocked main thread

    serve_forever(SandboxConfig(token="cap_serve"), announce)
    base_url = lines[-1]
    assert any(base_url in line for line in lines[:-2]) and any("cap_serve" in line for line in lines[:-2])
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/v1/users/me")
