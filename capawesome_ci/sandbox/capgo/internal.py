"""The routes behind Capgo's hosted upload, as `@capgo/cli` 8.68.1 calls them for `bundle upload`,
`bundle list`, `channel set|list|add` (traced against this emulator, read from its dist JS):

    GET  /private/config        where its Supabase client goes: this emulator, with an anon key
    GET  /files/config          upload settings: no TUS, so the CLI asks for one presigned PUT
    POST /files/upload_link     that PUT's URL, for a version row the CLI created first
    PUT  /files/upload/<ticket> the zip (kept on disk), GET /files/read/attachments/<r2 path> serves it
    POST /private/events        analytics: accepted, kept for tests
    DELETE /private/delete_failed_version  the clean-up of an upload whose zip never arrived
    /rest/v1/<table>            PostgREST reads (select=, eq./neq./is./in. filters, order, limit) and
                                upserts, for the few tables and columns the CLI touches
    /rest/v1/rpc/<function>     the permission and plan checks (all pass for the sandbox's key)

PostgREST answers in PostgREST's shapes (`{code, details, hint, message}`), not Capgo's."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from capawesome_ci.sandbox.capgo.routes import authenticate, capgo_error, find_route, json_body, not_found
from capawesome_ci.sandbox.capgo.state import CapgoState
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

Handler = Callable[[CapgoState, Request], Response]
SINGLE_OBJECT = "application/vnd.pgrst.object+json"
MAX_UPLOAD = 1024**3  # what /files/config announces


# -- the CLI's configuration -------------------------------------------------------------------------
def private_config(state: CapgoState, request: Request) -> Response:
    return Response(body={"supaHost": state.origin, "supaKey": state.anon_key})


def files_config(state: CapgoState, request: Request) -> Response:
    return Response(
        body={
            "partialUpload": False,
            "TUSUpload": False,
            "partialUploadForced": False,
            "TUSUploadForced": False,
            "maxUploadLength": MAX_UPLOAD,
            "maxChunkSize": 99 * 1024**2,
            "alertUploadSize": 20 * 1024**2,
        }
    )


def private_events(state: CapgoState, request: Request) -> Response:
    body = json_body(request)
    state.events.append(body)
    return Response(body={})


def delete_failed_version(state: CapgoState, request: Request) -> Response:
    """`DELETE /private/delete_failed_version {app_id, name}`: the CLI's clean-up after a failed upload.
    A row still `r2-direct` whose zip never arrived is removed for good, so its name is free again."""
    capgo_key(state, request)
    body = json_body(request)
    app_id, name = body.get("app_id"), body.get("name")
    if app_id not in state.apps:
        raise capgo_error("app_not_found", "Error App not found", status=404)
    if not name:
        raise capgo_error("error_bundle_name_missing", "Error bundle name missing")
    row = state.version_named(str(app_id), str(name))
    if row is None or row["storage_provider"] != "r2-direct":
        raise capgo_error("error_already_deleted", "Already deleted")
    if state.bundle_path(row["id"]).is_file():
        message = "Error already uploaded to S3, delete is unsafe use the webapp to delete it"
        raise capgo_error("error_already_uploaded_to_s3", message)
    del state.versions[row["id"]]
    return Response(body={"status": "ok"})


# -- the files host ------------------------------------------------------------------------------
def upload_link(state: CapgoState, request: Request) -> Response:
    """`{app_id, name}` → `{url}`: a one-use PUT target for the zip of that (already created) version."""
    capgo_key(state, request)
    body = json_body(request)
    app_id, name = body.get("app_id"), body.get("name")
    row = state.version_named(str(app_id), str(name)) if app_id in state.apps else None
    if row is None:
        raise capgo_error("cannot_get_upload_link", "Cannot find version", {"app_id": app_id, "name": name})
    row["r2_path"] = row["r2_path"] or state.r2_path(row["app_id"], row["name"])
    return Response(body={"url": state.new_upload_ticket(row["id"]), "path": row["r2_path"]})


def upload(state: CapgoState, request: Request) -> Response:
    ticket = request.params["ticket"]
    version_id = state.upload_tickets.pop(ticket, None)
    if version_id is None:
        raise ApiFailure(403, {"error": "invalid_signature", "message": "The upload URL is invalid or used."})
    if len(request.raw_body) > MAX_UPLOAD:
        raise capgo_error("file_too_large", "The bundle is larger than the upload limit", status=413)
    state.bundle_path(version_id).write_bytes(request.raw_body)
    digest = hashlib.md5(request.raw_body).hexdigest()
    return Response(200, raw=b"", headers={"ETag": f'"{digest}"'})


def read_file(state: CapgoState, request: Request) -> Response:
    """A stored bundle's bytes, by its r2 path; streamed from disk."""
    row = state.version_by_r2_path(request.params["path"])
    if row is None or not state.bundle_path(row["id"]).is_file():
        raise not_found()
    path = state.bundle_path(row["id"])
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk

    headers = {"Content-Type": "application/zip", "Content-Disposition": f'attachment; filename="{row["name"]}.zip"'}
    return Response(200, headers=headers, stream=chunks(), length=size)


