"""Request helpers every resource module uses: body fields checked with the zod-shaped error bodies
of the API's validation layer, limit/offset paging, lookup by id or name, and the `Handler` type."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from capawesome_ci.sandbox.capawesome.state import SandboxState
from capawesome_ci.sandbox.server import Request, Response, invalid, not_found

Handler = Callable[[SandboxState, Request], Response]


def type_name(value: Any) -> str:
    """The type names zod uses in its messages."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), "unknown")


def string_field(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid([key], "Required")
        return None
    if not isinstance(value, str):
        raise invalid([key], f"Expected string, received {type_name(value)}")
    if required and not value:
        raise invalid([key], "String must contain at least 1 character(s)")
    return value


def string_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid([key], "Expected array of strings")
    return value


def rollout_field(body: dict[str, Any], required: bool) -> float:
    value = body.get("rolloutPercentage")
    if value is None:
        if required:
            raise invalid(["rolloutPercentage"], "Required")
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(["rolloutPercentage"], f"Expected number, received {type_name(value)}")
    if not 0 <= value <= 1:
        raise invalid(["rolloutPercentage"], "Number must be between 0 and 1")
    return float(value)


def release_notes_field(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        raise invalid(["releaseNotes"], "Expected an object of strings")
    if "default" not in value:
        raise invalid(["releaseNotes", "default"], "Required")
    return value


def paginate(items: list[Any], request: Request, default_limit: int | None = 10, max_limit: int = 100) -> list[Any]:
    """limit/offset paging of a list endpoint: a bare array, no total."""
    query = request.query
    try:
        limit = int(query["limit"]) if "limit" in query else default_limit
    except ValueError:
        raise invalid(["limit"], "Expected number, received nan") from None
    try:
        offset = int(query.get("offset") or 0)
    except ValueError:
        raise invalid(["offset"], "Expected number, received nan") from None
    if limit is not None and not 1 <= limit <= max_limit:
        raise invalid(["limit"], f"Number must be between 1 and {max_limit}")
    if offset < 0:
        raise invalid(["offset"], "Number must be greater than or equal to 0")
    return items[offset:] if limit is None else items[offset : offset + limit]


def find(items: list[dict[str, Any]], app_id: str, key: str, value: str, what: str) -> dict[str, Any]:
    """The item of app `app_id` whose `key` is `value`, or a 404 naming `what`."""
    for item in items:
        if item["appId"] == app_id and item[key] == value:
            return item
    raise not_found(what)
