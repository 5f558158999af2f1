"""The Capgo emulator's public API (api.capgo.app), ported from Capgo's backend
(supabase/functions/_backend/public/{app,channel,bundle,device}): the raw key in `authorization:` or
`capgkey:`, `{error, message, moreInfo}` failures (400 unless said otherwise), bare-array lists paged by
a 0-based `page` of 50, and `POST /channel`'s rollout state machine, rule for rule."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from capawesome_ci.sandbox.capgo.state import PAGE_SIZE, CapgoState, is_app_id, is_semver
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

Handler = Callable[[CapgoState, Request], Response]
OK = {"status": "ok"}  # Capgo's BRES
INTERNAL_NAMES = ("builtin", "unknown")  # bundle names the updater reserves
NO_ROWS = {  # PostgREST's error for `.single()` on no row, which Capgo passes on in moreInfo
    "code": "PGRST116",
    "details": "The result contains 0 rows",
    "hint": None,
    "message": "Cannot coerce the result to a single JSON object",
}


def capgo_error(code: str, message: str, more_info: dict[str, Any] | None = None, status: int = 400) -> ApiFailure:
    return ApiFailure(status, {"error": code, "message": message, "moreInfo": more_info or {}})


def unknown_error() -> ApiFailure:
    """What Capgo answers when a lookup rejects with a plain Error (no code): its onError's default."""
    return capgo_error("unknown_error", "Unknown error", status=500)


def not_found() -> ApiFailure:
    return ApiFailure(404, {"error": "not_found", "message": "Not found"})


def authenticate(state: CapgoState, request: Request) -> None:
    """Capgo's middlewareKey: `capgkey` first, then `authorization` (the raw key, no scheme)."""
    key = request.headers.get("capgkey") or request.headers.get("authorization")
    if not key:
        raise capgo_error("no_key_provided", "No key provided", status=401)
    if key != state.token:
        raise capgo_error("invalid_apikey", "Invalid apikey", status=401)


def arguments(request: Request) -> dict[str, Any]:
    """Capgo's getBodyOrQuery: a JSON body when there is one, else the query string."""
    if request.raw_body.strip():
        return json_body(request)
    return dict(request.query)


def json_body(request: Request) -> dict[str, Any]:
    try:
        return request.json()
    except ApiFailure:
        raise capgo_error("invalid_json_parse_body", "Invalid JSON body") from None


def page_number(value: object) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise capgo_error("invalid_page", "page must be a whole number", {"page": value})


def app_of(
    state: CapgoState, body: dict[str, Any], denied: str = "cannot_access_app", why: str = "You can't access this app"
) -> str:
    """The request's app id, checked as every route checks it; an app the key cannot see is `denied`."""
    app_id = body.get("app_id")
    if not app_id:
        raise capgo_error("missing_app_id", "Missing app_id")
    if not is_app_id(app_id):
        raise capgo_error("invalid_app_id", "App ID must be a reverse domain string", {"app_id": app_id})
    if app_id not in state.apps:  # the key's organisation has no such app: Capgo's permission check fails
        raise capgo_error(denied, why, {"app_id": app_id})
    return str(app_id)


def app_in_path(state: CapgoState, request: Request, denied: str = "cannot_access_app", status: int = 401) -> str:
    """`/app/:app_id`'s id, checked as Capgo's get, put and delete check it."""
    app_id = request.params["app_id"]
    if not is_app_id(app_id):
        raise capgo_error("invalid_app_id", "App ID must be a reverse domain string", {"app_id": app_id})
    if app_id not in state.apps:
        raise capgo_error(denied, "You can't access this app", {"app_id": app_id}, status=status)
    return app_id


# -- /app ----------------------------------------------------------------------------------------
def list_apps(state: CapgoState, request: Request) -> Response:
    query = request.query
    page = page_number(query.get("page"))
    limit = page_number(query.get("limit")) or PAGE_SIZE
    apps = list(state.apps.values())
    if query.get("org_id") and query["org_id"] != state.org_id:
        raise capgo_error(
            "user_does_not_have_access_to_this_organization",
            "You do not have access to this organization",
            {"org_id": query["org_id"]},
        )
    return Response(body=apps[page * limit : (page + 1) * limit])


def get_app(state: CapgoState, request: Request) -> Response:
    return Response(body=state.apps[app_in_path(state, request)])