# -- PostgREST -----------------------------------------------------------------------------------
def postgrest_error(status: int, code: str, message: str, details: str | None = None) -> ApiFailure:
    return ApiFailure(status, {"code": code, "details": details, "hint": None, "message": message})


def capgo_key(state: CapgoState, request: Request) -> None:
    """The files and private routes authenticate as the public API does."""
    authenticate(state, request)


def rest_auth(state: CapgoState, request: Request) -> None:
    """Supabase's gateway wants the anon key in `apikey`; Capgo's row policies want the API key in
    `capgkey` (without it, nothing of the organisation is visible: a 401 here, to make it plain)."""
    if request.headers.get("apikey") != state.anon_key:
        raise ApiFailure(401, {"message": "Invalid API key", "hint": "Double check your Supabase `anon` key."})
    if request.headers.get("capgkey") != state.token:
        raise postgrest_error(401, "42501", "permission denied: the capgkey header is missing or invalid")


def postgrest_json(request: Request) -> Any:
    try:
        return json.loads(request.raw_body) if request.raw_body.strip() else None
    except ValueError:
        raise postgrest_error(400, "PGRST102", "Empty or invalid json") from None


def split_top_level(text: str) -> list[str]:
    """`a,b(c,d),e` → ['a', 'b(c,d)', 'e']."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


# channels' foreign keys to app_versions, by the names PostgREST embeds them under
CHANNEL_EMBEDS = {
    "version": "version",
    "channels_version_fkey": "version",
    "rollout_version": "rollout_version",
    "channels_rollout_version_fkey": "rollout_version",
}


def project(state: CapgoState, table: str, row: dict[str, Any], select: str) -> dict[str, Any]:
    """The row as PostgREST's `select=` shapes it: columns, `alias:column`, and the embeds of a
    channel's bundles (`version(id,name)`, `alias:app_versions!channels_rollout_version_fkey(…)`)."""
    result: dict[str, Any] = {}
    for item in split_top_level(select or "*"):
        if item == "*":
            result.update(row)
            continue
        alias, _, target = item.rpartition(":") if ":" in item.split("(")[0] else ("", "", item)
        if "(" in target:
            name, inner = target.split("(", 1)
            relation = name.split("!")
            key = CHANNEL_EMBEDS.get(relation[-1]) or CHANNEL_EMBEDS.get(relation[0])
            if table != "channels" or key is None:
                raise postgrest_error(
                    400, "PGRST200", f"Could not find a relationship between '{table}' and '{name}' in the schema cache"
                )
            embedded = state.versions.get(row[key]) if row[key] is not None else None
            result[alias or relation[0]] = (
                None if embedded is None else project(state, "app_versions", embedded, inner.rstrip(")"))
            )
            continue
        column = target.split("::")[0].strip()
        if column not in row:
            raise postgrest_error(400, "42703", f"column {table}.{column} does not exist")
        result[alias or column] = row[column]
    return result


