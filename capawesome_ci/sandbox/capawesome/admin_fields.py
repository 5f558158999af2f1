"""Field checks shared by the organization-level and app-administration handlers (organizations,
members, teams, invitations, git connections, license keys, app create/update, webhooks,
automations): enums, booleans, integers, e-mail addresses, nullable strings, in the zod shapes of
`validation`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from capawesome_ci.sandbox.capawesome.validation import string_field, type_name
from capawesome_ci.sandbox.server import invalid

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def expected(values: Sequence[str]) -> str:
    return "Invalid enum value. Expected " + " | ".join(f"'{value}'" for value in values)


def enum_field(
    body: dict[str, Any], key: str, values: Sequence[str], required: bool = False, nullable: bool = False
) -> str | None:
    """`body[key]` if it is one of `values`; None if absent (or null, when `nullable`)."""
    value = body.get(key)
    if value is None:
        if required:
            raise invalid([key], "Required")
        if key in body and not nullable:
            raise invalid([key], "Expected string, received null")
        return None
    if value not in values:
        raise invalid([key], expected(values))
    return str(value)


def bool_field(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        if key in body:
            raise invalid([key], "Expected boolean, received null")
        return None
    if not isinstance(value, bool):
        raise invalid([key], f"Expected boolean, received {type_name(value)}")
    return value


def int_field(body: dict[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid([key], f"Expected number, received {type_name(value)}")
    if value < minimum:
        raise invalid([key], f"Number must be greater than or equal to {minimum}")
    return value


def email_field(body: dict[str, Any], key: str) -> str:
    value = string_field(body, key, required=True) or ""
    if not EMAIL.match(value):
        raise invalid([key], "Invalid email")
    return value.lower()


def nullable_string(body: dict[str, Any], key: str) -> str | None:
    """An optional string that may be null (which clears it); "" counts as null too."""
    return string_field(body, key) or None


def name_field(body: dict[str, Any], required: bool) -> str | None:
    """A `name`: required on create, optional on update, never empty."""
    value = string_field(body, "name", required=required)
    if value is not None and not value.strip():
        raise invalid(["name"], "String must contain at least 1 character(s)")
    return value


def string_items(body: dict[str, Any], key: str, nullable: bool = False) -> list[str] | None:
    """An array of non-empty strings, or None when absent (or null, when `nullable`)."""
    value = body.get(key)
    if value is None:
        if key in body and not nullable:
            raise invalid([key], "Expected array, received null")
        return None
    if not isinstance(value, list):
        raise invalid([key], f"Expected array, received {type_name(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid([key, index], f"Expected string, received {type_name(item)}")
        if not item:
            raise invalid([key, index], "String must contain at least 1 character(s)")
    return list(value)