def create_app(state: CapgoState, request: Request) -> Response:
    body = json_body(request)
    app_id, name, owner_org = body.get("app_id"), body.get("name"), body.get("owner_org")
    if not app_id:
        raise capgo_error("missing_app_id", "Missing app_id")
    if not is_app_id(app_id):
        raise capgo_error("invalid_app_id", "App ID must be a reverse domain string", {"app_id": app_id})
    if not name or not isinstance(name, str):
        raise capgo_error("missing_name", "Missing name")
    if not owner_org:
        raise capgo_error("missing_owner_org", "Missing owner_org")
    if owner_org != state.org_id:
        raise capgo_error(
            "cannot_access_organization", "You can't access this organization", {"org_id": owner_org}, status=403
        )
    if app_id in state.apps:
        raise capgo_error("app_id_already_exists", "App ID already exists", {"app_id": app_id}, status=409)
    icon = body.get("icon")
    return Response(body=state.add_app(str(app_id), name, icon if isinstance(icon, str) else ""))


APP_SETTINGS = {  # PUT /app/:app_id's fields → (the apps column, the column's type; `?`: nullable)
    "name": ("name", "text?"),
    "icon": ("icon_url", "text"),
    "retention": ("retention", "bigint"),
    "expose_metadata": ("expose_metadata", "boolean"),
    "allow_device_custom_id": ("allow_device_custom_id", "boolean"),
    "need_onboarding": ("need_onboarding", "boolean"),
    "existing_app": ("existing_app", "boolean"),
    "block_provider_infra_requests": ("block_provider_infra_requests", "boolean"),
    "ios_store_url": ("ios_store_url", "text?"),
    "android_store_url": ("android_store_url", "text?"),
}
MAX_RETENTION = 63113904  # seconds; Capgo refuses this and more ("2 years")


def _fits_column(value: object, kind: str) -> bool:
    """Whether Postgres would store `value` in a column of `kind` (else PostgREST rejects the update)."""
    if value is None:
        return kind.endswith("?")
    if kind.startswith("text"):
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


def _icon_path(icon: str) -> str:
    """Capgo's normalizeImagePath: trimmed, a bare path loses a leading `images/` or `/`; URLs stay whole."""
    trimmed = icon.strip()
    if not trimmed or re.match(r"[a-z][a-z0-9+.-]*:", trimmed, re.IGNORECASE):
        return trimmed or icon
    return re.sub(r"^/+", "", re.sub(r"^images/", "", trimmed))


def update_app(state: CapgoState, request: Request) -> Response:
    """`PUT /app/:app_id`: the given settings (the others stay); answers the updated app."""
    app_id = app_in_path(state, request)
    body = arguments(request)
    retention: Any = body.get("retention")
    if _is_number(retention):
        more = {"retention": retention}
        if retention >= MAX_RETENTION:
            raise capgo_error("retention_to_big", "Retention cannot be bigger than 63113903 (2 years)", more)
        if retention < 0:
            raise capgo_error("retention_to_small", "Retention cannot be smaller than 0", more)
    changes = {column: body[field] for field, (column, _) in APP_SETTINGS.items() if field in body}
    if isinstance(changes.get("icon_url"), str):
        changes["icon_url"] = _icon_path(changes["icon_url"])
    if not all(_fits_column(body[field], kind) for field, (_, kind) in APP_SETTINGS.items() if field in body):
        raise capgo_error("cannot_update_app", "Cannot update app", {"supabaseError": {"code": "22P02"}})
    state.apps[app_id].update(changes, updated_at=_now())
    return Response(body=state.apps[app_id])


def delete_app(state: CapgoState, request: Request) -> Response:
    """`DELETE /app/:app_id`: the app with its channels, devices and bundles (see CapgoState.remove_app)."""
    state.remove_app(app_in_path(state, request, denied="cannot_delete_app", status=400))
    return Response(body=OK)


