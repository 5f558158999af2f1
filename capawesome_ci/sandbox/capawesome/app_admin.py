"""App administration (`/v1/apps` POST, `/v1/apps/{app}` PATCH and DELETE, `/v1/apps/{app}/transfer`):
create an app in an organization, update it (name, type, default channel and environment, build
stack, channel discovery, the next build number), delete it with what hangs off it, transfer it to
another organization. Reading apps stays in `apps`."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import bool_field, enum_field, int_field, name_field
from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

TYPES = ("android", "capacitor", "cordova", "ios")
STACKS = ("macos-sequoia", "macos-tahoe")


def _organization_id(state: SandboxState, value: str | None) -> str:
    organization_id = value or state.organization_id
    if organization_id not in state.organizations:
        raise not_found("Organization")
    return organization_id


def create_app(state: SandboxState, request: Request) -> Response:
    body = request.json()
    organization_id = _organization_id(state, request.query.get("organizationId"))
    name = name_field(body, required=True)
    app_type = enum_field(body, "type", TYPES) or "capacitor"
    stamp = iso()
    app: dict[str, Any] = {
        "id": new_id(),
        "name": name,
        "type": app_type,
        "organizationId": organization_id,
        "buildStack": "macos-tahoe",
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.apps[app["id"]] = app
    return Response(201, app)


def _reference(items: Any, app_id: str, value: str | None, what: str) -> None:
    """`value` (when set) must be the id of one of the app's channels or environments."""
    records = items.values() if isinstance(items, dict) else items
    if value is not None and not any(item["appId"] == app_id and item["id"] == value for item in records):
        raise not_found(what)


def update_app(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    name = name_field(body, required=False)
    app_type = enum_field(body, "type", TYPES)
    stack = enum_field(body, "buildStack", STACKS, nullable=True)
    discovery = bool_field(body, "appChannelDiscoveryEnabled")
    next_number = int_field(body, "nextAppBuildNumber", 1)
    _reference(state.channels, app["id"], string_field(body, "appChannelId"), "App channel")
    environment_id = string_field(body, "appEnvironmentId")
    _reference(state.environments, app["id"], environment_id, "App environment")
    current = state.build_numbers.get(app["id"], 0)
    if next_number is not None and next_number <= current:
        raise invalid(["nextAppBuildNumber"], f"Number must be greater than {current}")
    changes: dict[str, Any] = {"name": name, "type": app_type, "appChannelDiscoveryEnabled": discovery}
    app.update({key: value for key, value in changes.items() if value is not None})
    for key in ("buildStack", "appChannelId", "appEnvironmentId"):
        if key in body:
            app[key] = stack if key == "buildStack" else body[key]
    if next_number is not None:
        state.build_numbers[app["id"]] = next_number - 1
    app["updatedAt"] = iso()
    return Response(body=app)


def delete_app(state: SandboxState, request: Request) -> Response:
    app = requested_app(state, request)
    del state.apps[app["id"]]
    for records in (state.channels, state.team_apps, state.webhooks, state.automations):
        for record_id in [record_id for record_id, record in records.items() if record["appId"] == app["id"]]:
            del records[record_id]
    state.repositories.pop(app["id"], None)
    return Response(204)


def transfer_app(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    key = (
        "targetOrganizationId" if "targetOrganizationId" in body and "organizationId" not in body else "organizationId"
    )
    target = string_field(body, key, required=True)
    organization_id = _organization_id(state, target)
    if organization_id != app["organizationId"]:
        app["organizationId"] = organization_id
        app["updatedAt"] = iso()
        for record_id in [record_id for record_id, r in state.team_apps.items() if r["appId"] == app["id"]]:
            del state.team_apps[record_id]
    return Response(204)
