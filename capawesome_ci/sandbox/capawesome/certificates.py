"""App certificates (`/v1/apps/{app}/certificates…`), signing certificates and keystores: upload
(multipart: the file and its metadata), list (`name`, `platform`, `type` filters), read, update
the metadata, delete by id or by name, platform and type. Passwords are stored, never answered."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.bundles import form_fields
from capawesome_ci.sandbox.capawesome.records import RecordKind, enum_value, named_fields, record_routes
from capawesome_ci.sandbox.server import Request, invalid

PLATFORMS = ("android", "ios")
TYPES = ("development", "production")
SECRETS = ("password", "keyAlias", "keyPassword")


def _form(request: Request) -> dict[str, Any]:
    """The multipart upload as a body: text fields decoded, the file as its size in bytes."""
    fields = form_fields(request)
    body: dict[str, Any] = {
        key: bytes(view).decode("utf-8", "replace") for key, view in fields.items() if key != "file"
    }
    if "file" in fields:
        body["fileSizeInBytes"] = len(fields["file"])
    return body


def _fields(body: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    fields = named_fields(body, record, SECRETS)
    if record is None:
        if not body.get("fileSizeInBytes"):
            raise invalid(["file"], "Required")
        fields["fileSizeInBytes"] = body["fileSizeInBytes"]
        fields["platform"] = enum_value(body, "platform", PLATFORMS, required=True)
        fields["type"] = enum_value(body, "type", TYPES) or "development"
    else:
        unknown = sorted(set(body) - {"name", "type", *SECRETS})
        if unknown:
            raise invalid([], "Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in unknown))
        if "type" in body:
            fields["type"] = enum_value(body, "type", TYPES, required=True)
    return fields


CERTIFICATES = RecordKind(
    "certificates", "App certificate", _fields, filters={"platform": PLATFORMS, "type": TYPES},
    unique=("name", "platform", "type"), body=_form, hidden=SECRETS,
)  # fmt: skip
collection, item = record_routes(CERTIFICATES, "certificate")