# -- /channel ------------------------------------------------------------------------------------
CHANNEL_RENAMES = {  # GET /channel answers these columns in camelCase
    "disable_auto_update_under_native": "disableAutoUpdateUnderNative",
    "disable_auto_update": "disableAutoUpdate",
    "rollout_percentage_bps": "rolloutPercentageBps",
    "rollout_enabled": "rolloutEnabled",
    "rollout_paused_at": "rolloutPausedAt",
    "rollout_pause_reason": "rolloutPauseReason",
    "rollout_cache_ttl_seconds": "rolloutCacheTtlSeconds",
    "auto_pause_enabled": "autoPauseEnabled",
    "auto_pause_window_minutes": "autoPauseWindowMinutes",
    "auto_pause_failure_rate_bps": "autoPauseFailureRateBps",
    "auto_pause_confidence": "autoPauseConfidence",
    "auto_pause_min_attempts": "autoPauseMinAttempts",
    "auto_pause_min_failures": "autoPauseMinFailures",
    "auto_pause_action": "autoPauseAction",
    "auto_pause_cooldown_minutes": "autoPauseCooldownMinutes",
    "auto_pause_last_triggered_at": "autoPauseLastTriggeredAt",
    "auto_pause_last_checked_at": "autoPauseLastCheckedAt",
}
CHANNEL_HIDDEN = ("owner_org", "ios", "android", "electron")  # not in GET /channel's select


def channel_view(state: CapgoState, row: dict[str, Any]) -> dict[str, Any]:
    view = {CHANNEL_RENAMES.get(key, key): value for key, value in row.items() if key not in CHANNEL_HIDDEN}
    view["rollout_version_info"] = state.version_ref(row["rollout_version"])
    view["version"] = state.version_ref(row["version"])
    return view


def get_channels(state: CapgoState, request: Request) -> Response:
    body = arguments(request)
    app_id = app_of(state, body)
    if body.get("channel"):
        row = state.channel_named(app_id, str(body["channel"]))
        if row is None:  # sic: Capgo's getOne says so
            raise capgo_error("cannot_find_version", "Cannot find version")
        return Response(body=channel_view(state, row))
    page = page_number(body.get("page"))
    rows = [row for row in state.channels.values() if row["app_id"] == app_id]
    return Response(body=[channel_view(state, row) for row in rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]])


# camelCase field → its snake_case alias (camelCase wins when both are given)
CHANNEL_ALIASES = {
    "rolloutVersion": "rollout_version",
    "rolloutPercentage": "rollout_percentage",
    "rolloutPercentageBps": "rollout_percentage_bps",
    "rolloutEnabled": "rollout_enabled",
    "rolloutPaused": "rollout_paused",
    "rolloutPausedAt": "rollout_paused_at",
    "rolloutPauseReason": "rollout_pause_reason",
    "rolloutCacheTtlSeconds": "rollout_cache_ttl_seconds",
    "promoteToStable": "promote_to_stable",
    "autoPauseEnabled": "auto_pause_enabled",
    "autoPauseWindowMinutes": "auto_pause_window_minutes",
    "autoPauseFailureRateBps": "auto_pause_failure_rate_bps",
    "autoPauseConfidence": "auto_pause_confidence",
    "autoPauseMinAttempts": "auto_pause_min_attempts",
    "autoPauseMinFailures": "auto_pause_min_failures",
    "autoPauseAction": "auto_pause_action",
    "autoPauseCooldownMinutes": "auto_pause_cooldown_minutes",
}
# request field → channels column, copied when given and not null
CHANNEL_SETTINGS = {
    "public": "public",
    "disableAutoUpdateUnderNative": "disable_auto_update_under_native",
    "disableAutoUpdate": "disable_auto_update",
    "allow_device_self_set": "allow_device_self_set",
    "allow_emulator": "allow_emulator",
    "allow_device": "allow_device",
    "allow_dev": "allow_dev",
    "allow_prod": "allow_prod",
    "ios": "ios",
    "android": "android",
    "rolloutEnabled": "rollout_enabled",
    "rolloutCacheTtlSeconds": "rollout_cache_ttl_seconds",
    "autoPauseEnabled": "auto_pause_enabled",
    "autoPauseWindowMinutes": "auto_pause_window_minutes",
    "autoPauseConfidence": "auto_pause_confidence",
    "autoPauseAction": "auto_pause_action",
    "autoPauseCooldownMinutes": "auto_pause_cooldown_minutes",
}
# request field → channels column, copied when given, null included
CHANNEL_NULLABLE_SETTINGS = {
    "rolloutPauseReason": "rollout_pause_reason",
    "autoPauseFailureRateBps": "auto_pause_failure_rate_bps",
    "autoPauseMinAttempts": "auto_pause_min_attempts",
    "autoPauseMinFailures": "auto_pause_min_failures",
}
INTEGER_RANGES = (  # Capgo's validateIntegerRange calls
    ("rolloutCacheTtlSeconds", 60, 31536000),
    ("autoPauseWindowMinutes", 1, 10080),
    ("autoPauseFailureRateBps", 0, 10000),
    ("autoPauseMinAttempts", 0, 2**53 - 1),
    ("autoPauseMinFailures", 0, 2**53 - 1),
    ("autoPauseCooldownMinutes", 0, 10080),
)
ROLLOUT_RESET = {
    "rollout_version": None,
    "rollout_enabled": False,
    "rollout_percentage_bps": 0,
    "rollout_paused_at": None,
    "rollout_pause_reason": None,
}
_MISSING = object()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_integer_range(value: object, field: str, low: int, high: int) -> None:
    if value is None:
        return
    whole = isinstance(value, (int, float)) and _is_number(value) and value == int(value)
    if not whole or not low <= value <= high:  # type: ignore[operator]
        more = {"field": field, "value": value, "min": low, "max": high}
        raise capgo_error("invalid_rollout_config", f"{field} must be an integer between {low} and {high}", more)


