"""App configurations (`/v1/apps/{app}/configurations…`), which overwrite the native app
configuration during builds: create, list, read, update, delete by id or name."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.records import RecordKind, named_fields, record_routes


def _fields(body: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    return named_fields(body, record, ("displayName", "packageName"))


CONFIGURATIONS = RecordKind(
    "configurations", "App configuration", _fields, defaults={"displayName": None, "packageName": None}
)
collection, item = record_routes(CONFIGURATIONS, "configuration")
