"""What the app records named per app (environments, configurations, destinations, certificates)
share: a `RecordKind` (where the records live, how a body is read, which list filters are enums)
and `record_routes`, its create / list / read / update / delete (by id or by name) handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.state import SandboxState, iso, new_id
from capawesome_ci.sandbox.capawesome.validation import Handler, find, paginate, string_field, type_name
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

# (the body, the record it changes or None to create) → the validated fields to set
BodyReader = Callable[[dict[str, Any], "dict[str, Any] | None"], dict[str, Any]]


def enum_value(values: dict[str, Any], key: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
    """A zod enum field (of a body or a query)."""
    value = values.get(key)
    if value is None:
        if required:
            raise invalid([key], "Required")
        return None
    if value not in allowed:
        expected = " | ".join(f"'{name}'" for name in allowed)
        received = f"'{value}'" if isinstance(value, str) else type_name(value)
        raise invalid([key], f"Invalid enum value. Expected {expected}, received {received}")
    return str(value)


def optional_string(body: dict[str, Any], key: str) -> str | None:
    """A field that is a string or null."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid([key], f"Expected string, received {type_name(value)}")
    return value


def named_fields(body: dict[str, Any], record: dict[str, Any] | None, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """`name` (required on create) and optional string-or-null `keys`, as given."""
    fields: dict[str, Any] = {}
    name = string_field(body, "name", required=record is None)
    if name is not None:
        fields["name"] = name
    for key in keys:
        if key in body:
            fields[key] = optional_string(body, key)
    return fields


@dataclass(frozen=True)
class RecordKind:
    attribute: str  # the SandboxState list that holds the records
    what: str  # "App environment": the 404 message and the duplicate-name message
    read: BodyReader
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # list/delete query enums
    unique: tuple[str, ...] = ("name",)  # the name is unique among records equal in these
    body: Callable[[Request], dict[str, Any]] = Request.json
    defaults: dict[str, Any] = field(default_factory=dict)  # fields every new record has
    hidden: tuple[str, ...] = ()  # stored, never answered (a certificate's passwords)

    def items(self, state: SandboxState, app_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = getattr(state, self.attribute)
        return [record for record in records if record["appId"] == app_id]

    def answer(self, record: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in record.items() if key not in self.hidden}

    def record(self, state: SandboxState, request: Request, key: str) -> dict[str, Any]:
        app = requested_app(state, request)
        return find(self.items(state, app["id"]), app["id"], "id", request.params[key], self.what)

    def check_unique(self, state: SandboxState, app_id: str, candidate: dict[str, Any], record: Any) -> None:
        for other in self.items(state, app_id):
            if other is not record and all(other.get(key) == candidate.get(key) for key in self.unique):
                raise invalid(["name"], f"{self.what} name already exists.")

    def matches(self, record: dict[str, Any], query: dict[str, str]) -> bool:
        return all(query.get(key) in (None, record.get(key)) for key in ("name", *self.filters))


def record_routes(kind: RecordKind, key: str) -> tuple[dict[str, Handler], dict[str, Handler]]:
    """The handlers of the collection (`GET`, `POST`, `DELETE ?name=`) and of one record (`GET`,
    `PATCH`, `DELETE`), whose id is the route parameter `key`."""

    def check_filters(query: dict[str, str]) -> None:
        for name, allowed in kind.filters.items():
            enum_value(query, name, allowed)

    def list_records(state: SandboxState, request: Request) -> Response:
        app, query = requested_app(state, request), request.query
        check_filters(query)
        text = query.get("query", "").lower()
        records = [
            record
            for record in kind.items(state, app["id"])
            if kind.matches(record, query) and text in record["name"].lower()
        ]
        return Response(body=[kind.answer(record) for record in paginate(records, request)])

    def create_record(state: SandboxState, request: Request) -> Response:
        app = requested_app(state, request)
        fields = kind.read(kind.body(request), None)
        stamp = iso()
        record = {"id": new_id(), "appId": app["id"], **kind.defaults, **fields, "createdAt": stamp, "updatedAt": stamp}
        kind.check_unique(state, app["id"], record, None)
        getattr(state, kind.attribute).append(record)
        return Response(201, kind.answer(record))

    def get_record(state: SandboxState, request: Request) -> Response:
        return Response(body=kind.answer(kind.record(state, request, key)))

    def update_record(state: SandboxState, request: Request) -> Response:
        record = kind.record(state, request, key)
        fields = kind.read(request.json(), record)
        kind.check_unique(state, record["appId"], {**record, **fields}, record)
        record.update(fields)
        record["updatedAt"] = iso()
        return Response(body=kind.answer(record))

    def delete_record(state: SandboxState, request: Request) -> Response:
        getattr(state, kind.attribute).remove(kind.record(state, request, key))
        return Response(204)

    def delete_by_name(state: SandboxState, request: Request) -> Response:
        app, query = requested_app(state, request), request.query
        string_field(query, "name", required=True)
        check_filters(query)
        for record in kind.items(state, app["id"]):
            if kind.matches(record, query):
                getattr(state, kind.attribute).remove(record)
                return Response(204)
        raise not_found(kind.what)

    collection: dict[str, Handler] = {"GET": list_records, "POST": create_record, "DELETE": delete_by_name}
    return collection, {"GET": get_record, "PATCH": update_record, "DELETE": delete_record}