def _normalized(body: dict[str, Any]) -> dict[str, Any]:
    merged = dict(body)
    for camel, snake in CHANNEL_ALIASES.items():
        if camel not in merged and snake in merged:
            merged[camel] = merged[snake]
    return merged


def _find_version(state: CapgoState, app_id: str, reference: object) -> int:
    """A live bundle by name, or by id when `reference` is a number; else Capgo's bare rejection."""
    if _is_number(reference):
        row = state.versions.get(int(reference))  # type: ignore[call-overload]
        if row is not None and row["app_id"] == app_id and not row["deleted"]:
            return int(row["id"])
    elif isinstance(reference, str):
        found = state.version_named(app_id, reference)
        if found is not None:
            return int(found["id"])
    raise unknown_error()


def _validate_rollout_settings(body: dict[str, Any]) -> int | None:
    """The checks of Capgo's post() on the numbers; the rollout percentage in basis points, if given."""
    percentage = body.get("rolloutPercentage")
    if percentage is not None and (not _is_number(percentage) or not 0 <= percentage <= 100):
        raise capgo_error(
            "invalid_rollout_percentage",
            "Rollout percentage must be between 0 and 100",
            {"rolloutPercentage": percentage},
        )
    bps = body.get("rolloutPercentageBps")
    if bps is None and percentage is not None:
        bps = math.floor(percentage * 100 + 0.5)  # Math.round
    _check_integer_range(bps, "rolloutPercentageBps", 0, 10000)
    for field, low, high in INTEGER_RANGES:
        _check_integer_range(body.get(field), field, low, high)
    confidence = body.get("autoPauseConfidence")
    if confidence is not None and (not _is_number(confidence) or not 0 < confidence < 1):
        raise capgo_error(
            "invalid_auto_pause_confidence",
            "Auto-pause confidence must be greater than 0 and less than 1",
            {"autoPauseConfidence": confidence},
        )
    action = body.get("autoPauseAction")
    if action and action not in ("pause", "rollback", "notify"):
        raise capgo_error(
            "invalid_auto_pause_action",
            "Auto-pause action must be pause, rollback, or notify",
            {"autoPauseAction": action},
        )
    return int(bps) if bps is not None else None