def matches(row: dict[str, Any], column: str, condition: str) -> bool:
    operator, _, operand = condition.partition(".")
    value = row.get(column)
    shown = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    if operator == "eq":
        return value is not None and shown == operand
    if operator == "neq":
        return value is not None and shown != operand
    if operator == "is":
        return {"null": value is None, "true": value is True, "false": value is False}.get(operand, False)
    if operator == "in":
        options = [option.strip().strip('"') for option in operand.strip("()").split(",")]
        return value is not None and shown in options
    if operator == "not":
        return not matches(row, column, operand)
    if operator in ("gt", "gte", "lt", "lte") and value is not None:
        left, right = (float(shown), float(operand)) if _numeric(shown, operand) else (shown, operand)
        return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[operator]  # type: ignore[operator]
    raise postgrest_error(400, "PGRST100", f'"failed to parse filter ({condition})"')


def _numeric(*texts: str) -> bool:
    return all(re.fullmatch(r"-?\d+(\.\d+)?", text) for text in texts)


RESERVED_QUERY = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns"})


def table_rows(state: CapgoState, table: str) -> list[dict[str, Any]]:
    if table == "apps":
        return list(state.apps.values())
    if table == "app_versions":
        return list(state.versions.values())
    if table == "channels":
        return list(state.channels.values())
    if table == "orgs":
        return [{"id": state.org_id, "name": "Sandbox", "created_by": state.user_id, "management_email": ""}]
    raise postgrest_error(404, "42P01", f'relation "public.{table}" does not exist')


def read_table(state: CapgoState, request: Request) -> Response:
    rest_auth(state, request)
    table = request.params["table"]
    rows = table_rows(state, table)
    pairs = [pair.split("=", 1) for pair in request.query_string.split("&") if "=" in pair]
    query = [(unquote_plus(key), unquote_plus(value)) for key, value in pairs]
    for column, condition in query:
        if column not in RESERVED_QUERY:
            rows = [row for row in rows if matches(row, column, condition)]
    options = dict(query)
    for order in reversed((options.get("order") or "").split(",")):
        if order:
            column, *flags = order.split(".")
            rows.sort(key=lambda row: (row.get(column) is None, row.get(column)), reverse="desc" in flags)
    offset = int(options.get("offset", "0") or 0)
    limit = options.get("limit")
    rows = rows[offset : offset + int(limit)] if limit else rows[offset:]
    shaped = [project(state, table, row, options.get("select", "*")) for row in rows]
    return answer(request, shaped)


def answer(request: Request, rows: list[dict[str, Any]]) -> Response:
    """Rows as PostgREST returns them: an array, or one object when the client asked for exactly one."""
    if SINGLE_OBJECT in request.headers.get("accept", ""):
        if len(rows) != 1:
            raise postgrest_error(
                406,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
                f"The result contains {len(rows)} rows",
            )
        return Response(body=rows[0], headers={"Content-Type": SINGLE_OBJECT + "; charset=utf-8"})
    return Response(body=rows)


VERSION_WRITABLE = frozenset(
    {
        "name", "app_id", "checksum", "session_key", "key_id", "storage_provider", "external_url", "r2_path",
        "min_update_version", "native_packages", "manifest", "manifest_count", "link", "comment", "cli_version",
        "owner_org", "user_id", "deleted",
    }
)  # fmt: skip


def write_table(state: CapgoState, request: Request) -> Response:
    """`POST /rest/v1/app_versions?on_conflict=name,app_id`: the CLI's upsert of its version row."""
    rest_auth(state, request)
    table = request.params["table"]
    if table != "app_versions":
        raise postgrest_error(405, "PGRST105", f"the sandbox does not write {table}")
    payload = postgrest_json(request)
    items = payload if isinstance(payload, list) else [payload]
    written = []
    for item in items:
        if not isinstance(item, dict) or not item.get("name") or item.get("app_id") not in state.apps:
            raise postgrest_error(403, "42501", 'new row violates row-level security policy for table "app_versions"')
        unknown = sorted(set(item) - VERSION_WRITABLE)
        if unknown:
            raise postgrest_error(400, "PGRST204", f"Could not find the '{unknown[0]}' column of 'app_versions'")
        fields = {key: value for key, value in item.items() if key not in ("name", "app_id")}
        existing = state.version_named(item["app_id"], item["name"], deleted=None)
        upsert = "merge-duplicates" in request.headers.get("prefer", "") and "on_conflict" in request.query
        if existing is not None and not upsert:
            raise postgrest_error(
                409, "23505", 'duplicate key value violates unique constraint "app_versions_name_app_id_key"'
            )
        if existing is not None:
            existing.update(fields)
            written.append(existing)
        else:
            written.append(state.add_version(item["app_id"], item["name"], **fields))
    if "return=representation" not in request.headers.get("prefer", ""):
        return Response(201, raw=b"")
    response = answer(request, written)
    response.status = 201
    return response


