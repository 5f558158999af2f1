"""The sandbox speaks the real API: paths, fields, lists, statuses and error shapes — checked with
plain httpx and with the official SDK over loopback."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from capawesome_cloud import CapawesomeCloud
from capawesome_cloud.exceptions import CapawesomeCloudError

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from capawesome_ci.sandbox.artifacts import artifact_chunks, artifact_sha256


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=10, artifact_size=300_000)) as running:
        yield running


@pytest.fixture
def http(sb: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {sb.token}"}) as client:
        yield client


def wait_terminal(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "canceled", "rejected", "timed_out"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("job never finished")


def test_auth_and_error_shapes(sb: Sandbox, http: httpx.Client) -> None:
    unauthorized = httpx.get(f"{sb.base_url}/v1/apps")
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"message": "Unauthorized."})
    assert http.get("/v1/apps/nope").json() == {"message": "App not found."}
    assert http.get("/v1/nothing-here").status_code == 404
    assert http.put(f"/v1/apps/{sb.app_id}").status_code == 405
    bad = http.post(f"/v1/apps/{sb.app_id}/builds", json={"platform": "windows"})
    assert bad.status_code == 400
    assert bad.json()["error"]["issues"][0]["path"] == ["platform"]
    assert http.post(f"/v1/apps/{sb.app_id}/builds", content=b"{not json").status_code == 400
    assert http.get(f"/v1/apps/{sb.app_id}/channels", params={"limit": 0}).status_code == 400


def test_build_job_logs_artifacts_and_download(sb: Sandbox, http: httpx.Client) -> None:
    app = f"/v1/apps/{sb.app_id}"
    build = http.post(f"{app}/builds", json={"platform": "android", "type": "release", "gitRef": "main"})
    assert build.status_code == 201
    body = build.json()
    assert body["numberAsString"] == "1" and body["jobId"]
    assert http.get(f"/v1/jobs/{body['jobId']}").json()["status"] in ("queued", "pending", "in_progress")
    job = wait_terminal(http, body["jobId"])
    assert job["status"] == "succeeded" and job["finishedAt"]
    logs = http.get(f"/v1/jobs/{body['jobId']}/logs").json()
    assert [line["number"] for line in logs] == list(range(1, 11))
    assert http.get(f"/v1/jobs/{body['jobId']}/logs", params={"offset": 8, "limit": 5}).json() == logs[8:]
    assert any("\\x1b[" in line["payload"] for line in logs)  # escaped ANSI, as the API sends it
    artifacts = http.get(f"{app}/builds/{body['id']}/artifacts").json()
    assert sorted(a["type"] for a in artifacts) == ["aab", "apk"]
    artifact = artifacts[0]
    assert artifact["status"] == "ready" and artifact["totalSizeInBytes"] == 300_000
    url = f"{app}/builds/{body['id']}/artifacts/{artifact['id']}/download"
    full = http.get(url)
    assert hashlib.sha256(full.content).hexdigest() == artifact_sha256(f"{sb.config.seed}:{artifact['id']}", 300_000)
    part = http.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == full.content[1000:2000]
    assert part.headers["Content-Range"] == "bytes 1000-1999/300000"
    assert http.get(url, headers={"Range": "bytes=400000-"}).status_code == 416
    signed = http.get(f"{app}/builds/{body['id']}/artifacts/{artifact['id']}/signed-download-url").json()
    assert signed["expiresAt"] > time.time() * 1000
    assert httpx.get(signed["url"]).content == full.content  # no Authorization needed
    with_relations = http.get(f"{app}/builds/{body['id']}", params={"relations": "appBuildArtifacts,job"}).json()
    assert len(with_relations["appBuildArtifacts"]) == 2 and with_relations["job"]["status"] == "succeeded"
    assert http.get(f"{app}/builds", params={"numberAsString": "1"}).json()[0]["id"] == body["id"]


def test_cancel_failure_summary_and_outcomes(sb: Sandbox, http: httpx.Client) -> None:
    app = f"/v1/apps/{sb.app_id}"
    never = http.post(
        f"{app}/builds", json={"platform": "ios", "adHocEnvironmentVariables": {"CAPAWESOME_SANDBOX_OUTCOME": "never"}}
    ).json()
    assert http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "running"}).status_code == 400
    canceled = http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "canceled"}).json()
    assert canceled["status"] == "canceled"
    assert http.get(f"/v1/jobs/{never['jobId']}/logs").json()[-1]["payload"] == "Job canceled."
    assert http.patch(f"/v1/jobs/{never['jobId']}", json={"status": "canceled"}).json() == {
        "message": "Job is already finished."
    }
    sb.state.next_outcome = "failed"
    failed = http.post(f"{app}/builds", json={"platform": "android"}).json()
    assert wait_terminal(http, failed["jobId"])["status"] == "failed"
    summary = http.post(f"/v1/jobs/{failed['jobId']}/failure-summary")
    assert summary.status_code == 200 and summary.json()["summary"]
    assert http.get(f"{app}/builds/{failed['id']}/artifacts").json() == []


def test_deployments_channels_and_rollout(sb: Sandbox, http: httpx.Client) -> None:
    app = f"/v1/apps/{sb.app_id}"
    web = http.post(f"{app}/builds", json={"platform": "web", "appChannelNames": ["beta"]}).json()
    assert http.post(f"{app}/deployments", json={"appBuildId": web["id"], "appChannelName": "production"}).json() == {
        "message": "App build is not ready."
    }
    wait_terminal(http, web["jobId"])
    beta = http.get(f"{app}/channels", params={"name": "beta"}).json()
    assert len(beta) == 1
    beta_full = http.get(f"{app}/channels/{beta[0]['id']}", params={"relations": "appDeployment"}).json()
    assert beta_full["appDeployment"]["appBuildId"] == web["id"]  # deployed on success, as asked
    created = http.post(
        f"{app}/deployments", json={"appBuildId": web["id"], "appChannelName": "production", "rolloutPercentage": 0.25}
    )
    assert created.status_code == 201 and created.json()["rolloutPercentage"] == 0.25
    deployment_id = created.json()["id"]
    assert http.patch(f"{app}/deployments/{deployment_id}", json={"rolloutPercentage": 2}).status_code == 400
    assert (
        http.patch(f"{app}/deployments/{deployment_id}", json={"rolloutPercentage": 0.5}).json()["rolloutPercentage"]
        == 0.5
    )
    assert (
        http.post(
            f"{app}/deployments", json={"appBuildId": web["id"], "appDestinationName": "app-store-connect"}
        ).status_code
        == 400
    )
    assert http.post(f"{app}/channels", json={"name": "beta"}).status_code == 400
    listed = http.get(f"{app}/deployments", params={"appBuildId": web["id"], "limit": 100}).json()
    assert listed[0]["id"] == deployment_id  # newest first


def test_the_official_sdk_works_against_it(sb: Sandbox) -> None:
    client = CapawesomeCloud(token=sb.token, base_url=sb.base_url)
    assert client.apps.get(sb.app_id).name == "Demo App"
    build = client.apps.builds.create(sb.app_id, platform="android", type="debug")
    job = client.jobs.wait(build.job_id or "", poll_interval=0.1, timeout=10)
    assert job.status == "succeeded"
    assert [line.number for line in client.jobs.logs(job.id or "")] == list(range(1, 11))
    artifact = next(iter(client.apps.builds.artifacts.list(sb.app_id, build.id or "")))
    data = client.apps.builds.artifacts.download(sb.app_id, build.id or "", artifact.id or "")
    assert len(data) == 300_000
    assert [c.name for c in client.apps.channels.list(sb.app_id)] == ["production", "beta"]
    with pytest.raises(CapawesomeCloudError) as caught:
        client.apps.builds.get(sb.app_id, "missing")
    assert caught.value.status == 404 and caught.value.message == "App build not found."


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_large_artifacts_stream_in_constant_memory(http: httpx.Client, sb: Sandbox) -> None:
    app = f"/v1/apps/{sb.app_id}"
    size = 200 << 20
    build = http.post(
        f"{app}/builds",
        json={"platform": "web", "adHocEnvironmentVariables": {"CAPAWESOME_SANDBOX_ARTIFACT_SIZE": str(size)}},
    ).json()
    wait_terminal(http, build["jobId"])
    artifact = http.get(f"{app}/builds/{build['id']}/artifacts").json()[0]
    before = _rss_kib()
    received = 0
    with http.stream("GET", f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/download") as response:
        for chunk in response.iter_raw():
            received += len(chunk)
    assert received == size
    assert _rss_kib() - before < 30 * 1024  # the sandbox shares this process: neither side buffered it


def test_artifact_chunks_any_range() -> None:
    whole = b"".join(artifact_chunks("seed", 3 << 20))
    assert len(whole) == 3 << 20
    assert b"".join(artifact_chunks("seed", 3 << 20, 1_500_000, 2_600_000)) == whole[1_500_000:2_600_000]
