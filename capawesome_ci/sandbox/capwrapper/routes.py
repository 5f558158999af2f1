"""The Capwrapper emulator's routes (docs.capwrapper.com /api/overview, /api/builds): `POST /builds`,
`GET /builds/:id`, `GET /builds`, `POST /deploys` under `/v1` and `/api/v1` (the docs write both),
with Bearer auth and `{error, message}` error bodies; and the download origin's `GET /files/:id`
(signed, expiring, Range-aware)."""

from __future__ import annotations

import re
import traceback
from typing import Any

from capawesome_ci.sandbox.artifacts import artifact_chunks
from capawesome_ci.sandbox.capwrapper.state import CapwrapperState, semver_key
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

PREFIX = re.compile(r"/(?:api/)?v1(?P<rest>/.*)?")
BUILD_FIELDS = frozenset({"url", "appName", "bundleId", "version", "permissions"})
BUNDLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_-]*)+")
STORES = ("google-play", "app-store")
MAX_LIMIT = 100


def failure(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiFailure:
    return ApiFailure(status, {"error": code, "message": message}, headers)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise failure(400, "invalid_request", f"'{key}' is required and must be a string.")
    return value


def create_build(state: CapwrapperState, request: Request) -> Response:
    body = _json(request)
    unknown = sorted(set(body) - BUILD_FIELDS)
    if unknown:
        raise failure(400, "invalid_request", f"Unknown parameter '{unknown[0]}'.")
    url, bundle_id, version = _text(body, "url"), _text(body, "bundleId"), _text(body, "version")
    _text(body, "appName")
    if not re.fullmatch(r"https://[^\s/?#@]+(?:[/?#]\S*)?", url):
        raise failure(400, "invalid_url", "'url' must be a public https URL.")
    if not BUNDLE_ID.fullmatch(bundle_id):
        raise failure(400, "invalid_bundle_id", "'bundleId' must be a reverse-DNS identifier like com.example.app.")
    key = semver_key(version)
    if key is None:
        raise failure(400, "invalid_version", "'version' must be a semantic version like 1.0.0.")
    permissions = body.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(item, str) for item in permissions):
        raise failure(400, "invalid_request", "'permissions' must be a list of strings.")
    latest = state.versions.get(bundle_id)
    latest_key = semver_key(latest) if latest else None
    if latest is not None and latest_key is not None and key <= latest_key:
        raise failure(
            400, "version_not_increased", f"Version {version} must be greater than {latest}, the latest of {bundle_id}."
        )
    build = state.new_build(body)
    return Response(201, {k: build[k] for k in ("id", "status", "createdAt", "url", "appName", "bundleId", "version")})


def _found(state: CapwrapperState, build_id: str) -> dict[str, Any]:
    build = state.builds.get(build_id)
    if build is None:
        raise failure(404, "not_found", "Build not found.")
    return build


def get_build(state: CapwrapperState, request: Request) -> Response:
    return Response(body=state.view(_found(state, request.params["build"])))


def list_builds(state: CapwrapperState, request: Request) -> Response:
    limit_text = request.query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise failure(400, "invalid_request", f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    newest_first = list(reversed(state.builds.values()))[: int(limit_text)]
    return Response(body=[state.view(build) for build in newest_first])


def create_deploy(state: CapwrapperState, request: Request) -> Response:
    """The body is not published: the emulator takes what the adapter sends (buildId, store, the rest
    passed through) and refuses a build that has not succeeded."""
    body = _json(request)
    build = _found(state, _text(body, "buildId"))
    store = _text(body, "store")
    if store not in STORES:
        raise failure(400, "invalid_store", f"'store' must be one of {', '.join(STORES)}.")
    state.settle(build)
    if build["status"] != "success":
        message = f"Build {build['id']} is {build['status']}; only a successful build deploys."
        raise failure(400, "build_not_ready", message)
    deploy = {"id": f"dep_{len(state.deploys) + 1}", "status": "queued", **body}
    state.deploys.append(deploy)
    return Response(201, deploy)


def _json(request: Request) -> dict[str, Any]:
    try:
        return request.json()
    except ApiFailure:
        raise failure(400, "invalid_json", "The request body must be a JSON object.") from None


API_ROUTES: list[tuple[re.Pattern[str], dict[str, Any]]] = [
    (re.compile(r"/builds"), {"GET": list_builds, "POST": create_build}),
    (re.compile(r"/builds/(?P<build>[^/]+)"), {"GET": get_build}),
    (re.compile(r"/deploys"), {"POST": create_deploy}),
]


def _api(state: CapwrapperState, request: Request) -> Response:
    match = PREFIX.fullmatch(request.path.rstrip("/") or "/")
    if match is None:
        raise failure(404, "not_found", "Not found.")
    if request.headers.get("authorization") != f"Bearer {state.token}":
        raise failure(401, "unauthorized", "Invalid or missing API key.")
    rest = match.group("rest") or "/"
    for pattern, handlers in API_ROUTES:
        found = pattern.fullmatch(rest)
        if found is None:
            continue
        handler = handlers.get(request.method)
        if handler is None:
            raise failure(405, "method_not_allowed", "Method not allowed.", {"Allow": ", ".join(handlers)})
        request.params = found.groupdict()
        with state.lock:
            return handler(state, request).encode()  # type: ignore[no-any-return]
    raise failure(404, "not_found", "Not found.")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of one `bytes=a-b` or `bytes=a-`; None (the whole body) otherwise."""
    match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", header or "")
    if match is None:
        return None
    start = int(match.group(1))
    end = min(size, int(match.group(2)) + 1) if match.group(2) else size
    if start >= size or end <= start:
        raise ApiFailure(
            416,
            {"error": "range_not_satisfiable", "message": "Range not satisfiable."},
            {"Content-Range": f"bytes */{size}"},
        )
    return start, end


def download(state: CapwrapperState, request: Request) -> Response:
    """`GET /files/:id?expires=…&signature=…` on the download origin: no token, a signature instead."""
    match = re.fullmatch(r"/files/(?P<build>[^/]+)", request.path)
    if match is None or request.method not in ("GET", "HEAD"):
        raise failure(404, "not_found", "Not found.")
    query = request.query
    with state.lock:
        build = state.builds.get(match.group("build"))
        refused = state.check_signature(match.group("build"), query.get("expires", ""), query.get("signature", ""))
        if build is None or refused == "invalid":
            raise failure(403, "invalid_signature", "The signature of this URL is invalid.")
        if refused == "expired":
            raise failure(403, "expired", "This download URL has expired.")
        size, name, seed = state.config.artifact_size, state.file_name(build), state.seed(build["id"])
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{name}"',
        "Accept-Ranges": "bytes",
    }
    byte_range = _byte_range(request.headers.get("range"), size)
    start, end = byte_range or (0, size)
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    chunks = artifact_chunks(seed, size, start, end)
    return Response(206 if byte_range else 200, headers=headers, stream=chunks, length=end - start)


def dispatch(state: CapwrapperState, request: Request, downloads: bool = False) -> Response:
    """Answer one request of the API origin, or of the download origin with `downloads`."""
    try:
        return download(state, request) if downloads else _api(state, request)
    except ApiFailure as error:
        return Response(error.status, error.body, error.headers).encode()
    except Exception:  # a sandbox bug: say so on stderr and answer like a server would
        traceback.print_exc()
        return Response(500, {"error": "internal", "message": "Internal server error."}).encode()
