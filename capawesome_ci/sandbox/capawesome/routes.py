"""The route table of the Capawesome emulator, and `dispatch`: token check, routing, the API's
error bodies. The handlers live in one module per resource (apps, channels, builds, deployments,
jobs, bundles, build sources, misc); paths, fields and error bodies follow Capawesome Cloud (see
shared/reference/capawesome-cloud-api.md §1–§5)."""

from __future__ import annotations

import re
import traceback

from capawesome_ci.sandbox.capawesome import (
    app_admin,
    apps,
    automations,
    build_sources,
    builds,
    bundles,
    certificates,
    channels,
    configurations,
    deployments,
    destinations,
    devices,
    environments,
    git_connections,
    invitations,
    jobs,
    license_keys,
    members,
    misc,
    organizations,
    repository,
    teams,
    webhooks,
)
from capawesome_ci.sandbox.capawesome.state import SandboxState
from capawesome_ci.sandbox.capawesome.validation import Handler
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

A = r"/v1/apps/(?P<app>[^/]+)"
B = A + r"/builds/(?P<build>[^/]+)"
BU = A + r"/bundles/(?P<bundle>[^/]+)"
BS = A + r"/build-sources/(?P<source>[^/]+)"
OR = r"/v1/organizations/(?P<organization>[^/]+)"
T = OR + r"/teams/(?P<team>[^/]+)"
GC = OR + r"/git-connections/(?P<connection>[^/]+)"
LK = OR + r"/license-keys/(?P<key>[^/]+)"
E = A + r"/environments/(?P<environment>[^/]+)"
_TABLE: list[tuple[str, dict[str, Handler]]] = [
    (r"/v1/users/me", {"GET": misc.get_me}),
    (r"/v1/apps", {"GET": apps.list_apps, "POST": app_admin.create_app}),
    (A, {"GET": apps.get_app, "PATCH": app_admin.update_app, "DELETE": app_admin.delete_app}),
    (
        A + r"/channels",
        {"GET": channels.list_channels, "POST": channels.create_channel, "DELETE": channels.delete_channel_by_name},
    ),
    (
        A + r"/channels/(?P<channel>[^/]+)",
        {"GET": channels.get_channel, "PATCH": channels.update_channel, "DELETE": channels.delete_channel},
    ),
    (A + r"/channels/(?P<channel>[^/]+)/pause", {"POST": channels.pause_channel(True)}),
    (A + r"/channels/(?P<channel>[^/]+)/resume", {"POST": channels.pause_channel(False)}),
    (A + r"/builds", {"GET": builds.list_builds, "POST": builds.create_build}),
    (B, {"GET": builds.get_build, "PATCH": builds.update_build}),
    (B + r"/artifacts", {"GET": builds.list_artifacts}),
    (B + r"/artifacts/(?P<artifact>[^/]+)/download", {"GET": builds.download_artifact}),
    (B + r"/artifacts/(?P<artifact>[^/]+)/signed-download-url", {"GET": builds.signed_download_url}),
    (B + r"/shares", {"GET": builds.list_shares, "POST": builds.create_share}),
    (B + r"/shares/(?P<share>[^/]+)", {"DELETE": builds.delete_share}),
    (A + r"/deployments", {"GET": deployments.list_deployments, "POST": deployments.create_deployment}),
    (
        A + r"/deployments/(?P<deployment>[^/]+)",
        {"GET": deployments.get_deployment, "PATCH": deployments.update_deployment},
    ),
    (A + r"/build-sources", {"POST": build_sources.create_build_source}),
    (BS + r"/download", {"GET": build_sources.download_build_source}),
    (BS + r"/upload", {"POST": build_sources.upload_action, "PUT": build_sources.upload_part}),
    # devices, and their probe (before the bundle routes: `latest` is no bundle id)
    (A + r"/devices", {"GET": devices.list_devices}),
    (
        A + r"/devices/(?P<device>[^/]+)",
        {"GET": devices.get_device, "PATCH": devices.update_device, "DELETE": devices.delete_device},
    ),
    (A + r"/bundles/latest", {"GET": devices.probe}),
    (A + r"/bundles", {"POST": bundles.create_bundle}),
    (BU, {"PATCH": bundles.update_bundle, "DELETE": bundles.delete_bundle}),
    (BU + r"/files", {"POST": bundles.create_file}),
    (BU + r"/files/(?P<file>[^/]+)/upload", {"POST": bundles.upload_action, "PUT": bundles.upload_part}),
    # environments (and their variables, secrets), configurations, destinations, certificates, jobs list
    (A + r"/environments", environments.collection),
    (E, environments.item),
    (E + r"/variables", environments.variables),
    (E + r"/variables/(?P<entry>[^/]+)", environments.variable),
    (E + r"/secrets", environments.secrets),
    (E + r"/secrets/(?P<entry>[^/]+)", environments.secret),
    (A + r"/configurations", configurations.collection),
    (A + r"/configurations/(?P<configuration>[^/]+)", configurations.item),
    (A + r"/destinations", destinations.collection),
    (A + r"/destinations/(?P<destination>[^/]+)", destinations.item),
    (A + r"/certificates", certificates.collection),
    (A + r"/certificates/(?P<certificate>[^/]+)", certificates.item),
    (r"/v1/jobs", {"GET": jobs.list_jobs}),
    (r"/v1/jobs/(?P<job>[^/]+)", {"GET": jobs.get_job, "PATCH": jobs.cancel_job}),
    (r"/v1/jobs/(?P<job>[^/]+)/logs", {"GET": jobs.job_logs}),
    (r"/v1/jobs/(?P<job>[^/]+)/failure-summary", {"POST": jobs.failure_summary}),
    # organizations, their members, invitations, teams, git connections, license keys; app admin,
    # repository link, webhooks, automations (organizations.py, members.py, … automations.py)
    (r"/v1/organizations", {"GET": organizations.list_organizations, "POST": organizations.create_organization}),
    (OR, {"GET": organizations.get_organization, "PATCH": organizations.update_organization}),
    (OR + r"/members", {"GET": members.list_members}),
    (OR + r"/members/(?P<member>[^/]+)", {"DELETE": members.delete_member}),
    (OR + r"/invitations", {"GET": invitations.list_invitations, "POST": invitations.create_invitation}),
    (OR + r"/invitations/(?P<invitation>[^/]+)", {"DELETE": invitations.delete_invitation}),
    (OR + r"/teams", {"GET": teams.list_teams, "POST": teams.create_team}),
    (T, {"GET": teams.get_team, "PATCH": teams.update_team, "DELETE": teams.delete_team}),
    (T + r"/apps", {"GET": teams.list_team_apps, "POST": teams.create_team_app}),
    (T + r"/apps/(?P<item>[^/]+)", {"DELETE": teams.delete_team_app}),
    (T + r"/members", {"GET": teams.list_team_members, "POST": teams.create_team_member}),
    (T + r"/members/(?P<item>[^/]+)", {"DELETE": teams.delete_team_member}),
    (OR + r"/git-connections", {"GET": git_connections.list_connections, "POST": git_connections.create_connection}),
    (
        GC,
        {
            "GET": git_connections.get_connection,
            "PATCH": git_connections.update_connection,
            "DELETE": git_connections.delete_connection,
        },
    ),
    (GC + r"/repositories", {"GET": git_connections.list_repositories}),
    (GC + r"/namespaces", {"GET": git_connections.list_namespaces}),
    (OR + r"/license-keys", {"GET": license_keys.list_keys, "POST": license_keys.create_key}),
    (LK, {"GET": license_keys.get_key, "PATCH": license_keys.update_key, "DELETE": license_keys.delete_key}),
    (LK + r"/rotate", {"POST": license_keys.rotate_key}),
    (A + r"/transfer", {"POST": app_admin.transfer_app}),
    (
        A + r"/repository",
        {"GET": repository.get_repository, "PUT": repository.set_repository, "DELETE": repository.delete_repository},
    ),
    (A + r"/webhooks", {"GET": webhooks.list_webhooks, "POST": webhooks.create_webhook}),
    (
        A + r"/webhooks/(?P<webhook>[^/]+)",
        {"GET": webhooks.get_webhook, "PATCH": webhooks.update_webhook, "DELETE": webhooks.delete_webhook},
    ),
    (A + r"/automations", {"GET": automations.list_automations, "POST": automations.create_automation}),
    (
        A + r"/automations/(?P<automation>[^/]+)",
        {
            "GET": automations.get_automation,
            "PATCH": automations.update_automation,
            "DELETE": automations.delete_automation,
        },
    ),
    (r"/v1/qrcodes", {"GET": misc.qr_code}),
    (r"/signed/(?P<capability>[^/]+)/[^/]+", {"GET": builds.signed_download}),
    (r"/console(?:/.*)?", {"GET": misc.console_page}),
]
ROUTES = [(re.compile(pattern), handlers) for pattern, handlers in _TABLE]
PUBLIC_V1 = ("/v1/qrcodes",)  # the QR code image is embedded in pages, so it takes no token


def _route(state: SandboxState, request: Request) -> Response:
    path = request.path.rstrip("/") or "/"
    authorized = request.headers.get("authorization") == f"Bearer {state.token}"
    if path.startswith("/v1/") and path not in PUBLIC_V1 and not authorized:
        raise ApiFailure(401, {"message": "Unauthorized."})
    for pattern, handlers in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            raise ApiFailure(405, {"message": "Method not allowed."}, {"Allow": ", ".join(handlers)})
        request.params = match.groupdict()
        with state.lock:
            state.settle()
            return handler(state, request).encode()  # serialized now: the dicts it holds are shared, mutable state
    raise ApiFailure(404, {"message": "Not found."})


def dispatch(state: SandboxState, request: Request) -> Response:
    """Answer one request, errors included, in the API's shapes (the emulator records it in
    `state.requests`)."""
    try:
        response = _route(state, request)
    except ApiFailure as failure:
        response = Response(failure.status, failure.body, failure.headers).encode()
    except Exception:  # a sandbox bug: say so on stderr and answer like a server would
        traceback.print_exc()
        response = Response(500, {"message": "Internal server error."}).encode()
    return response
