"""App environments (`/v1/apps/{app}/environments…`): create, list, read, rename, delete by id or
name; and their variables and secrets (create, list, update, delete; a secret's value is never
answered)."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.records import RecordKind, named_fields, record_routes
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import Handler, paginate, string_field
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found


def _fields(body: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    return named_fields(body, record)


ENVIRONMENTS = RecordKind("environments", "App environment", _fields)
collection, item = record_routes(ENVIRONMENTS, "environment")


def _delete_environment(state: SandboxState, request: Request) -> Response:
    environment = ENVIRONMENTS.record(state, request, "environment")
    state.environments.remove(environment)
    for entries in (state.environment_variables, state.environment_secrets):
        entries[:] = [entry for entry in entries if entry["appEnvironmentId"] != environment["id"]]
    return Response(204)


item["DELETE"] = _delete_environment


def entry_routes(attribute: str, what: str, secret: bool) -> tuple[dict[str, Handler], dict[str, Handler]]:
    """The variables (or secrets) of an environment: `{…}/variables` and `{…}/variables/{entry}`."""

    def entries(state: SandboxState) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = getattr(state, attribute)
        return found

    def answer(entry: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in entry.items() if not (secret and key == "value")}

    def check_key(state: SandboxState, environment_id: str, key: str, entry: Any) -> None:
        if key.strip() != key or not key:
            raise invalid(["key"], "String must contain at least 1 character(s)")
        for other in entries(state):
            if other is not entry and other["appEnvironmentId"] == environment_id and other["key"] == key:
                raise invalid(["key"], f"{what} key already exists.")

    def entry(state: SandboxState, request: Request) -> dict[str, Any]:
        environment = ENVIRONMENTS.record(state, request, "environment")
        for found in entries(state):
            if found["appEnvironmentId"] == environment["id"] and found["id"] == request.params["entry"]:
                return found
        raise not_found(what)

    def create(state: SandboxState, request: Request) -> Response:
        environment, body = ENVIRONMENTS.record(state, request, "environment"), request.json()
        key = str(string_field(body, "key", required=True))
        value = str(string_field(body, "value", required=True))
        check_key(state, environment["id"], key, None)
        stamp = iso()
        created = {
            "id": new_id(),
            "appEnvironmentId": environment["id"],
            "key": key,
            "value": value,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        entries(state).append(created)
        return Response(201, answer(created))

    def list_entries(state: SandboxState, request: Request) -> Response:
        environment = ENVIRONMENTS.record(state, request, "environment")
        found = [e for e in entries(state) if e["appEnvironmentId"] == environment["id"]]
        return Response(body=[answer(e) for e in paginate(found, request, default_limit=None)])

    def update(state: SandboxState, request: Request) -> Response:
        changed, body = entry(state, request), request.json()
        key, value = string_field(body, "key"), string_field(body, "value")
        if key is not None:
            check_key(state, changed["appEnvironmentId"], key, changed)
            changed["key"] = key
        if value is not None:
            changed["value"] = value
        changed["updatedAt"] = iso()
        return Response(body=answer(changed))

    def delete(state: SandboxState, request: Request) -> Response:
        entries(state).remove(entry(state, request))
        return Response(204)

    return {"GET": list_entries, "POST": create}, {"PATCH": update, "DELETE": delete}


variables, variable = entry_routes("environment_variables", "App environment variable", secret=False)
secrets, secret = entry_routes("environment_secrets", "App environment secret", secret=True)
