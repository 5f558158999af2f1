"""Live-update channels (`/v1/apps/{app}/channels…`): list, create, read, update, delete (by id or
name), pause and resume."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso
from capawesome_ci.sandbox.capawesome.validation import Handler, find, paginate, string_field, type_name
from capawesome_ci.sandbox.server import Request, Response, invalid


def app_channels(state: SandboxState, app_id: str) -> list[dict[str, Any]]:
    return [channel for channel in state.channels.values() if channel["appId"] == app_id]


def _channel(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
    return find(app_channels(state, app["id"]), app["id"], "id", request.params["channel"], "App channel")


def _channel_json(state: SandboxState, channel: dict[str, Any], request: Request) -> dict[str, Any]:
    if "appDeployment" not in request.relations():
        return channel
    return {**channel, "appDeployment": state.deployments.get(channel["appDeploymentId"] or "")}


def _channel_fields(state: SandboxState, channel: dict[str, Any] | None, app_id: str, body: dict[str, Any]) -> None:
    """Validate a channel create/update body (the CLI also sends `appId`, which is ignored)."""
    name = string_field(body, "name", required=channel is None)
    if name is not None and any(c["name"] == name and c is not channel for c in app_channels(state, app_id)):
        raise invalid(["name"], "Channel name already exists.")
    if body.get("protected") is not None and not isinstance(body["protected"], bool):
        raise invalid(["protected"], f"Expected boolean, received {type_name(body['protected'])}")
    string_field(body, "expiresAt")


def list_channels(state: SandboxState, request: Request) -> Response:
    query = request.query
    channels = [
        channel
        for channel in app_channels(state, requested_app(state, request)["id"])
        if query.get("name") in (None, channel["name"]) and query.get("query", "").lower() in channel["name"].lower()
    ]
    return Response(body=[_channel_json(state, channel, request) for channel in paginate(channels, request)])


def create_channel(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    _channel_fields(state, None, app["id"], body)
    channel = state.add_channel(app["id"], body["name"], bool(body.get("protected")), body.get("expiresAt"))
    return Response(201, channel)


def get_channel(state: SandboxState, request: Request) -> Response:
    return Response(body=_channel_json(state, _channel(state, request), request))


def update_channel(state: SandboxState, request: Request) -> Response:
    channel, body = _channel(state, request), request.json()
    _channel_fields(state, channel, channel["appId"], body)
    if body.get("name") is not None:
        channel["name"] = body["name"]
    if "protected" in body:
        channel["protectedAt"] = (channel["protectedAt"] or iso()) if body["protected"] else None
    if "expiresAt" in body:
        channel["expiresAt"] = body["expiresAt"]
    channel["updatedAt"] = iso()
    return Response(body=channel)


def delete_channel(state: SandboxState, request: Request) -> Response:
    del state.channels[_channel(state, request)["id"]]
    return Response(204)


def delete_channel_by_name(state: SandboxState, request: Request) -> Response:
    app = requested_app(state, request)
    name = string_field(request.query, "name", required=True)
    del state.channels[find(app_channels(state, app["id"]), app["id"], "name", name or "", "App channel")["id"]]
    return Response(204)


def pause_channel(paused: bool) -> Handler:
    def handler(state: SandboxState, request: Request) -> Response:
        channel = _channel(state, request)
        channel["pausedAt"] = (channel["pausedAt"] or iso()) if paused else None
        return Response(204)

    return handler
