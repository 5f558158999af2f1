"""The Git repository an app is linked to (`/v1/apps/{app}/repository`): read, link (through a git
connection of the app's organization, by the provider's `owner/name` path), unlink."""

from __future__ import annotations

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.git_connections import connection, web_url
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found


def get_repository(state: SandboxState, request: Request) -> Response:
    link = state.repositories.get(requested_app(state, request)["id"])
    if link is None:
        raise not_found("App git repository")
    return Response(body=link)


def set_repository(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    connection_id = string_field(body, "gitConnectionId", required=True) or ""
    path = (string_field(body, "path", required=True) or "").strip("/")
    if "/" not in path:
        raise invalid(["path"], "Expected the repository path, such as owner/name")
    found = connection(state, app["organizationId"], connection_id)
    stamp = iso()
    previous = state.repositories.get(app["id"])
    state.repositories[app["id"]] = {
        "id": previous["id"] if previous else new_id(),
        "appId": app["id"],
        "gitConnectionId": found["id"],
        "name": path.rsplit("/", 1)[1],
        "path": path,
        "provider": found["provider"],
        "webUrl": web_url(found, path),
        "createdAt": previous["createdAt"] if previous else stamp,
        "updatedAt": stamp,
    }
    return Response(body=app)


def delete_repository(state: SandboxState, request: Request) -> Response:
    state.repositories.pop(requested_app(state, request)["id"], None)
    return Response(204)
