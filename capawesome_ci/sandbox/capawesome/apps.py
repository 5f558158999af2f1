"""Apps (`/v1/apps`, `/v1/apps/{app}`) and their read-only seeds listed by name: certificates,
environments, configurations, destinations. `requested_app` resolves the `{app}` of every app route."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.state import SandboxState
from capawesome_ci.sandbox.capawesome.validation import Handler, paginate
from capawesome_ci.sandbox.server import Request, Response, not_found


def requested_app(state: SandboxState, request: Request) -> dict[str, Any]:
    app = state.apps.get(request.params["app"])
    if app is None:
        raise not_found("App")
    return app


def list_apps(state: SandboxState, request: Request) -> Response:
    query = request.query
    apps = [
        app
        for app in state.apps.values()
        if query.get("name") in (None, app["name"])
        and query.get("organizationId") in (None, app["organizationId"])
        and query.get("query", "").lower() in app["name"].lower()
    ]
    return Response(body=paginate(apps, request))


def get_app(state: SandboxState, request: Request) -> Response:
    return Response(body=requested_app(state, request))


def list_named(attribute: str) -> Handler:
    """Certificates, environments, configurations, destinations: read-only seeds, `name=` exact."""

    def handler(state: SandboxState, request: Request) -> Response:
        app, name = requested_app(state, request), request.query.get("name")
        items = [item for item in getattr(state, attribute) if item["appId"] == app["id"]]
        return Response(body=paginate([item for item in items if name in (None, item["name"])], request))

    return handler