def post_channel(state: CapgoState, request: Request) -> Response:
    """Upsert a channel by (app_id, channel): settings, the stable bundle and the rollout."""
    body = _normalized(json_body(request))
    app_id = app_of(state, body)
    name = body.get("channel")
    if not isinstance(name, str) or not name:
        raise capgo_error("missing_channel_name", "You must provide a channel name")
    existing = state.channel_named(app_id, name)
    ident = {"app_id": app_id, "channel": name}

    version = body.get("version", _MISSING)
    requested_version_id: int | None = None
    requested_version_name: str | None = None
    if version is not _MISSING:
        wanted = version if isinstance(version, str) and version and version not in INTERNAL_NAMES else None
        if existing is not None:
            requested_version_id = _find_version(state, app_id, wanted) if wanted else None
        else:
            requested_version_name = wanted

    bps = _validate_rollout_settings(body)
    rollout_version = body.get("rolloutVersion", _MISSING)
    if (rollout_version is not _MISSING or body.get("rollback") or body.get("promoteToStable")) and existing is None:
        raise capgo_error("cannot_find_channel", "Cannot find channel", ident)
    stable_now = existing["version"] if existing is not None else None
    if rollout_version not in (_MISSING, None, "", 0, False) and (
        (version is _MISSING and stable_now is None) or version is None or version == "unknown"
    ):
        raise capgo_error("missing_stable_version", "Cannot set rollout target without a stable bundle", ident)

    changes: dict[str, Any] = {
        column: body[field] for field, column in CHANNEL_SETTINGS.items() if body.get(field) is not None
    }
    changes.update({column: body[field] for field, column in CHANNEL_NULLABLE_SETTINGS.items() if field in body})
    electron = body.get("electron")
    if electron is None and body.get("public") and body.get("ios") != body.get("android"):
        electron = False  # a default channel for one platform only: Capgo keeps it off Electron
    if electron is not None:
        changes["electron"] = electron
    if bps is not None:
        changes["rollout_percentage_bps"] = bps
    paused_at = body.get("rolloutPausedAt", _MISSING)
    if paused_at is _MISSING and body.get("rolloutPaused") is not None:
        paused_at = _now() if body["rolloutPaused"] else None
    if paused_at is not _MISSING:
        changes["rollout_paused_at"] = paused_at
        if not paused_at:
            changes["rollout_pause_reason"] = None
    if version is not _MISSING and existing is not None:
        changes["version"] = requested_version_id
    if rollout_version is not _MISSING:
        changes["rollout_version"] = _find_version(state, app_id, rollout_version) if rollout_version else None
    if body.get("rollback"):
        changes.update(ROLLOUT_RESET)
    if body.get("promoteToStable"):
        promoted = changes.get("rollout_version") or (existing or {}).get("rollout_version")
        if not promoted:
            raise capgo_error("missing_rollout_version", "Cannot promote without a rollout version", ident)
        changes.update(ROLLOUT_RESET)
        changes["version"] = promoted

    if existing is not None:
        state.update_channel(existing, changes)
        return Response(body=OK)
    stable_id = None
    if requested_version_name:  # created and promoted in one call: Capgo's transaction
        found = state.version_named(app_id, requested_version_name)
        if found is None:
            raise capgo_error("cannot_find_version", "Cannot find version")
        stable_id = found["id"]
    created = state.add_channel(app_id, name)
    state.update_channel(created, {**changes, "version": stable_id})
    if requested_version_name:
        return Response(body={**OK, "id": created["id"], "public": created["public"]})
    return Response(body=OK)


def delete_channel(state: CapgoState, request: Request) -> Response:
    body = arguments(request)
    app_id = app_of(state, body)
    name = body.get("channel")
    if not name:
        raise capgo_error("missing_channel_name", "You must provide a channel name")
    row = state.channel_named(app_id, str(name))
    if row is None:
        raise capgo_error("cannot_find_channel", "Cannot find channel")
    if body.get("delete_bundle") is True:
        linked = {row["version"], row["rollout_version"]} - {None}
        others = [other for other in state.channels.values() if other is not row and other["app_id"] == app_id]
        if any({other["version"], other["rollout_version"]} & linked for other in others):
            raise capgo_error("cannot_delete_linked_version", "Cannot delete a bundle linked to another channel")
        for version_id in linked:
            state.versions[version_id]["deleted"] = True
    state.remove_channel(row)
    return Response(body=OK)


