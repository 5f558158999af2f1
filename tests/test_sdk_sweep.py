"""Every public method of the official SDK (`capawesome_cloud`), found by walking the client's
resources, called against the sandbox with plausible arguments, in an order where what a call needs
was made by an earlier one: creates before reads, updates and deletes; ids from created objects or
the sandbox's demo data. Iterators are walked to the end.

`CALLS` holds one entry per method; a public method it does not list fails
`test_the_table_covers_every_sdk_method`, so a new SDK method gets noticed. `NOT_YET_SERVED` lists
the methods the sandbox cannot answer yet: the sweep fails when one of them starts to work (take
it out of the set) or when any other method fails.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from capawesome_cloud import CapawesomeCloud

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from tests.conftest import sandbox_client

INSTANT = {"CAPAWESOME_SANDBOX_RUN_SECONDS": "0"}


class Ids:
    """The ids the sweep has at hand; one that was never set (its create failed) raises AttributeError."""

    def __init__(self, **known: str) -> None:
        self.__dict__.update(known)

    def __getattr__(self, name: str) -> str:
        raise AttributeError(f"no {name} id: the call that makes it did not succeed")

    job: str  # set by the sweep from the build it creates


Args = Callable[[Ids], dict[str, Any]]

# Method → its keyword arguments, in calling order (a dict keeps it).
CALLS: dict[str, Args] = {
    # -- the user and organizations
    "users.me": lambda ids: {},
    "organizations.list": lambda ids: {},
    "organizations.get": lambda ids: dict(organization_id=ids.org),
    "organizations.create": lambda ids: dict(name="Sweep Organization"),
    "organizations.update": lambda ids: dict(organization_id=ids.new_org, name="Sweep Organization 2"),
    "organizations.members.list": lambda ids: dict(organization_id=ids.org),
    "organizations.members.list_page": lambda ids: dict(organization_id=ids.org, role="member"),
    "organizations.invitations.create": lambda ids: dict(
        organization_id=ids.org, email="new.colleague@example.com", role="member"
    ),
    "organizations.invitations.list": lambda ids: dict(organization_id=ids.org),
    "organizations.invitations.list_page": lambda ids: dict(organization_id=ids.org, limit=10),
    "organizations.teams.create": lambda ids: dict(organization_id=ids.org, name="Mobile", description="The app team"),
    "organizations.teams.get": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.teams.list": lambda ids: dict(organization_id=ids.org),
    "organizations.teams.list_page": lambda ids: dict(organization_id=ids.org, name="Mobile"),
    "organizations.teams.update": lambda ids: dict(organization_id=ids.org, team_id=ids.team, name="Mobile Apps"),
    "organizations.teams.apps.create": lambda ids: dict(organization_id=ids.org, team_id=ids.team, app_id=ids.app),
    "organizations.teams.apps.list": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.teams.apps.list_page": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.teams.members.create": lambda ids: dict(
        organization_id=ids.org, team_id=ids.team, member_id=ids.member
    ),
    "organizations.teams.members.list": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.teams.members.list_page": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.license_keys.create": lambda ids: dict(organization_id=ids.org, name="CI license"),
    "organizations.license_keys.get": lambda ids: dict(organization_id=ids.org, license_key_id=ids.license_key),
    "organizations.license_keys.list": lambda ids: dict(organization_id=ids.org),
    "organizations.license_keys.update": lambda ids: dict(
        organization_id=ids.org, license_key_id=ids.license_key, name="CI license 2"
    ),
    "organizations.license_keys.rotate": lambda ids: dict(organization_id=ids.org, license_key_id=ids.license_key),
    "organizations.git_connections.create": lambda ids: dict(
        organization_id=ids.org, provider="github", auth_kind="token", name="GitHub", token="ghp_sandbox"
    ),
    "organizations.git_connections.get": lambda ids: dict(organization_id=ids.org, git_connection_id=ids.git),
    "organizations.git_connections.list": lambda ids: dict(organization_id=ids.org),
    "organizations.git_connections.list_page": lambda ids: dict(organization_id=ids.org, provider="github"),
    "organizations.git_connections.update": lambda ids: dict(
        organization_id=ids.org, git_connection_id=ids.git, name="GitHub (CI)"
    ),
    "organizations.git_connections.list_namespaces": lambda ids: dict(
        organization_id=ids.org, git_connection_id=ids.git
    ),
    "organizations.git_connections.list_repositories": lambda ids: dict(
        organization_id=ids.org, git_connection_id=ids.git
    ),
    # -- apps
    "apps.list": lambda ids: {},
    "apps.list_page": lambda ids: dict(organization_id=ids.org),
    "apps.get": lambda ids: dict(app_id=ids.app),
    "apps.create": lambda ids: dict(name="Sweep App", organization_id=ids.org),
    "apps.update": lambda ids: dict(app_id=ids.new_app, name="Sweep App 2"),
    "apps.transfer": lambda ids: dict(app_id=ids.new_app, organization_id=ids.new_org),
    "apps.repository.set": lambda ids: dict(app_id=ids.app, git_connection_id=ids.git, path="acme/demo-app"),
    "apps.repository.get": lambda ids: dict(app_id=ids.app),
    "apps.channels.create": lambda ids: dict(app_id=ids.app, name="sweep"),
    "apps.channels.get": lambda ids: dict(app_id=ids.app, channel_id=ids.channel),
    "apps.channels.list": lambda ids: dict(app_id=ids.app),
    "apps.channels.list_page": lambda ids: dict(app_id=ids.app, name="sweep"),
    "apps.channels.update": lambda ids: dict(app_id=ids.app, channel_id=ids.channel, name="sweep-2"),
    "apps.channels.pause": lambda ids: dict(app_id=ids.app, channel_id=ids.channel),
    "apps.channels.resume": lambda ids: dict(app_id=ids.app, channel_id=ids.channel),
    "apps.certificates.create": lambda ids: dict(
        app_id=ids.app,
        name="sweep-keystore",
        file=b"\xfe\xed\xfe\xed keystore bytes",
        file_name="release.keystore",
        platform="android",
        type="production",
        password="store-pass",
        key_alias="release",
        key_password="key-pass",
    ),
    "apps.certificates.get": lambda ids: dict(app_id=ids.app, certificate_id=ids.certificate),
    "apps.certificates.list": lambda ids: dict(app_id=ids.app),
    "apps.certificates.list_page": lambda ids: dict(app_id=ids.app, platform="android"),
    "apps.certificates.update": lambda ids: dict(app_id=ids.app, certificate_id=ids.certificate, name="sweep-2"),
    "apps.environments.create": lambda ids: dict(app_id=ids.app, name="sweep"),
    "apps.environments.get": lambda ids: dict(app_id=ids.app, environment_id=ids.environment),
    "apps.environments.list": lambda ids: dict(app_id=ids.app),
    "apps.environments.list_page": lambda ids: dict(app_id=ids.app, name="sweep"),
    "apps.environments.update": lambda ids: dict(app_id=ids.app, environment_id=ids.environment, name="sweep-2"),
    "apps.environments.variables.create": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, key="API_URL", value="https://api.example.com"
    ),
    "apps.environments.variables.list": lambda ids: dict(app_id=ids.app, environment_id=ids.environment),
    "apps.environments.variables.update": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, variable_id=ids.variable, value="https://api2.example.com"
    ),
    "apps.environments.secrets.create": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, key="API_TOKEN", value="s3cret"
    ),
    "apps.environments.secrets.list": lambda ids: dict(app_id=ids.app, environment_id=ids.environment),
    "apps.environments.secrets.update": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, secret_id=ids.secret, value="s3cret-2"
    ),
    "apps.configurations.create": lambda ids: dict(app_id=ids.app, name="sweep", display_name="Sweep"),
    "apps.configurations.get": lambda ids: dict(app_id=ids.app, configuration_id=ids.configuration),
    "apps.configurations.list": lambda ids: dict(app_id=ids.app),
    "apps.configurations.list_page": lambda ids: dict(app_id=ids.app, name="sweep"),
    "apps.configurations.update": lambda ids: dict(
        app_id=ids.app, configuration_id=ids.configuration, display_name="Sweep 2"
    ),
    "apps.destinations.create": lambda ids: dict(
        app_id=ids.app,
        name="sweep-play",
        type="google-play",
        platform="android",
        android_package_name="com.example.app",
    ),
    "apps.destinations.get": lambda ids: dict(app_id=ids.app, destination_id=ids.destination),
    "apps.destinations.list": lambda ids: dict(app_id=ids.app),
    "apps.destinations.list_page": lambda ids: dict(app_id=ids.app, platform="android"),
    "apps.destinations.update": lambda ids: dict(app_id=ids.app, destination_id=ids.destination, name="sweep-play-2"),
    "apps.automations.create": lambda ids: dict(
        app_id=ids.app, name="Release on main", trigger_type="branch", trigger_pattern="main", platform="web"
    ),
    "apps.automations.get": lambda ids: dict(app_id=ids.app, automation_id=ids.automation),
    "apps.automations.list": lambda ids: dict(app_id=ids.app),
    "apps.automations.list_page": lambda ids: dict(app_id=ids.app, platform="web"),
    "apps.automations.update": lambda ids: dict(app_id=ids.app, automation_id=ids.automation, name="Release"),
    "apps.webhooks.create": lambda ids: dict(
        app_id=ids.app, name="CI", url="https://hooks.example.com/ci", events=["app_build_created"], format="raw"
    ),
    "apps.webhooks.get": lambda ids: dict(app_id=ids.app, webhook_id=ids.webhook),
    "apps.webhooks.list": lambda ids: dict(app_id=ids.app),
    "apps.webhooks.list_page": lambda ids: dict(app_id=ids.app, limit=5),
    "apps.webhooks.update": lambda ids: dict(app_id=ids.app, webhook_id=ids.webhook, enabled=False),
    "apps.build_sources.create": lambda ids: dict(app_id=ids.app, file_url=ids.source_url),
    "apps.build_sources.download": lambda ids: dict(app_id=ids.app, build_source_id=ids.uploaded_source),
    # -- builds, their artifacts, jobs and deployments
    "apps.builds.create": lambda ids: dict(
        app_id=ids.app, platform="web", git_ref="main", ad_hoc_environment_variables=INSTANT
    ),
    "jobs.wait": lambda ids: dict(job_id=ids.job, poll_interval=0.02, timeout=30),
    "jobs.get": lambda ids: dict(job_id=ids.job, relations="jobLogs"),
    "jobs.logs": lambda ids: dict(job_id=ids.job),
    "jobs.list": lambda ids: dict(organization_id=ids.org),
    "jobs.list_page": lambda ids: dict(organization_id=ids.org, status="succeeded"),
    "jobs.get_failure_summary": lambda ids: dict(job_id=ids.failed_job),
    "jobs.cancel": lambda ids: dict(job_id=ids.endless_job),
    "apps.builds.get": lambda ids: dict(app_id=ids.app, build_id=ids.build, relations="appBuildArtifacts,job"),
    "apps.builds.list": lambda ids: dict(app_id=ids.app, platform="web"),
    "apps.builds.list_page": lambda ids: dict(app_id=ids.app, limit=2),
    "apps.builds.update": lambda ids: dict(app_id=ids.app, build_id=ids.build, display_name="Sweep build"),
    "apps.builds.artifacts.list": lambda ids: dict(app_id=ids.app, build_id=ids.build),
    "apps.builds.artifacts.list_page": lambda ids: dict(app_id=ids.app, build_id=ids.build),
    "apps.builds.artifacts.download": lambda ids: dict(app_id=ids.app, build_id=ids.build, artifact_id=ids.artifact),
    "apps.builds.artifacts.get_download_url": lambda ids: dict(
        app_id=ids.app, build_id=ids.build, artifact_id=ids.artifact, file_name="web.zip"
    ),
    "apps.deployments.create": lambda ids: dict(
        app_id=ids.app, app_build_id=ids.build, app_channel_id=ids.channel, rollout_percentage=0.5
    ),
    "apps.deployments.get": lambda ids: dict(app_id=ids.app, deployment_id=ids.deployment),
    "apps.deployments.list": lambda ids: dict(app_id=ids.app, app_build_id=ids.build),
    "apps.deployments.list_page": lambda ids: dict(app_id=ids.app, app_channel_id=ids.channel),
    "apps.deployments.update": lambda ids: dict(app_id=ids.app, deployment_id=ids.deployment, rollout_percentage=1),
    "apps.devices.list": lambda ids: dict(app_id=ids.app),
    "apps.devices.list_page": lambda ids: dict(app_id=ids.app, limit=10),
    "apps.devices.get": lambda ids: dict(app_id=ids.app, device_id=ids.device),
    "apps.devices.update": lambda ids: dict(app_id=ids.app, device_id=ids.device, forced_app_channel_id=ids.channel),
    # -- deletes, the dependants first
    "apps.devices.delete": lambda ids: dict(app_id=ids.app, device_id=ids.device),
    "apps.webhooks.delete": lambda ids: dict(app_id=ids.app, webhook_id=ids.webhook),
    "apps.automations.delete": lambda ids: dict(app_id=ids.app, automation_id=ids.automation),
    "apps.destinations.delete": lambda ids: dict(app_id=ids.app, destination_id=ids.destination),
    "apps.configurations.delete": lambda ids: dict(app_id=ids.app, configuration_id=ids.configuration),
    "apps.environments.secrets.delete": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, secret_id=ids.secret
    ),
    "apps.environments.variables.delete": lambda ids: dict(
        app_id=ids.app, environment_id=ids.environment, variable_id=ids.variable
    ),
    "apps.environments.delete": lambda ids: dict(app_id=ids.app, environment_id=ids.environment),
    "apps.certificates.delete": lambda ids: dict(app_id=ids.app, certificate_id=ids.certificate),
    "apps.channels.delete": lambda ids: dict(app_id=ids.app, channel_id=ids.channel),
    "apps.repository.delete": lambda ids: dict(app_id=ids.app),
    "apps.delete": lambda ids: dict(app_id=ids.new_app),
    "organizations.teams.members.delete": lambda ids: dict(
        organization_id=ids.org, team_id=ids.team, team_member_id=ids.team_member
    ),
    "organizations.teams.apps.delete": lambda ids: dict(
        organization_id=ids.org, team_id=ids.team, team_app_id=ids.team_app
    ),
    "organizations.teams.delete": lambda ids: dict(organization_id=ids.org, team_id=ids.team),
    "organizations.invitations.delete": lambda ids: dict(organization_id=ids.org, invitation_id=ids.invitation),
    "organizations.license_keys.delete": lambda ids: dict(organization_id=ids.org, license_key_id=ids.license_key),
    "organizations.git_connections.delete": lambda ids: dict(organization_id=ids.org, git_connection_id=ids.git),
    "organizations.members.delete": lambda ids: dict(organization_id=ids.org, member_id=ids.member),
}

# Method → the id its result provides to later calls (a list provides that of its last item).
KEEPS = {
    "organizations.create": "new_org",
    "organizations.members.list_page": "member",  # listed with role="member": not the sandbox user (the owner)
    "organizations.invitations.create": "invitation",
    "organizations.teams.create": "team",
    "organizations.teams.apps.create": "team_app",
    "organizations.teams.members.create": "team_member",
    "organizations.license_keys.create": "license_key",
    "organizations.git_connections.create": "git",
    "apps.create": "new_app",
    "apps.channels.create": "channel",
    "apps.certificates.create": "certificate",
    "apps.environments.create": "environment",
    "apps.environments.variables.create": "variable",
    "apps.environments.secrets.create": "secret",
    "apps.configurations.create": "configuration",
    "apps.destinations.create": "destination",
    "apps.automations.create": "automation",
    "apps.webhooks.create": "webhook",
    "apps.builds.create": "build",
    "apps.builds.artifacts.list_page": "artifact",
    "apps.deployments.create": "deployment",
    "apps.devices.list_page": "device",
}

# The methods the sandbox cannot answer yet. Shrinks to nothing; the sweep fails when one starts to work.
NOT_YET_SERVED: set[str] = set()


def sdk_methods(client: CapawesomeCloud) -> dict[str, Callable[..., Any]]:
    """Every public method of every resource the client holds, by dotted path."""
    found: dict[str, Callable[..., Any]] = {}

    def walk(resource: object, prefix: str) -> None:
        for name, _ in inspect.getmembers(type(resource), inspect.isfunction):
            if not name.startswith("_"):
                found[prefix + name] = getattr(resource, name)
        for name, value in vars(resource).items():
            if not name.startswith("_") and type(value).__module__.startswith("capawesome_cloud.resources"):
                walk(value, f"{prefix}{name}.")

    for name, value in vars(client).items():
        if not name.startswith("_"):
            walk(value, f"{name}.")
    return found


def _walked(result: Any) -> Any:
    """The result, with an iterator (a paginator) walked to its end."""
    if isinstance(result, Iterator):
        return list(result)
    return result


def _id_of(result: Any) -> str:
    item = result[-1] if isinstance(result, list) else result
    identifier = item.id
    assert isinstance(identifier, str) and identifier, f"no id in {result!r}"
    return identifier


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=12, artifact_size=64 * 1024)
    with Sandbox(config) as running:
        yield running


def _prepared_ids(sandbox: Sandbox, http: httpx.Client) -> Ids:
    """The demo data's ids, plus what the SDK cannot make itself: a failed job and one that never
    ends (for the job calls), an uploaded build source (a URL source's download is a redirect) and a
    live-update device (devices appear when they ask for an update)."""
    app = f"/v1/apps/{sandbox.app_id}"
    failing = {**INSTANT, "CAPAWESOME_SANDBOX_OUTCOME": "failed"}
    failed = http.post(
        f"{app}/builds", json={"platform": "web", "adHocEnvironmentVariables": failing}
    ).raise_for_status()
    endless = {"CAPAWESOME_SANDBOX_OUTCOME": "never"}
    never = http.post(
        f"{app}/builds", json={"platform": "web", "adHocEnvironmentVariables": endless}
    ).raise_for_status()
    source = http.post(f"{app}/build-sources", json={"fileSizeInBytes": 5}).raise_for_status().json()["id"]
    upload = f"{app}/build-sources/{source}/upload"
    upload_id = http.post(upload, params={"action": "mpu-create"}, json={}).json()["uploadId"]
    part = http.put(
        upload,
        params={"action": "mpu-uploadpart", "uploadId": upload_id},
        files={"blob": ("source.zip", b"12345"), "partNumber": (None, "1")},
    ).json()
    http.post(
        upload, params={"action": "mpu-complete", "uploadId": upload_id}, json={"parts": [part]}
    ).raise_for_status()
    device = {"platform": "android", "appVersionCode": "1", "appVersionName": "1.0.0", "osVersion": "14"}
    probe = http.get(f"{app}/bundles/latest", params={**device, "pluginVersion": "7.0.0", "deviceId": "sweep-device"})
    assert probe.status_code in (200, 404), probe.text  # 404: no update for it, but the device is known now
    return Ids(
        org=sandbox.state.organization_id,
        app=sandbox.app_id,
        source_url="https://example.com/source.zip",
        uploaded_source=source,
        failed_job=failed.json()["jobId"],
        endless_job=never.json()["jobId"],
    )


def test_the_table_covers_every_sdk_method() -> None:
    with CapawesomeCloud(token="unused", base_url="http://127.0.0.1:9") as client:
        methods = set(sdk_methods(client))
    assert len(methods) > 100  # the walk found the nested resources
    assert methods - set(CALLS) == set(), "SDK methods the sweep does not call: add them to CALLS"
    assert set(CALLS) - methods == set(), "CALLS names methods the SDK does not have"
    assert set(KEEPS) <= set(CALLS) and set(CALLS) >= NOT_YET_SERVED


def test_every_sdk_method_works_against_the_sandbox(sandbox: Sandbox) -> None:
    failures: dict[str, str] = {}
    with (
        CapawesomeCloud(token=sandbox.token, base_url=sandbox.base_url, max_retries=0) as client,
        sandbox_client(sandbox) as http,
    ):
        methods = sdk_methods(client)
        ids = _prepared_ids(sandbox, http)
        for name, arguments in CALLS.items():
            try:
                result = _walked(methods[name](**arguments(ids)))
                if name in KEEPS:
                    setattr(ids, KEEPS[name], _id_of(result))
                if name == "apps.builds.create":
                    ids.job = result.job_id
            except Exception as error:
                failures[name] = f"{type(error).__name__}: {error}"
    unexpected = {name: why for name, why in failures.items() if name not in NOT_YET_SERVED}
    assert not unexpected, "SDK methods that fail against the sandbox:\n" + "\n".join(
        f"  {name}: {why}" for name, why in unexpected.items()
    )
    served = sorted(NOT_YET_SERVED - set(failures))
    assert not served, f"these now work, take them out of NOT_YET_SERVED: {served}"
