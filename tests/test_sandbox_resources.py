"""The sandbox's environments (variables, secrets), configurations, destinations, certificates,
devices (and their probe), the jobs list, build updates (native-version limits) and failing store
deployments: each through the official SDK against a running sandbox, with the API's 400 and 404
bodies, and the CLI's view of a deployment that fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capawesome_cloud import CapawesomeCloud
from capawesome_cloud.exceptions import CapawesomeCloudError

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from tests.conftest import cli_env, run_cli, sandbox_client

FAST = SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=10, artifact_size=4096)
INSTANT = {"CAPAWESOME_SANDBOX_RUN_SECONDS": "0"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(**vars(FAST))) as running:
        yield running


@pytest.fixture
def client(sb: Sandbox) -> Iterator[CapawesomeCloud]:
    with CapawesomeCloud(token=sb.token, base_url=sb.base_url, max_retries=0) as sdk:
        yield sdk


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(CapawesomeCloudError) as raised:
        call(*args, **kwargs)
    return raised.value.status, raised.value.message


def finished_build(client: CapawesomeCloud, app_id: str, platform: str, **variables: str) -> Any:
    kwargs: dict[str, Any] = {"type": "release"} if platform == "android" else {}
    build = client.apps.builds.create(
        app_id, platform=platform, ad_hoc_environment_variables={**INSTANT, **variables}, **kwargs
    )
    client.jobs.wait(build.job_id, poll_interval=0.05, timeout=10)
    return build


def test_environments_with_variables_and_secrets(sb: Sandbox, client: CapawesomeCloud) -> None:
    app, environments = sb.app_id, client.apps.environments
    assert [e.name for e in environments.list(app)] == ["production", "staging"]
    created = environments.create(app, name="qa")
    assert (created.name, created.app_id) == ("qa", app)
    assert environments.get(app, created.id).name == "qa"
    assert environments.update(app, created.id, name="qa-2").name == "qa-2"
    assert [e.name for e in environments.list_page(app, name="qa-2")] == ["qa-2"]
    assert [e.name for e in environments.list(app, query="STAG")] == ["staging"]
    assert failure(environments.create, app, name="staging") == (400, "name: App environment name already exists.")

    variable = environments.variables.create(app, created.id, key="API_URL", value="https://a")
    assert (variable.key, variable.value, variable.app_environment_id) == ("API_URL", "https://a", created.id)
    updated = environments.variables.update(app, created.id, variable.id, value="https://b")
    assert (updated.key, updated.value) == ("API_URL", "https://b")
    assert [(v.key, v.value) for v in environments.variables.list(app, created.id)] == [("API_URL", "https://b")]
    assert failure(environments.variables.create, app, created.id, key="API_URL", value="x")[0] == 400
    environments.variables.delete(app, created.id, variable.id)
    assert environments.variables.list(app, created.id) == []

    secret = environments.secrets.create(app, created.id, key="TOKEN", value="s3cret")
    assert secret.key == "TOKEN" and "value" not in secret.model_dump(by_alias=True, exclude_none=True)
    environments.secrets.update(app, created.id, secret.id, value="rotated")
    assert [s.key for s in environments.secrets.list(app, created.id)] == ["TOKEN"]
    assert "rotated" not in str(environments.secrets.list(app, created.id)[0].model_dump())
    assert sb.state.environment_secrets[0]["value"] == "rotated"  # kept, never answered
    environments.secrets.delete(app, created.id, secret.id)

    environments.variables.create(app, created.id, key="LEFT", value="over")
    environments.delete(app, created.id)
    assert sb.state.environment_variables == []  # they go with their environment
    environments.delete(app, name="staging")
    assert [e.name for e in environments.list(app)] == ["production"]
    assert failure(environments.get, app, created.id) == (404, "App environment not found.")
    assert failure(environments.delete, app, name="staging") == (404, "App environment not found.")
    assert failure(environments.variables.list, app, created.id) == (404, "App environment not found.")
    assert failure(environments.create, app, name="") == (400, "name: String must contain at least 1 character(s)")


def test_configurations(sb: Sandbox, client: CapawesomeCloud) -> None:
    app, configurations = sb.app_id, client.apps.configurations
    created = configurations.create(app, name="white-label", display_name="Brand", package_name="com.brand.app")
    assert (created.name, created.display_name, created.package_name) == ("white-label", "Brand", "com.brand.app")
    assert configurations.get(app, created.id).package_name == "com.brand.app"
    changed = configurations.update(app, created.id, display_name=None, package_name="com.brand.two")
    assert (changed.name, changed.display_name, changed.package_name) == ("white-label", None, "com.brand.two")
    assert [c.name for c in configurations.list(app)] == ["default", "white-label"]
    assert [c.name for c in configurations.list_page(app, limit=1, offset=1)] == ["white-label"]
    configurations.delete(app, created.id)
    configurations.delete(app, name="default")
    assert list(configurations.list(app)) == []
    assert failure(configurations.get, app, created.id) == (404, "App configuration not found.")


def test_destinations_and_their_platform_filter(sb: Sandbox, client: CapawesomeCloud) -> None:
    app, destinations = sb.app_id, client.apps.destinations
    created = destinations.create(
        app,
        name="play-beta",
        type="google-play",
        platform="android",
        android_package_name="com.example.app",
        google_play_track="beta",
    )
    assert (created.name, created.type, created.platform) == ("play-beta", "google-play", "android")
    assert destinations.get(app, created.id).model_dump(by_alias=True)["googlePlayTrack"] == "beta"
    assert [d.name for d in destinations.list(app, platform="android")] == ["google-play-internal", "play-beta"]
    assert [d.name for d in destinations.list_page(app, platform="ios")] == ["app-store-connect"]
    changed = destinations.update(app, created.id, google_play_track="production", apple_submit_for_review=True)
    assert changed.model_dump(by_alias=True)["googlePlayTrack"] == "production"
    same_name_other_platform = destinations.create(
        app, name="play-beta", type="firebase-app-distribution", platform="ios"
    )
    assert failure(destinations.create, app, name="play-beta", type="google-play", platform="android") == (
        400,
        "name: App destination name already exists.",
    )
    secret = destinations.create(
        app, name="asc", type="apple-app-store-connect", platform="ios", apple_app_password="hunter2"
    )
    assert "hunter2" not in str(destinations.get(app, secret.id).model_dump())

    assert failure(destinations.list_page, app, platform="windows") == (
        400,
        "platform: Invalid enum value. Expected 'android' | 'ios', received 'windows'",
    )
    assert failure(destinations.create, app, name="x", platform="android") == (400, "type: Required")
    with sandbox_client(sb) as http:  # the SDK sends no type on update: it never changes
        retyped = http.patch(f"/v1/apps/{app}/destinations/{created.id}", json={"type": "huawei-appgallery"})
        assert retyped.status_code == 400
    destinations.delete(app, name="play-beta", platform="ios")
    assert destinations.get(app, created.id).platform == "android"  # only the iOS one went
    assert failure(destinations.get, app, same_name_other_platform.id) == (404, "App destination not found.")
    destinations.delete(app, created.id)
    assert failure(destinations.delete, app, created.id) == (404, "App destination not found.")


def test_certificates_upload_filters_and_secrets(sb: Sandbox, client: CapawesomeCloud, tmp_path: Path) -> None:
    app, certificates = sb.app_id, client.apps.certificates
    keystore = tmp_path / "release.keystore"
    keystore.write_bytes(b"\x00keystore" * 100)
    created = certificates.create(
        app,
        name="upload-key",
        file=keystore,
        platform="android",
        type="production",
        password="store-pw",
        key_alias="upload",
        key_password="key-pw",
    )
    assert (created.name, created.platform, created.type) == ("upload-key", "android", "production")
    dumped = str(certificates.get(app, created.id).model_dump())
    assert "store-pw" not in dumped and "key-pw" not in dumped
    assert [c.name for c in certificates.list(app, platform="android", type="production")] == [
        "android-release",
        "upload-key",
    ]
    assert list(certificates.list(app, platform="android", type="development")) == []
    assert certificates.update(app, created.id, name="upload-key-2", type="development").type == "development"
    assert failure(certificates.list_page, app, type="staging") == (
        400,
        "type: Invalid enum value. Expected 'development' | 'production', received 'staging'",
    )
    assert failure(certificates.list_page, app, platform="windows")[0] == 400
    assert failure(certificates.create, app, name="no-platform", file=b"bytes")[1] == "platform: Required"
    certificates.delete(app, name="upload-key-2", platform="android", type="development")
    assert failure(certificates.get, app, created.id) == (404, "App certificate not found.")
    certificates.delete(app, name="ios-app-store", platform="ios", type="production")
    assert [c.name for c in certificates.list(app)] == ["android-release"]


def test_jobs_list_by_organization_and_status(sb: Sandbox, client: CapawesomeCloud) -> None:
    organization = sb.state.organization_id
    done = finished_build(client, sb.app_id, "web")
    running = client.apps.builds.create(
        sb.app_id, platform="web", ad_hoc_environment_variables={"CAPAWESOME_SANDBOX_OUTCOME": "never"}
    )
    jobs = list(client.jobs.list(organization_id=organization))
    assert [job.id for job in jobs] == [running.job_id, done.job_id]  # newest first
    assert [j.id for j in client.jobs.list(organization_id=organization, status="succeeded")] == [done.job_id]
    unfinished = client.jobs.list_page(organization_id=organization, status=["queued", "pending", "in_progress"])
    assert [j.id for j in unfinished] == [running.job_id]
    with_logs = client.jobs.list_page(organization_id=organization, status="succeeded", relations="jobLogs")
    assert with_logs[0].model_dump(by_alias=True)["jobLogs"]
    assert client.jobs.list_page(organization_id=organization, limit=1, offset=1)[0].id == done.job_id
    assert failure(client.jobs.list_page, organization_id=organization, status="done")[0] == 400
    with sandbox_client(sb) as http:
        missing = http.get("/v1/jobs")
        assert missing.status_code == 400
        assert missing.json() == {"error": {"issues": [{"path": ["organizationId"], "message": "Required"}]}}


def test_build_update_sets_native_version_limits(sb: Sandbox, client: CapawesomeCloud) -> None:
    web = finished_build(client, sb.app_id, "web")
    with sandbox_client(sb) as http:
        path = f"/v1/apps/{sb.app_id}/builds/{web.id}"
        limits = {"minAndroidAppVersionCode": "10", "maxIosAppVersionCode": "20", "eqAndroidAppVersionCode": None}
        patched = http.patch(path, json=limits).raise_for_status().json()
        assert {key: patched[key] for key in limits} == limits
        assert http.get(path).json()["minAndroidAppVersionCode"] == "10"
        wrong = http.patch(path, json={"minAndroidAppVersionCode": 10})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["issues"][0]["path"] == ["minAndroidAppVersionCode"]
        assert http.patch(path, json={"minAndroidVersion": "1"}).status_code == 400
    updated = client.apps.builds.update(
        sb.app_id, web.id, display_name="Release 1.2", package_version="1.2.0", custom_properties={"sha": "abc"}
    )
    assert updated.model_dump(by_alias=True)["displayName"] == "Release 1.2"
    dumped = updated.model_dump(by_alias=True)
    assert (dumped["packageVersion"], dumped["customProperties"]) == ("1.2.0", {"sha": "abc"})
    native = client.apps.builds.create(sb.app_id, platform="android")
    with sandbox_client(sb) as http:
        refused = http.patch(f"/v1/apps/{sb.app_id}/builds/{native.id}", json={"minAndroidAppVersionCode": "1"})
        assert refused.status_code == 400
    assert failure(client.apps.builds.update, sb.app_id, "missing", display_name="x") == (
        404,
        "App build not found.",
    )


def test_devices_probe_force_a_channel_and_native_version_limits(sb: Sandbox, client: CapawesomeCloud) -> None:
    app = sb.app_id
    web = client.apps.builds.create(
        app, platform="web", app_channel_names=["production"], ad_hoc_environment_variables=INSTANT
    )
    client.jobs.wait(web.job_id, poll_interval=0.05, timeout=10)
    beta = next(c for c in client.apps.channels.list(app) if c.name == "beta")
    probe = {
        "appVersionCode": "12",
        "appVersionName": "1.2.0",
        "osVersion": "14",
        "platform": "android",
        "pluginVersion": "7.0.0",
        "deviceId": "device-1",
    }
    with sandbox_client(sb) as http:
        latest = f"/v1/apps/{app}/bundles/latest"
        answer = http.get(latest, params={**probe, "channelName": "production"})
        assert answer.status_code == 200, answer.text
        bundle = answer.json()
        assert bundle["artifactType"] == "zip" and bundle["bundleId"]
        assert (
            http.get(latest, params={**probe, "channelName": "production", "bundleId": bundle["bundleId"]}).status_code
            == 404
        )
        assert http.get(latest, params=probe).status_code == 404  # no channel: no update
        bad = http.get(latest, params={**probe, "platform": "web"})
        assert bad.status_code == 400
        assert bad.json()["error"]["issues"][0]["path"] == ["platform"]
        http.patch(f"/v1/apps/{app}/builds/{web.id}", json={"minAndroidAppVersionCode": "13"}).raise_for_status()
        assert http.get(latest, params={**probe, "channelName": "production"}).status_code == 404  # too old
        assert (
            http.get(latest, params={**probe, "appVersionCode": "13", "channelName": "production"}).status_code == 200
        )

    devices = client.apps.devices
    device = devices.get(app, "device-1")
    assert (device.app_version_code, device.os_version) == ("13", "14")
    assert [d.model_dump(by_alias=True)["id"] for d in devices.list(app)] == ["device-1"]
    assert devices.list_page(app, id="someone-else") == []
    forced = devices.update(app, "device-1", forced_app_channel_id=beta.id)
    assert forced.model_dump(by_alias=True)["forcedAppChannelId"] == beta.id
    with sandbox_client(sb) as http:  # forced onto beta, which serves nothing yet
        assert (
            http.get(latest, params={**probe, "appVersionCode": "13", "channelName": "production"}).status_code == 404
        )
    assert (
        devices.update(app, "device-1", forced_app_channel_id=None).model_dump(by_alias=True)["forcedAppChannelId"]
        is None
    )
    assert failure(devices.update, app, "device-1", forced_app_channel_id="nope") == (404, "App channel not found.")
    devices.delete(app, "device-1")
    assert failure(devices.get, app, "device-1") == (404, "App device not found.")


def test_store_deployments_can_fail_and_explain_why(sb: Sandbox, client: CapawesomeCloud) -> None:
    build = finished_build(client, sb.app_id, "android", CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME="failed")
    deployment = client.apps.deployments.create(
        sb.app_id, app_build_id=build.id, app_destination_name="google-play-internal"
    )
    job = client.jobs.wait(deployment.job_id, poll_interval=0.05, timeout=10)
    assert (job.status, job.model_dump(by_alias=True)["statusMessage"]) == ("failed", "The store rejected the upload.")
    assert "The store rejected the upload." in client.jobs.get_failure_summary(job.id).summary
    assert "Deployment failed" in client.jobs.logs(job.id)[-1].payload
    again = client.apps.deployments.create(
        sb.app_id, app_build_id=build.id, app_destination_name="google-play-internal"
    )
    assert client.jobs.wait(again.job_id, poll_interval=0.05, timeout=10).status == "failed"  # every one of this build
    other = finished_build(client, sb.app_id, "android")
    fine = client.apps.deployments.create(sb.app_id, app_build_id=other.id, app_destination_name="google-play-internal")
    assert client.jobs.wait(fine.job_id, poll_interval=0.05, timeout=10).status == "succeeded"
    assert (
        failure(
            client.apps.builds.create,
            sb.app_id,
            platform="web",
            ad_hoc_environment_variables={"CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME": "maybe"},
        )[0]
        == 400
    )


def test_a_channel_deployment_has_no_job_so_waiting_on_it_ends(
    sb: Sandbox, client: CapawesomeCloud, tmp_path: Path
) -> None:
    web = finished_build(client, sb.app_id, "web")
    deployment = client.apps.deployments.create(sb.app_id, app_build_id=web.id, app_channel_name="beta")
    assert deployment.job_id is None
    started = time.monotonic()
    result = run_cli(["wait", "--deployment-id", deployment.id, "--json"], sb, cwd=tmp_path, timeout=20)
    assert time.monotonic() - started < 15
    assert result.code != 0
    assert "has no job to wait for" in result.stderr + result.stdout


def test_cli_deploy_to_a_destination_that_fails(sb: Sandbox, client: CapawesomeCloud, tmp_path: Path) -> None:
    build = finished_build(client, sb.app_id, "android", CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME="failed")
    result = run_cli(
        ["deploy", "--build-id", build.id, "--destination", "google-play-internal", "--failure-summary", "--json"],
        sb,
        cwd=tmp_path,
    )
    assert result.code != 0
    data = result.json
    assert data["status"] == "failed"
    assert data["deployments"][0]["jobStatus"] == "failed"
    assert "The store rejected the upload." in str(data)


def test_embedded_sandbox_build_and_deploy_to_a_failing_destination(tmp_path: Path) -> None:
    env = cli_env(
        None,
        CAPAWESOME_SANDBOX_RUN_SECONDS="0.2",
        CAPAWESOME_SANDBOX_QUEUE_SECONDS="0.05",
        CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME="failed",
    )
    args = ["--sandbox", "build", "--platform", "android", "--type", "release", "--destination", "google-play-internal"]
    result = run_cli([*args, "--json"], env=env, cwd=tmp_path)
    assert result.code != 0
    assert result.json["deployments"][0]["jobStatus"] == "failed"
    refused = run_cli(
        ["--sandbox", "build", "--platform", "web"],
        env={**env, "CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME": "maybe"},
        cwd=tmp_path,
    )
    assert refused.code != 0 and "CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME" in refused.stderr


def test_unknown_ids_are_404s(sb: Sandbox, client: CapawesomeCloud) -> None:
    app = sb.app_id
    assert failure(client.apps.environments.update, app, "nope", name="x") == (404, "App environment not found.")
    assert failure(client.apps.configurations.update, app, "nope", name="x") == (404, "App configuration not found.")
    assert failure(client.apps.destinations.update, app, "nope", name="x") == (404, "App destination not found.")
    assert failure(client.apps.certificates.update, app, "nope", name="x") == (404, "App certificate not found.")
    assert failure(client.apps.devices.delete, app, "nope") == (404, "App device not found.")
    assert failure(client.apps.environments.variables.update, app, "nope", "v", key="K")[0] == 404
    production = next(e for e in client.apps.environments.list(app) if e.name == "production")
    assert failure(client.apps.environments.secrets.delete, app, production.id, "nope") == (
        404,
        "App environment secret not found.",
    )
    assert failure(client.apps.configurations.create, app, name=None) == (400, "name: Required")
    with sandbox_client(sb) as http:
        missing = http.post(f"/v1/apps/{app}/environments", json={})
        assert missing.status_code == 400
        assert missing.json() == {"error": {"issues": [{"path": ["name"], "message": "Required"}]}}
        assert isinstance(http.get(f"/v1/apps/{app}/destinations").json(), list)
