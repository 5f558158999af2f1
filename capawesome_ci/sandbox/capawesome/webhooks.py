"""App webhooks (`/v1/apps/{app}/webhooks…`): create (name, URL, events, format, signing secret),
list (free text over the name), read, update (also enable or disable), delete. The signing secret
is checked, never answered back."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from capawesome_ci.sandbox.capawesome.admin_fields import bool_field, enum_field, expected, name_field
from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import paginate, string_field, type_name
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

EVENTS = ("app_build_created", "app_deployment_created", "job_created", "job_finished")
FORMATS = ("raw", "discord", "slack", "teams")


def _webhook(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
    webhook = state.webhooks.get(request.params["webhook"])
    if webhook is None or webhook["appId"] != app["id"]:
        raise not_found("App webhook")
    return webhook


def _fields(body: dict[str, Any], creating: bool) -> None:
    name_field(body, required=creating)
    url = string_field(body, "url", required=creating)
    if url is not None and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc):
        raise invalid(["url"], "Invalid url")
    events = body.get("events")
    if events is None and (creating or "events" in body):
        raise invalid(["events"], "Required")
    if events is not None:
        if not isinstance(events, list):
            raise invalid(["events"], f"Expected array, received {type_name(events)}")
        if not events:
            raise invalid(["events"], "Array must contain at least 1 element(s)")
        for index, event in enumerate(events):
            if event not in EVENTS:
                raise invalid(["events", index], expected(EVENTS))
    enum_field(body, "format", FORMATS)
    bool_field(body, "enabled")
    string_field(body, "signingSecret")


def create_webhook(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    _fields(body, creating=True)
    stamp = iso()
    webhook = {
        "id": new_id(),
        "appId": app["id"],
        "name": body["name"],
        "url": body["url"],
        "events": list(dict.fromkeys(body["events"])),
        "format": body.get("format") or "raw",
        "enabled": True,
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.webhooks[webhook["id"]] = webhook
    return Response(201, webhook)


def list_webhooks(state: SandboxState, request: Request) -> Response:
    app, text = requested_app(state, request), request.query.get("query", "").lower()
    webhooks = [w for w in state.webhooks.values() if w["appId"] == app["id"] and text in w["name"].lower()]
    return Response(body=paginate(webhooks, request))


def get_webhook(state: SandboxState, request: Request) -> Response:
    return Response(body=_webhook(state, request))


def update_webhook(state: SandboxState, request: Request) -> Response:
    webhook, body = _webhook(state, request), request.json()
    _fields(body, creating=False)
    for key in ("name", "url", "format", "enabled"):
        if body.get(key) is not None:
            webhook[key] = body[key]
    if body.get("events") is not None:
        webhook["events"] = list(dict.fromkeys(body["events"]))
    webhook["updatedAt"] = iso()
    return Response(body=webhook)


def delete_webhook(state: SandboxState, request: Request) -> Response:
    del state.webhooks[_webhook(state, request)["id"]]
    return Response(204)
