"""Git connections of an organization (`/v1/organizations/{organization}/git-connections…`):
create (per provider and kind of authentication: basic, oauth, token), list, read, update, delete;
and, through one, the provider's namespaces and repositories (two of each, made up from the
connection). Credentials are checked for presence and never answered back."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.admin_fields import enum_field, name_field, nullable_string
from capawesome_ci.sandbox.capawesome.organizations import requested_organization
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import paginate, string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

PROVIDERS = ("azure_devops", "bitbucket", "gitea", "git_http", "github", "gitlab")
AUTH_KINDS = ("basic", "oauth", "token")
HOSTS = {
    "azure_devops": "https://dev.azure.com",
    "bitbucket": "https://bitbucket.org",
    "github": "https://github.com",
    "gitlab": "https://gitlab.com",
}
CREDENTIALS = {"basic": ("username", "password"), "oauth": ("userProviderProfileId",), "token": ("token",)}


def connection(state: SandboxState, organization_id: str, connection_id: str) -> dict[str, Any]:
    found = state.git_connections.get(connection_id)
    if found is None or found["organizationId"] != organization_id:
        raise not_found("Git connection")
    return found


def _requested(state: SandboxState, request: Request) -> dict[str, Any]:
    organization = requested_organization(state, request)
    return connection(state, organization["id"], request.params["connection"])


def web_url(found: dict[str, Any], path: str) -> str:
    host = found["baseUrl"] or HOSTS.get(found["provider"], "https://git.example.com")
    return f"{host.rstrip('/')}/{path}"


def _credentials(body: dict[str, Any], auth_kind: str) -> None:
    for key in ("token", "username", "password", "userProviderProfileId"):
        string_field(body, key)
    for key in CREDENTIALS[auth_kind]:
        string_field(body, key, required=True)


def create_connection(state: SandboxState, request: Request) -> Response:
    organization, body = requested_organization(state, request), request.json()
    provider = enum_field(body, "provider", PROVIDERS, required=True) or ""
    auth_kind = enum_field(body, "authKind", AUTH_KINDS, required=True) or ""
    name = name_field(body, required=False)
    base_url = nullable_string(body, "baseUrl")
    if provider in ("gitea", "git_http") and base_url is None:
        raise invalid(["baseUrl"], "Required")
    _credentials(body, auth_kind)
    stamp = iso()
    found = {
        "id": new_id(),
        "organizationId": organization["id"],
        "name": name or provider,
        "provider": provider,
        "authKind": auth_kind,
        "baseUrl": base_url,
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.git_connections[found["id"]] = found
    return Response(201, found)


def list_connections(state: SandboxState, request: Request) -> Response:
    organization, query = requested_organization(state, request), request.query
    provider = enum_field(query, "provider", PROVIDERS)
    found = [
        item
        for item in state.git_connections.values()
        if item["organizationId"] == organization["id"]
        and query.get("name") in (None, item["name"])
        and provider in (None, item["provider"])
        and query.get("query", "").lower() in item["name"].lower()
    ]
    return Response(body=paginate(found, request))


def get_connection(state: SandboxState, request: Request) -> Response:
    return Response(body=_requested(state, request))


def update_connection(state: SandboxState, request: Request) -> Response:
    found, body = _requested(state, request), request.json()
    auth_kind = enum_field(body, "authKind", ("basic", "token"))
    name = name_field(body, required=False)
    string_field(body, "baseUrl")
    if auth_kind is not None:
        _credentials(body, auth_kind)
        found["authKind"] = auth_kind
    if name is not None:
        found["name"] = name
    if "baseUrl" in body:
        found["baseUrl"] = body["baseUrl"] or None
    found["updatedAt"] = iso()
    return Response(body=found)


def delete_connection(state: SandboxState, request: Request) -> Response:
    found = _requested(state, request)
    del state.git_connections[found["id"]]
    for app_id in [app_id for app_id, link in state.repositories.items() if link["gitConnectionId"] == found["id"]]:
        del state.repositories[app_id]
    return Response(204)


def _namespaces(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": f"{found['id']}:sandbox-user", "name": "Sandbox User", "slug": "sandbox-user", "kind": "user"},
        {
            "id": f"{found['id']}:capawesome-sandbox",
            "name": "Capawesome Sandbox",
            "slug": "capawesome-sandbox",
            "kind": "organization",
        },
    ]


def list_namespaces(state: SandboxState, request: Request) -> Response:
    found, organization = _requested(state, request), request.query.get("organization")
    return Response(body=[n for n in _namespaces(found) if organization in (None, n["slug"])])


def list_repositories(state: SandboxState, request: Request) -> Response:
    found, query = _requested(state, request), request.query
    repositories: list[dict[str, Any]] = [
        {
            "id": f"{found['id']}:{path}",
            "name": path.split("/")[1],
            "namespace": path.split("/")[0],
            "path": path,
            "private": path.startswith("capawesome-sandbox/"),
            "webUrl": web_url(found, path),
            "defaultBranch": "main",
        }
        for path in ("capawesome-sandbox/demo-app", "sandbox-user/playground")
    ]
    text = query.get("query", "").lower()
    return Response(
        body=[
            repository
            for repository in repositories
            if query.get("namespace") in (None, repository["namespace"])
            and query.get("path") in (None, repository["path"])
            and text in repository["path"].lower()
        ]
    )
