"""App destinations (`/v1/apps/{app}/destinations…`), the app-store targets of native builds:
create, list (`name`, `platform` filters), read, update, delete by id or by name and platform.
Names are unique per platform; `type` is set on create and never changes."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.records import RecordKind, enum_value, named_fields, record_routes
from capawesome_ci.sandbox.capawesome.validation import type_name
from capawesome_ci.sandbox.server import invalid

PLATFORMS = ("android", "ios")
TYPES = ("apple-app-store-connect", "firebase-app-distribution", "google-play", "huawei-appgallery")
STRING_FIELDS = (
    "androidBuildArtifactType", "androidPackageName", "androidReleaseStatus", "googlePlayTrack", "appAppleApiKeyId",
    "appGoogleServiceAccountKeyId", "appleApiKeyId", "appleIssuerId", "appleId", "appleAppPassword", "appleAppId",
    "appleTeamId", "appleReleaseType", "firebaseAppId", "huaweiAppId", "huaweiClientId", "huaweiClientSecret",
    "defaultLanguage",
)  # fmt: skip
BOOLEAN_FIELDS = ("appleRejectIfPossible", "appleSubmitForReview")
LIST_FIELDS = ("appleBetaGroups", "firebaseTesterGroups")
SECRETS = ("appleAppPassword", "huaweiClientSecret")  # write-only


def _fields(body: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    known = {"name", "platform", "type", *STRING_FIELDS, *BOOLEAN_FIELDS, *LIST_FIELDS}
    unknown = sorted(set(body) - known)
    if unknown:
        raise invalid([], "Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in unknown))
    fields = named_fields(body, record, STRING_FIELDS)
    if record is None:
        fields["type"] = enum_value(body, "type", TYPES, required=True)
        fields["platform"] = enum_value(body, "platform", PLATFORMS, required=True)
    elif "type" in body:
        raise invalid(["type"], "The type of a destination cannot be changed.")
    elif "platform" in body:
        fields["platform"] = enum_value(body, "platform", PLATFORMS, required=True)
    for key in BOOLEAN_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise invalid([key], f"Expected boolean, received {type_name(body[key])}")
    for key in LIST_FIELDS:
        value = body.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise invalid([key], "Expected array of strings")
    fields.update({key: body[key] for key in (*BOOLEAN_FIELDS, *LIST_FIELDS) if key in body})
    return fields


DESTINATIONS = RecordKind(
    "destinations", "App destination", _fields, filters={"platform": PLATFORMS}, unique=("name", "platform"),
    hidden=SECRETS,
)  # fmt: skip
collection, item = record_routes(DESTINATIONS, "destination")