# -- RPC -------------------------------------------------------------------------------------------
def _version_id(state: CapgoState, args: dict[str, Any]) -> int | None:
    row = state.version_named(str(args.get("appid")), str(args.get("name_version")))
    return None if row is None else int(row["id"])


def _name_taken(state: CapgoState, args: dict[str, Any]) -> bool:
    return state.version_named(str(args.get("appid")), str(args.get("name_version")), deleted=None) is not None


RPC: dict[str, Callable[[CapgoState, dict[str, Any]], Any]] = {
    # permissions and plan: the sandbox's key may do everything, its organisation pays
    "reject_access_due_to_2fa_for_app": lambda state, args: False,
    "cli_check_permission": lambda state, args: args.get("app_id") in (None, *state.apps),
    "request_actor_user_id": lambda state, args: state.user_id,
    "get_user_id": lambda state, args: state.user_id,
    "get_organization_cli_warnings": lambda state, args: [],
    "is_allowed_action_org_action": lambda state, args: True,
    "is_allowed_action_org": lambda state, args: True,
    "is_allowed_capgkey": lambda state, args: True,
    "is_trial_org": lambda state, args: 0,
    "is_paying_org": lambda state, args: True,
    "is_canceled_org": lambda state, args: False,
    "is_good_plan_v5_org": lambda state, args: True,
    "has_usage_credits_org": lambda state, args: True,
    # bundles: a name once used stays used (Capgo's unique constraint counts deleted rows)
    "exist_app_versions": _name_taken,
    "get_app_versions": _version_id,
}


def call_rpc(state: CapgoState, request: Request) -> Response:
    rest_auth(state, request)
    name = request.params["function"]
    function = RPC.get(name)
    if function is None:
        raise postgrest_error(404, "PGRST202", f"Could not find the function public.{name} in the schema cache")
    args = postgrest_json(request) if request.raw_body.strip() else dict(request.query)
    result = function(state, args if isinstance(args, dict) else {})
    kind = SINGLE_OBJECT if SINGLE_OBJECT in request.headers.get("accept", "") else "application/json"
    # A scalar (false, 0) is a whole JSON answer too: encoded here, as `body` would take it for "none".
    return Response(headers={"Content-Type": kind + "; charset=utf-8"}, raw=json.dumps(result).encode())


INTERNAL_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/private/config"), private_config),
    ("POST", re.compile(r"/private/events"), private_events),
    ("DELETE", re.compile(r"/private/delete_failed_version"), delete_failed_version),
    ("GET", re.compile(r"/files/config"), files_config),
    ("POST", re.compile(r"/files/upload_link"), upload_link),
    ("PUT", re.compile(r"/files/upload/(?P<ticket>[\w-]+)"), upload),
    ("GET", re.compile(r"/files/read/attachments/(?P<path>.+)"), read_file),
    ("GET", re.compile(r"/rest/v1/(?P<table>\w+)"), read_table),
    ("HEAD", re.compile(r"/rest/v1/(?P<table>\w+)"), read_table),
    ("POST", re.compile(r"/rest/v1/rpc/(?P<function>\w+)"), call_rpc),
    ("GET", re.compile(r"/rest/v1/rpc/(?P<function>\w+)"), call_rpc),
    ("POST", re.compile(r"/rest/v1/(?P<table>\w+)"), write_table),
]


def find(request: Request, path: str) -> Handler | None:
    """The internal route for this request, or None (then it is a public API route)."""
    return find_route(INTERNAL_ROUTES, request, path)