# -- /bundle -------------------------------------------------------------------------------------
def list_bundles(state: CapgoState, request: Request) -> Response:
    body = arguments(request)
    app_id = app_of(state, body, denied="cannot_get_bundle")
    page = page_number(body.get("page"))
    rows = state.live_versions(app_id)[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    if not rows:  # Capgo answers an empty page (an app with no bundle too) with an error, not []
        raise capgo_error("cannot_get_bundle", "Cannot get bundle", {"supabaseError": None})
    return Response(body=rows)


def create_bundle(state: CapgoState, request: Request) -> Response:
    """Register an externally hosted zip (Capgo never fetches it here: its URL check is commented out)."""
    body = arguments(request)
    for field in ("app_id", "version", "external_url", "checksum"):
        if not body.get(field):
            raise capgo_error(f"missing_{field}", f"Missing required fields: {field}", {field: body.get(field)})
    if not is_app_id(body["app_id"]):
        raise capgo_error("invalid_app_id", "App ID must be a reverse domain string", {"app_id": body["app_id"]})
    name = body["version"]
    if not is_semver(name):
        raise capgo_error(
            "invalid_version_format",
            "Version must be valid semver format (e.g., 1.0.0, 1.0.0-alpha.1)",
            {"version": name},
        )
    app_id = app_of(state, body, denied="cannot_create_bundle")
    url = body["external_url"]
    if not isinstance(url, str) or not url.startswith("https://"):
        raise capgo_error("invalid_protocol", "External URL must use HTTPS protocol", {"external_url": url})
    if state.version_named(app_id, name) is not None:
        raise capgo_error("version_already_exists", "Version already exists", {"version": name})
    if state.version_named(app_id, name, deleted=True) is not None:  # the unique (name, app_id) constraint
        more = {
            "supabaseError": {
                "code": "23505",
                "message": 'duplicate key value violates unique constraint "app_versions_name_app_id_key"',
            }
        }
        raise capgo_error("cannot_create_bundle", "Cannot create bundle", more)
    extra = {key: body[key] for key in ("session_key", "key_id") if body.get(key)}
    row = state.add_version(
        app_id, name, checksum=body["checksum"], external_url=url, storage_provider="external", **extra
    )
    return Response(body={"status": "success", "bundle": row})


def _positive_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def set_bundle_channel(state: CapgoState, request: Request) -> Response:
    """`PUT /bundle {app_id, version_id, channel_id}`: the channel's stable bundle."""
    body = arguments(request)
    version_id, channel_id = _positive_id(body.get("version_id")), _positive_id(body.get("channel_id"))
    if not body.get("app_id") or version_id is None or channel_id is None:
        more = {key: body.get(key) for key in ("app_id", "version_id", "channel_id")}
        raise capgo_error("missing_required_fields", "Missing required fields", more)
    app_id = app_of(state, body)
    channel = state.channels.get(channel_id)
    if channel is not None and channel["app_id"] != app_id:
        channel = None
    version = state.versions.get(version_id)
    if version is None or version["app_id"] != app_id or version["deleted"]:
        raise capgo_error("cannot_find_version", "Cannot find version")
    if channel is None:
        raise capgo_error("cannot_find_channel", "Cannot find channel")
    state.update_channel(channel, {"version": version_id})
    return Response(body={"status": "success", "message": f"Bundle {version['name']} set to channel {channel['name']}"})


def delete_bundle(state: CapgoState, request: Request) -> Response:
    """One bundle by name, or every bundle that no channel uses when `version` is left out."""
    body = arguments(request)
    app_id = app_of(state, body, denied="cannot_delete_bundle")
    linked = state.linked_version_ids(app_id)
    if body.get("version"):
        row = state.version_named(app_id, str(body["version"]))
        if row is None:
            raise capgo_error("cannot_delete_version", "Cannot delete version", {"supabaseError": None})
        if row["id"] in linked:
            more = {"app_id": app_id, "version": body["version"]}
            raise capgo_error("cannot_delete_linked_version", "Cannot delete a bundle linked to a channel", more)
        targets = [row]
    else:
        targets = [row for row in state.live_versions(app_id) if row["id"] not in linked]
    for row in targets:
        row["deleted"] = True
        row["deleted_at"] = _now()
    return Response(body=OK)


def set_bundle_metadata(state: CapgoState, request: Request) -> Response:
    """`POST /bundle/metadata {app_id, version_id, link?, comment?}`: a bundle's link and comment; a
    deleted bundle's too, as Capgo's lookup does not filter them out."""
    body = arguments(request)
    if not body.get("app_id") or not body.get("version_id"):
        more = {key: body.get(key) for key in ("app_id", "version_id")}
        raise capgo_error("missing_required_fields", "Missing required fields", more)
    why = "You can't update metadata for this app"
    app_id = app_of(state, body, denied="cannot_update_bundle_metadata", why=why)
    row = state.versions.get(_positive_id(body["version_id"]) or 0)
    if row is None or row["app_id"] != app_id:
        raise capgo_error("cannot_find_version", "Cannot find version", {"supabaseError": NO_ROWS})
    changes: dict[str, Any] = {key: body[key] for key in ("link", "comment") if key in body}
    if not changes:
        raise capgo_error("no_fields_to_update", "No fields to update")
    row.update(changes, updated_at=_now())
    return Response(body=OK)


# -- /device -------------------------------------------------------------------------------------
def _with_forced_channel(state: CapgoState, device: dict[str, Any]) -> dict[str, Any]:
    """A device as GET /device shows it: with `channel`, the channel it is forced onto, if any (looked
    up by the lower-cased device id, as Capgo does)."""
    forced = state.forced_channel(str(device["app_id"]), str(device.get("device_id", "")).lower())
    return device if forced is None else {**device, "channel": forced}


def list_devices(state: CapgoState, request: Request) -> Response:
    """The cursor-paged device list; the emulator's devices come only from the state (tests)."""
    body = arguments(request)
    app_id = app_of(state, body)
    devices = [device for device in state.devices if device.get("app_id") == app_id]
    if body.get("device_id"):
        wanted = str(body["device_id"]).lower()  # Capgo stores and reads device ids lower-cased
        device = next((d for d in devices if d.get("device_id") == wanted), None)
        if device is None:
            raise capgo_error("device_not_found", "Cannot find device", {"device_id": body["device_id"]}, status=404)
        return Response(body=_with_forced_channel(state, device))
    limit = page_number(body.get("limit")) or PAGE_SIZE
    cursor = str(body.get("cursor") or "")
    start = int(cursor) if cursor.isdigit() else 0
    chunk = [_with_forced_channel(state, device) for device in devices[start : start + limit]]
    more = start + limit < len(devices)
    return Response(body={"data": chunk, "nextCursor": str(start + limit) if more else None, "hasMore": more})


def force_device_channel(state: CapgoState, request: Request) -> Response:
    """`POST /device {app_id, device_id, channel}`: force a device onto a private channel. Without a
    channel Capgo only checks access and changes nothing: `DELETE /device` ends an override."""
    body = json_body(request)
    app_id, device_id, name = body.get("app_id"), body.get("device_id"), body.get("channel")
    if not device_id or not app_id:
        raise capgo_error("missing_device_id_or_app_id", "Missing device_id or app_id", {"body": body})
    if not is_app_id(app_id):
        raise capgo_error("invalid_app_id", "App ID must be a reverse domain string", {"app_id": app_id})
    if body.get("version_id"):
        raise capgo_error("invalid_version_id", "Cannot set version to device, use channel instead")
    if not name:
        app_of(state, body)
        return Response(body=OK)
    row = state.channel_named(app_id, str(name)) if app_id in state.apps else None
    if row is None:
        raise capgo_error("channel_not_found", "Cannot find channel", {"dbError": NO_ROWS}, status=404)
    if row["public"]:
        raise capgo_error("public_channel_override", "Cannot set channel override for public channel")
    state.forced_channels[(app_id, str(device_id))] = row["id"]  # stored as given, not lower-cased: sic
    return Response(body=OK)


def release_device(state: CapgoState, request: Request) -> Response:
    """`DELETE /device {app_id, device_id}`: end the device's forced channel (ok when it had none)."""
    body = arguments(request)
    if not body.get("app_id"):
        raise capgo_error("missing_app_id", "Missing app_id", {"body": body})
    if not body.get("device_id"):
        raise capgo_error("missing_device_id", "Missing device_id", {"body": body})
    app_id = app_of(state, body)
    state.forced_channels.pop((app_id, str(body["device_id"])), None)
    return Response(body=OK)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


PUBLIC_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/app", list_apps),
    ("POST", "/app", create_app),
    ("GET", "/app/{app_id}", get_app),
    ("PUT", "/app/{app_id}", update_app),
    ("DELETE", "/app/{app_id}", delete_app),
    ("GET", "/channel", get_channels),
    ("POST", "/channel", post_channel),
    ("DELETE", "/channel", delete_channel),
    ("GET", "/bundle", list_bundles),
    ("POST", "/bundle", create_bundle),
    ("PUT", "/bundle", set_bundle_channel),
    ("DELETE", "/bundle", delete_bundle),
    ("POST", "/bundle/metadata", set_bundle_metadata),
    ("GET", "/device", list_devices),
    ("POST", "/device", force_device_channel),
    ("DELETE", "/device", release_device),
]


def compile_routes(table: list[tuple[str, str, Handler]]) -> list[tuple[str, re.Pattern[str], Handler]]:
    """`/app/{app_id}` → a pattern whose named group takes one path segment."""
    return [
        (method, re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)), handler)
        for method, template, handler in table
    ]


def find_route(routes: list[tuple[str, re.Pattern[str], Handler]], request: Request, path: str) -> Handler | None:
    for method, pattern, handler in routes:
        match = pattern.fullmatch(path)
        if match is not None and method == request.method:
            request.params.update(match.groupdict())
            return handler
    return None
