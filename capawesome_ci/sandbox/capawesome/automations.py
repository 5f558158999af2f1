"""App automations (`/v1/apps/{app}/automations…`): builds triggered by a branch or tag push.
Create, list (by name, platform, free text), read, update, delete. Certificates, configurations,
destinations, environments and channels are referenced by id or by name (ids win); web builds are
deployed to `appChannelIds` (the single `appChannelId`/`appChannelName` are the deprecated forms)."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import (
    bool_field,
    enum_field,
    name_field,
    nullable_string,
    string_items,
)
from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.channels import app_channels
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import paginate, string_field
from capawesome_ci.sandbox.server import Request, Response, not_found

PLATFORMS = ("android", "ios", "web")
TRIGGERS = ("branch", "tag")
BUILD_TYPES = ("app-store", "ad-hoc", "debug", "development", "release", "simulator")
STACKS = ("macos-sequoia", "macos-tahoe")
# body prefix → (state attribute, what a 404 names)
REFERENCES = {
    "appCertificate": ("certificates", "App certificate"),
    "appConfiguration": ("configurations", "App configuration"),
    "appDestination": ("destinations", "App destination"),
    "appEnvironment": ("environments", "App environment"),
}


def _automation(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
    automation = state.automations.get(request.params["automation"])
    if automation is None or automation["appId"] != app["id"]:
        raise not_found("App automation")
    return automation


def _lookup(records: Any, app_id: str, key: str, value: str, what: str) -> str:
    items = records.values() if isinstance(records, dict) else records
    for item in items:
        if item["appId"] == app_id and item[key] == value:
            return str(item["id"])
    raise not_found(what)


def _changes(state: SandboxState, app_id: str, body: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The record fields a create or update body sets, checked and with names resolved to ids."""
    changes: dict[str, Any] = {}
    name = name_field(body, required=creating)
    trigger = enum_field(body, "triggerType", TRIGGERS, required=creating)
    platform = enum_field(body, "platform", PLATFORMS, required=creating)
    enabled = bool_field(body, "enabled")
    for key, value in (("name", name), ("triggerType", trigger), ("platform", platform), ("enabled", enabled)):
        if value is not None:
            changes[key] = value
    for key in ("triggerPattern", "commitMessagePattern"):
        if key in body:
            changes[key] = nullable_string(body, key)
    for key, values in (("buildType", BUILD_TYPES), ("buildStack", STACKS)):
        if key in body:
            changes[key] = enum_field(body, key, values, nullable=True)
    for prefix, (attribute, what) in REFERENCES.items():
        by_id, by_name = string_field(body, prefix + "Id"), string_field(body, prefix + "Name")
        records = getattr(state, attribute)
        if by_id:
            changes[prefix + "Id"] = _lookup(records, app_id, "id", by_id, what)
        elif by_name:
            changes[prefix + "Id"] = _lookup(records, app_id, "name", by_name, what)
        elif prefix + "Id" in body or prefix + "Name" in body:
            changes[prefix + "Id"] = None
    channels = app_channels(state, app_id)
    ids = string_items(body, "appChannelIds", nullable=True)
    names = string_items(body, "appChannelNames", nullable=True)
    single_id, single_name = string_field(body, "appChannelId"), string_field(body, "appChannelName")
    if ids is None and single_id:
        ids = [single_id]
    if names is None and single_name:
        names = [single_name]
    if ids is not None:
        changes["appChannelIds"] = [_lookup(channels, app_id, "id", value, "App channel") for value in ids]
    elif names is not None:
        changes["appChannelIds"] = [_lookup(channels, app_id, "name", value, "App channel") for value in names]
    elif any(key in body for key in ("appChannelIds", "appChannelNames", "appChannelId", "appChannelName")):
        changes["appChannelIds"] = []
    if "appChannelIds" in changes:
        changes["appChannelIds"] = list(dict.fromkeys(changes["appChannelIds"]))
    return changes


def create_automation(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    changes = _changes(state, app["id"], body, creating=True)
    stamp = iso()
    automation: dict[str, Any] = {
        "id": new_id(),
        "appId": app["id"],
        "name": None,
        "platform": None,
        "triggerType": None,
        "triggerPattern": None,
        "commitMessagePattern": None,
        "buildType": None,
        "buildStack": None,
        "enabled": True,
        "appCertificateId": None,
        "appConfigurationId": None,
        "appDestinationId": None,
        "appEnvironmentId": None,
        "appChannelIds": [],
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    automation.update(changes)
    state.automations[automation["id"]] = automation
    return Response(201, automation)


def list_automations(state: SandboxState, request: Request) -> Response:
    app, query = requested_app(state, request), request.query
    platform = enum_field(query, "platform", PLATFORMS)
    automations = [
        automation
        for automation in state.automations.values()
        if automation["appId"] == app["id"]
        and query.get("name") in (None, automation["name"])
        and platform in (None, automation["platform"])
        and query.get("query", "").lower() in automation["name"].lower()
    ]
    return Response(body=paginate(automations, request))


def get_automation(state: SandboxState, request: Request) -> Response:
    return Response(body=_automation(state, request))


def update_automation(state: SandboxState, request: Request) -> Response:
    automation, body = _automation(state, request), request.json()
    automation.update(_changes(state, automation["appId"], body, creating=False))
    automation["updatedAt"] = iso()
    return Response(body=automation)


def delete_automation(state: SandboxState, request: Request) -> Response:
    del state.automations[_automation(state, request)["id"]]
    return Response(204)
