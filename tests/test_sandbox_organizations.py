"""The sandbox answers the official SDK's organization-level and app-administration methods:
organizations, members, invitations, teams (their apps and members), git connections, license
keys, users, app create/update/delete/transfer, the app repository link, webhooks and
automations. Each is called through the real SDK client; validation errors and unknown ids come
back in the API's shapes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from capawesome_cloud import CapawesomeCloud
from capawesome_cloud.exceptions import CapawesomeCloudError

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from tests.conftest import sandbox_client


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queue_seconds=0.05, run_seconds=0.3, log_lines=10)) as running:
        yield running


@pytest.fixture
def client(sb: Sandbox) -> Iterator[CapawesomeCloud]:
    with CapawesomeCloud(token=sb.token, base_url=sb.base_url, max_retries=0) as cloud:
        yield cloud


def error(call: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(CapawesomeCloudError) as failure:
        call()
    return failure.value.status or 0, failure.value.message


def test_users_and_organizations(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id = sb.state.organization_id
    assert client.users.me().email == "sandbox@example.com"
    assert [o.id for o in client.organizations.list()] == [org_id]
    assert client.organizations.get(org_id).slug == "demo-organization"
    created = client.organizations.create(name="Acme Mobile", trial_code="TRIAL")
    assert (created.name, created.slug) == ("Acme Mobile", "acme-mobile")
    assert {o.id for o in client.organizations.list()} == {org_id, created.id}
    updated = client.organizations.update(
        created.id or "",
        name="Acme",
        country_allowlist=["DE", "US"],
        ip_allowlist=["10.0.0.0/8"],
        two_factor_required=True,
    )
    assert updated.name == "Acme"
    assert updated.model_extra == {
        "countryAllowlist": ["DE", "US"],
        "ipAllowlist": ["10.0.0.0/8"],
        "twoFactorRequired": True,
    }
    cleared = client.organizations.update(created.id or "", country_allowlist=None)
    assert cleared.model_extra and cleared.model_extra["countryAllowlist"] is None
    assert error(lambda: client.organizations.get("missing")) == (404, "Organization not found.")
    assert error(lambda: client.organizations.update(org_id, ip_allowlist=["not-an-ip"])) == (
        400,
        "ipAllowlist.0: Invalid IP address or CIDR range",
    )


def test_members_and_invitations(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id = sb.state.organization_id
    members = list(client.organizations.members.list(org_id))
    assert [(m.role, m.user and m.user.email) for m in members] == [
        ("owner", "sandbox@example.com"),
        ("member", "teammate@example.com"),
    ]
    teammate = members[1]
    assert [m.id for m in client.organizations.members.list_page(org_id, role="member")] == [teammate.id]
    assert [m.id for m in client.organizations.members.list_page(org_id, query="TEAMMATE", limit=1)] == [teammate.id]
    assert client.organizations.members.list_page(org_id, id=members[0].id)[0].role == "owner"
    assert error(lambda: client.organizations.members.delete(org_id, members[0].id or "")) == (
        400,
        "The owner of an organization cannot be removed.",
    )
    client.organizations.members.delete(org_id, teammate.id or "")
    assert len(client.organizations.members.list_page(org_id)) == 1
    assert error(lambda: client.organizations.members.delete(org_id, teammate.id or "")) == (
        404,
        "Organization member not found.",
    )

    invitation = client.organizations.invitations.create(org_id, email="New@Example.com", role="admin")
    assert (invitation.email, invitation.role, invitation.status) == ("new@example.com", "admin", "pending")
    assert invitation.expires_at is not None and invitation.organization_id == org_id
    assert [i.id for i in client.organizations.invitations.list(org_id, role="admin")] == [invitation.id]
    assert client.organizations.invitations.list_page(org_id, query="nobody") == []
    assert error(lambda: client.organizations.invitations.create(org_id, email="new@example.com", role="admin")) == (
        400,
        "email: The user has already been invited.",
    )
    assert error(lambda: client.organizations.invitations.create(org_id, email="x", role="admin")) == (
        400,
        "email: Invalid email",
    )
    assert error(lambda: client.organizations.invitations.create(org_id, email="a@b.io", role="owner")) == (
        400,
        "role: Invalid enum value. Expected 'admin' | 'billing' | 'member' | 'viewer'",
    )
    client.organizations.invitations.delete(org_id, invitation.id or "")
    assert client.organizations.invitations.list_page(org_id) == []
    assert error(lambda: client.organizations.invitations.delete(org_id, "missing")) == (
        404,
        "Organization invitation not found.",
    )


def test_teams_with_their_apps_and_members(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id, teams = sb.state.organization_id, client.organizations.teams
    team = teams.create(org_id, name="Mobile", description="The app team")
    assert (team.name, team.description, team.organization_id) == ("Mobile", "The app team", org_id)
    assert [t.id for t in teams.list(org_id, name="Mobile")] == [team.id]
    assert teams.list_page(org_id, query="web") == []
    teams.update(org_id, team.id or "", name="Mobile Devs", description=None)
    assert (teams.get(org_id, team.id or "").name, teams.get(org_id, team.id or "").description) == (
        "Mobile Devs",
        None,
    )

    team_app = teams.apps.create(org_id, team.id or "", app_id=sb.app_id)
    assert (team_app.team_id, team_app.app_id) == (team.id, sb.app_id)
    listed = teams.apps.list_page(org_id, team.id or "", relations="app")
    assert [a.id for a in listed] == [team_app.id]
    assert listed[0].model_extra and listed[0].model_extra["app"]["name"] == "Demo App"
    assert error(lambda: teams.apps.create(org_id, team.id or "", app_id=sb.app_id)) == (
        400,
        "appId: The app is already assigned to the team.",
    )
    assert error(lambda: teams.apps.create(org_id, team.id or "", app_id="missing")) == (404, "App not found.")

    member = client.organizations.members.list_page(org_id, role="member")[0]
    team_member = teams.members.create(org_id, team.id or "", member_id=member.id or "")
    assert (team_member.team_id, team_member.member_id) == (team.id, member.id)
    assert [m.id for m in teams.members.list(org_id, team.id or "")] == [team_member.id]
    full = teams.get(org_id, team.id or "", relations="apps,members")
    assert full.model_extra is not None
    assert [a["id"] for a in full.model_extra["apps"]] == [team_app.id]
    assert [m["id"] for m in full.model_extra["members"]] == [team_member.id]

    teams.apps.delete(org_id, team.id or "", team_app.id or "")
    teams.members.delete(org_id, team.id or "", team_member.id or "")
    assert teams.apps.list_page(org_id, team.id or "") == [] and list(teams.members.list(org_id, team.id or "")) == []
    assert error(lambda: teams.members.delete(org_id, team.id or "", team_member.id or "")) == (
        404,
        "Team member not found.",
    )
    assert error(lambda: teams.create(org_id, name="Mobile Devs")) == (400, "name: Team name already exists.")
    teams.delete(org_id, team.id or "")
    assert error(lambda: teams.get(org_id, team.id or "")) == (404, "Team not found.")


def test_git_connections_and_the_repository_link(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id, connections = sb.state.organization_id, client.organizations.git_connections
    github = connections.create(org_id, provider="github", auth_kind="token", name="GitHub", token="ghp_x")
    assert (github.provider, github.auth_kind, github.base_url) == ("github", "token", None)
    assert github.model_extra is not None and "token" not in github.model_extra
    gitea = connections.create(
        org_id, provider="gitea", auth_kind="basic", base_url="https://git.example.org", username="u", password="p"
    )
    assert gitea.name == "gitea"
    assert [c.id for c in connections.list(org_id, provider="github")] == [github.id]
    assert [c.id for c in connections.list_page(org_id, query="git", limit=1, offset=1)] == [gitea.id]
    assert connections.get(org_id, github.id or "").name == "GitHub"
    renamed = connections.update(org_id, github.id or "", name="GitHub (CI)", auth_kind="token", token="ghp_y")
    assert renamed.name == "GitHub (CI)"
    namespaces = connections.list_namespaces(org_id, github.id or "")
    assert [(n.slug, n.kind) for n in namespaces] == [("sandbox-user", "user"), ("capawesome-sandbox", "organization")]
    repositories = connections.list_repositories(org_id, github.id or "", namespace="capawesome-sandbox")
    assert [(r.path, r.web_url, r.default_branch) for r in repositories] == [
        ("capawesome-sandbox/demo-app", "https://github.com/capawesome-sandbox/demo-app", "main")
    ]
    assert connections.list_repositories(org_id, github.id or "", query="nothing") == []
    assert error(lambda: connections.create(org_id, provider="github", auth_kind="basic", username="u")) == (
        400,
        "password: Required",
    )
    assert error(lambda: connections.create(org_id, provider="svn", auth_kind="token", token="t")) == (
        400,
        "provider: Invalid enum value. Expected 'azure_devops' | 'bitbucket' | 'gitea' | 'git_http' | 'github'"
        " | 'gitlab'",
    )

    repository = client.apps.repository
    assert error(lambda: repository.get(sb.app_id)) == (404, "App git repository not found.")
    app = repository.set(sb.app_id, git_connection_id=github.id or "", path="capawesome-sandbox/demo-app")
    assert app.id == sb.app_id
    linked = repository.get(sb.app_id)
    assert (linked.name, linked.provider, linked.git_connection_id, linked.app_id) == (
        "demo-app",
        "github",
        github.id,
        sb.app_id,
    )
    assert linked.web_url == "https://github.com/capawesome-sandbox/demo-app"
    assert error(lambda: repository.set(sb.app_id, git_connection_id="missing", path="a/b")) == (
        404,
        "Git connection not found.",
    )
    repository.delete(sb.app_id)
    assert error(lambda: repository.get(sb.app_id)) == (404, "App git repository not found.")
    connections.delete(org_id, gitea.id or "")
    assert error(lambda: connections.get(org_id, gitea.id or "")) == (404, "Git connection not found.")


def test_license_keys(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id, keys = sb.state.organization_id, client.organizations.license_keys
    key = keys.create(org_id, name="CI", package_ids=["pkg-a"])
    assert key.name == "CI" and (key.key or "").startswith("cik_") and key.organization_id == org_id
    assert [k.id for k in keys.list(org_id)] == [key.id]
    with_packages = keys.get(org_id, key.id or "", relations="licenseKeyPackages,licenseKeyPackages.package")
    assert with_packages.model_extra is not None
    assert [p["packageId"] for p in with_packages.model_extra["licenseKeyPackages"]] == ["pkg-a"]
    updated = keys.update(org_id, key.id or "", name="CI runners", package_ids=["pkg-b", "pkg-c"])
    assert updated.name == "CI runners"
    listed = keys.list(org_id, relations="licenseKeyPackages")
    assert listed[0].model_extra is not None
    assert [p["packageId"] for p in listed[0].model_extra["licenseKeyPackages"]] == ["pkg-b", "pkg-c"]
    rotated = keys.rotate(org_id, key.id or "")
    assert rotated.key != key.key and keys.get(org_id, key.id or "").key == rotated.key
    assert error(lambda: keys.create(org_id, name="")) == (400, "name: String must contain at least 1 character(s)")
    keys.delete(org_id, key.id or "")
    assert error(lambda: keys.get(org_id, key.id or "")) == (404, "License key not found.")


def test_apps_create_update_transfer_delete(sb: Sandbox, client: CapawesomeCloud) -> None:
    org_id = sb.state.organization_id
    app = client.apps.create(name="Second App", type="ios", organization_id=org_id)
    assert (app.name, app.type) == ("Second App", "ios")
    assert app.model_extra is not None and app.model_extra["organizationId"] == org_id
    assert {a.id for a in client.apps.list(organization_id=org_id)} == {sb.app_id, app.id}
    production = client.apps.channels.list_page(sb.app_id, name="production")[0]
    updated = client.apps.update(
        sb.app_id,
        name="Demo App 2",
        type="capacitor",
        app_channel_id=production.id,
        build_stack="macos-sequoia",
        app_channel_discovery_enabled=True,
        next_app_build_number=42,
    )
    assert (updated.name, updated.build_stack) == ("Demo App 2", "macos-sequoia")
    assert updated.model_extra is not None and updated.model_extra["appChannelId"] == production.id
    build = client.apps.builds.create(sb.app_id, platform="web")
    assert build.number_as_string == "42"
    assert error(lambda: client.apps.update(sb.app_id, app_channel_id="missing")) == (404, "App channel not found.")
    assert error(lambda: client.apps.update(sb.app_id, type="flutter")) == (
        400,
        "type: Invalid enum value. Expected 'android' | 'capacitor' | 'cordova' | 'ios'",
    )

    other = client.organizations.create(name="Other Org")
    client.apps.transfer(app.id or "", organization_id=other.id or "")
    assert [a.id for a in client.apps.list(organization_id=other.id)] == [app.id]
    assert error(lambda: client.apps.transfer(app.id or "", organization_id="missing")) == (
        404,
        "Organization not found.",
    )
    client.apps.delete(app.id or "")
    assert error(lambda: client.apps.get(app.id or "")) == (404, "App not found.")
    assert error(lambda: client.apps.delete(app.id or "")) == (404, "App not found.")
    assert error(lambda: client.apps.create(name="X", organization_id="missing")) == (404, "Organization not found.")


def test_webhooks(sb: Sandbox, client: CapawesomeCloud) -> None:
    webhooks = client.apps.webhooks
    hook = webhooks.create(
        sb.app_id,
        name="Slack",
        url="https://hooks.example.com/x",
        events=["job_finished"],
        format="slack",
        signing_secret="s",
    )
    assert (hook.name, hook.events, hook.format, hook.enabled, hook.app_id) == (
        "Slack",
        ["job_finished"],
        "slack",
        True,
        sb.app_id,
    )
    assert [w.id for w in webhooks.list(sb.app_id, query="sla")] == [hook.id]
    assert webhooks.list_page(sb.app_id, query="discord") == []
    assert webhooks.get(sb.app_id, hook.id or "").url == "https://hooks.example.com/x"
    updated = webhooks.update(
        sb.app_id, hook.id or "", enabled=False, events=["app_build_created", "job_created"], signing_secret=None
    )
    assert (updated.enabled, updated.events) == (False, ["app_build_created", "job_created"])
    assert error(lambda: webhooks.create(sb.app_id, name="x", url="ftp://x", events=["job_finished"])) == (
        400,
        "url: Invalid url",
    )
    assert error(lambda: webhooks.create(sb.app_id, name="x", url="https://x.io", events=["build"])) == (
        400,
        "events.0: Invalid enum value. Expected 'app_build_created' | 'app_deployment_created' | 'job_created'"
        " | 'job_finished'",
    )
    webhooks.delete(sb.app_id, hook.id or "")
    assert error(lambda: webhooks.get(sb.app_id, hook.id or "")) == (404, "App webhook not found.")


def test_automations(sb: Sandbox, client: CapawesomeCloud) -> None:
    automations = client.apps.automations
    channels = {c.name: c.id for c in client.apps.channels.list(sb.app_id)}
    automation = automations.create(
        sb.app_id,
        name="Deploy main",
        trigger_type="branch",
        platform="web",
        trigger_pattern="main",
        app_channel_names=["production", "beta"],
        app_environment_name="production",
    )
    assert (automation.name, automation.trigger_type, automation.platform, automation.enabled) == (
        "Deploy main",
        "branch",
        "web",
        True,
    )
    assert automation.app_channel_ids == [channels["production"], channels["beta"]]
    assert automation.model_extra is not None and automation.model_extra["appEnvironmentId"] is not None
    assert [a.id for a in automations.list(sb.app_id, platform="web")] == [automation.id]
    assert automations.list_page(sb.app_id, name="other") == []
    assert automations.get(sb.app_id, automation.id or "", relations="appChannels").name == "Deploy main"
    updated = automations.update(sb.app_id, automation.id or "", enabled=False, app_channel_ids=[])
    assert (updated.enabled, updated.app_channel_ids) == (False, [])
    ios = automations.create(
        sb.app_id,
        name="iOS tags",
        trigger_type="tag",
        platform="ios",
        build_type="app-store",
        app_certificate_name="ios-app-store",
    )
    assert ios.model_extra is not None and ios.model_extra["buildType"] == "app-store"
    assert error(lambda: automations.create(sb.app_id, name="x", trigger_type="push", platform="web")) == (
        400,
        "triggerType: Invalid enum value. Expected 'branch' | 'tag'",
    )
    assert error(lambda: automations.create(sb.app_id, name="x", trigger_type="tag")) == (400, "platform: Required")
    assert error(
        lambda: automations.create(sb.app_id, name="x", trigger_type="tag", platform="web", app_channel_names=["nope"])
    ) == (404, "App channel not found.")
    automations.delete(sb.app_id, automation.id or "")
    assert error(lambda: automations.get(sb.app_id, automation.id or "")) == (404, "App automation not found.")


def test_raw_bodies_and_statuses(sb: Sandbox) -> None:
    """What the SDK hides: 201 on create, 204 on delete, the zod-shaped 400 body, 405 with Allow."""
    org = f"/v1/organizations/{sb.state.organization_id}"
    with sandbox_client(sb) as http:
        missing = http.post("/v1/organizations", json={})
        assert (missing.status_code, missing.json()) == (
            400,
            {"error": {"issues": [{"path": ["name"], "message": "Required"}]}},
        )
        created = http.post(f"{org}/teams", json={"name": "QA"})
        assert created.status_code == 201
        assert http.delete(f"{org}/teams/{created.json()['id']}").status_code == 204
        assert http.get("/v1/organizations/missing/teams").json() == {"message": "Organization not found."}
        wrong = http.put(f"{org}/members")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")
        assert http.post(f"/v1/apps/{sb.app_id}/transfer", json={}).json() == {
            "error": {"issues": [{"path": ["organizationId"], "message": "Required"}]}
        }
    with httpx.Client(base_url=sb.base_url) as anon:
        assert anon.get("/v1/organizations").status_code == 401
