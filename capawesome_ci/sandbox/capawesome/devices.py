"""Live-update devices (`/v1/apps/{app}/devices…`): list, read, force onto a channel (or release),
delete; and the probe a device makes (`GET /v1/apps/{app}/bundles/latest`), which records the device
and answers the bundle it would get (404: no update). The probe honours a forced channel, the
rollout of the channel's deployment and the native-version limits set on the deployed build."""

from __future__ import annotations

import hashlib
from typing import Any

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.channels import app_channels
from capawesome_ci.sandbox.capawesome.records import enum_value, optional_string
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso
from capawesome_ci.sandbox.capawesome.validation import find, paginate, string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

PROBE_FIELDS = ("appVersionCode", "appVersionName", "osVersion", "pluginVersion", "deviceId")


def _device(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
    device = state.devices.get(request.params["device"])
    if device is None or device["appId"] != app["id"]:
        raise not_found("App device")
    return device


def list_devices(state: SandboxState, request: Request) -> Response:
    app, query = requested_app(state, request), request.query
    text = query.get("query", "").lower()
    devices = [
        device
        for device in state.devices.values()
        if device["appId"] == app["id"]
        and query.get("id") in (None, device["id"])
        and (text in device["id"].lower() or text in (device["customId"] or "").lower())
    ]
    return Response(body=paginate(devices, request))


def get_device(state: SandboxState, request: Request) -> Response:
    return Response(body=_device(state, request))


def update_device(state: SandboxState, request: Request) -> Response:
    device, body = _device(state, request), request.json()
    unknown = sorted(set(body) - {"forcedAppChannelId"})
    if unknown:
        raise invalid([], "Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in unknown))
    if "forcedAppChannelId" in body:
        channel_id = optional_string(body, "forcedAppChannelId")
        if channel_id is not None:
            find(app_channels(state, device["appId"]), device["appId"], "id", channel_id, "App channel")
        device["forcedAppChannelId"] = channel_id
        device["updatedAt"] = iso()
    return Response(body=device)


def delete_device(state: SandboxState, request: Request) -> Response:
    del state.devices[_device(state, request)["id"]]
    return Response(204)


def _in_rollout(device_id: str, deployment_id: str, rollout: float) -> bool:
    digest = hashlib.sha256(f"{deployment_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rollout


def _fits_native_version(build: dict[str, Any], platform: str, version_code: str) -> bool:
    """The native-version limits of a web build (set with PATCH), compared as integers when both are."""
    suffix = ("Android" if platform == "android" else "Ios") + "AppVersionCode"

    def number(value: str) -> Any:
        return int(value) if value.isdigit() else value

    code = number(version_code)
    for bound, sign in (("min", 1), ("max", -1)):
        limit = build.get(bound + suffix)
        if limit is None or type(number(limit)) is not type(code):
            continue
        if (sign > 0 and code < number(limit)) or (sign < 0 and code > number(limit)):
            return False
    equal = build.get("eq" + suffix)
    return equal is None or number(equal) == code


def probe(state: SandboxState, request: Request) -> Response:
    app, query = requested_app(state, request), request.query
    values = {key: str(string_field(query, key, required=True)) for key in PROBE_FIELDS}
    platform = str(enum_value(query, "platform", ("android", "ios"), required=True))
    stamp = iso()
    device = state.devices.get(values["deviceId"])
    if device is None or device["appId"] != app["id"]:
        device = state.devices[values["deviceId"]] = {
            "id": values["deviceId"],
            "appId": app["id"],
            "forcedAppChannelId": None,
            "createdAt": stamp,
        }
    device.update(
        {key: values[key] for key in PROBE_FIELDS if key != "deviceId"},
        platform=platform,
        customId=query.get("customId"),
        lastSeenAt=stamp,
        updatedAt=stamp,
    )
    channels = app_channels(state, app["id"])
    if device["forcedAppChannelId"] is not None:
        channel = find(channels, app["id"], "id", device["forcedAppChannelId"], "App channel")
    elif query.get("channelName"):
        channel = find(channels, app["id"], "name", query["channelName"], "App channel")
    else:
        raise not_found("App bundle")  # no channel asked for, none forced: no update
    deployment = state.deployments.get(channel["appDeploymentId"] or "")
    if channel["pausedAt"] is not None or deployment is None:
        raise not_found("App bundle")
    build = state.builds[deployment["appBuildId"]]
    artifacts = [
        artifact
        for artifact in state.artifacts.values()
        if artifact["appBuildId"] == build["id"] and artifact["type"] in ("zip", "manifest")
    ]
    if (
        not artifacts
        or not _in_rollout(device["id"], deployment["id"], deployment["rolloutPercentage"])
        or not _fits_native_version(build, platform, values["appVersionCode"])
        or query.get("bundleId") == artifacts[0]["id"]  # it already runs this bundle
    ):
        raise not_found("App bundle")
    artifact = artifacts[0]
    base = f"http://{request.headers.get('host', '127.0.0.1')}/v1/apps/{app['id']}/builds/{build['id']}"
    return Response(
        body={
            "bundleId": artifact["id"],
            "artifactType": artifact["type"],
            "checksum": artifact.get("checksum"),
            "signature": artifact.get("signature"),
            "customProperties": build.get("customProperties"),
            "url": f"{base}/artifacts/{artifact['id']}/download",
        }
    )
