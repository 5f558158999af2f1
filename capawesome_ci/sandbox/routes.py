"""The REST endpoints of the sandbox, with the paths, fields, list semantics and error bodies of
Capawesome Cloud (see shared/reference/capawesome-cloud-api.md §1–§5)."""

from __future__ import annotations

import math
import re
import secrets
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from capawesome_ci.sandbox.artifacts import artifact_chunks, file_chunks
from capawesome_ci.sandbox.server import ApiFailure, Request, Response, bad_request, invalid, not_found
from capawesome_ci.sandbox.state import (
    LOG_TEMPLATES,
    OUTCOMES,
    TERMINAL,
    JobRecord,
    RequestRecord,
    SandboxState,
    iso,
    job_json,
    new_id,
)

BUILD_TYPES: dict[str, tuple[str, ...]] = {
    "android": ("debug", "release"),
    "ios": ("simulator", "development", "ad-hoc", "app-store", "enterprise"),
    "web": (),
}
STACKS = ("macos-sequoia", "macos-tahoe")
BUILD_FIELDS = frozenset(
    {
        "platform", "type", "stack", "gitRef", "appBuildSourceId", "appCertificateId", "appCertificateName",
        "appConfigurationId", "appConfigurationName", "appEnvironmentId", "appEnvironmentName",
        "adHocEnvironmentVariables", "appChannelId", "appChannelIds", "appChannelNames", "appDestinationId",
        "releaseNotes",
    }
)  # fmt: skip
DEPLOYMENT_TARGETS = ("appChannelId", "appChannelName", "appDestinationId", "appDestinationName")
# A real 1x1 PNG: enough of a QR code for a sandbox.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SIGNED_URL_SECONDS = 15 * 60

Handler = Callable[[SandboxState, Request], Response]


# -- validation helpers --------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    """The type names zod uses in its messages."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), "unknown")


def _string(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid([key], "Required")
        return None
    if not isinstance(value, str):
        raise invalid([key], f"Expected string, received {_type_name(value)}")
    if required and not value:
        raise invalid([key], "String must contain at least 1 character(s)")
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid([key], "Expected array of strings")
    return value


def _rollout(body: dict[str, Any], required: bool) -> float:
    value = body.get("rolloutPercentage")
    if value is None:
        if required:
            raise invalid(["rolloutPercentage"], "Required")
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(["rolloutPercentage"], f"Expected number, received {_type_name(value)}")
    if not 0 <= value <= 1:
        raise invalid(["rolloutPercentage"], "Number must be between 0 and 1")
    return float(value)


def _release_notes(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        raise invalid(["releaseNotes"], "Expected an object of strings")
    if "default" not in value:
        raise invalid(["releaseNotes", "default"], "Required")
    return value


def _page(items: list[Any], request: Request, default_limit: int | None = 10, max_limit: int = 100) -> list[Any]:
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


def _find(items: list[dict[str, Any]], app_id: str, key: str, value: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["appId"] == app_id and item[key] == value:
            return item
    raise not_found(what)


# -- users and apps ------------------------------------------------------------------------------
def _app(state: SandboxState, request: Request) -> dict[str, Any]:
    app = state.apps.get(request.params["app"])
    if app is None:
        raise not_found("App")
    return app


def get_me(state: SandboxState, request: Request) -> Response:
    return Response(body=state.user)


def list_apps(state: SandboxState, request: Request) -> Response:
    query = request.query
    apps = [
        app
        for app in state.apps.values()
        if query.get("name") in (None, app["name"])
        and query.get("organizationId") in (None, app["organizationId"])
        and query.get("query", "").lower() in app["name"].lower()
    ]
    return Response(body=_page(apps, request))


def get_app(state: SandboxState, request: Request) -> Response:
    return Response(body=_app(state, request))


def list_named(attribute: str) -> Handler:
    """Certificates, environments, configurations, destinations: read-only seeds, `name=` exact."""

    def handler(state: SandboxState, request: Request) -> Response:
        app, name = _app(state, request), request.query.get("name")
        items = [item for item in getattr(state, attribute) if item["appId"] == app["id"]]
        return Response(body=_page([item for item in items if name in (None, item["name"])], request))

    return handler


# -- channels ------------------------------------------------------------------------------------
def _app_channels(state: SandboxState, app_id: str) -> list[dict[str, Any]]:
    return [channel for channel in state.channels.values() if channel["appId"] == app_id]


def _channel(state: SandboxState, request: Request) -> dict[str, Any]:
    app = _app(state, request)
    return _find(_app_channels(state, app["id"]), app["id"], "id", request.params["channel"], "App channel")


def _channel_json(state: SandboxState, channel: dict[str, Any], request: Request) -> dict[str, Any]:
    if "appDeployment" not in request.relations():
        return channel
    return {**channel, "appDeployment": state.deployments.get(channel["appDeploymentId"] or "")}


def _channel_fields(state: SandboxState, channel: dict[str, Any] | None, app_id: str, body: dict[str, Any]) -> None:
    """Validate a channel create/update body (the CLI also sends `appId`, which is ignored)."""
    name = _string(body, "name", required=channel is None)
    if name is not None and any(c["name"] == name and c is not channel for c in _app_channels(state, app_id)):
        raise invalid(["name"], "Channel name already exists.")
    if body.get("protected") is not None and not isinstance(body["protected"], bool):
        raise invalid(["protected"], f"Expected boolean, received {_type_name(body['protected'])}")
    _string(body, "expiresAt")


def list_channels(state: SandboxState, request: Request) -> Response:
    query = request.query
    channels = [
        channel
        for channel in _app_channels(state, _app(state, request)["id"])
        if query.get("name") in (None, channel["name"]) and query.get("query", "").lower() in channel["name"].lower()
    ]
    return Response(body=[_channel_json(state, channel, request) for channel in _page(channels, request)])


def create_channel(state: SandboxState, request: Request) -> Response:
    app, body = _app(state, request), request.json()
    _channel_fields(state, None, app["id"], body)
    channel = state.add_channel(app["id"], body["name"], bool(body.get("protected")), body.get("expiresAt"))
    return Response(201, channel)


def get_channel(state: SandboxState, request: Request) -> Response:
    return Response(body=_channel_json(state, _channel(state, request), request))


def update_channel(state: SandboxState, request: Request) -> Response:
    channel, body = _channel(state, request), request.json()
    _channel_fields(state, channel, channel["appId"], body)
    if body.get("name") is not None:
        channel["name"] = body["name"]
    if "protected" in body:
        channel["protectedAt"] = (channel["protectedAt"] or iso()) if body["protected"] else None
    if "expiresAt" in body:
        channel["expiresAt"] = body["expiresAt"]
    channel["updatedAt"] = iso()
    return Response(body=channel)


def delete_channel(state: SandboxState, request: Request) -> Response:
    del state.channels[_channel(state, request)["id"]]
    return Response(204)


def delete_channel_by_name(state: SandboxState, request: Request) -> Response:
    app = _app(state, request)
    name = _string(request.query, "name", required=True)
    del state.channels[_find(_app_channels(state, app["id"]), app["id"], "name", name or "", "App channel")["id"]]
    return Response(204)


def pause_channel(paused: bool) -> Handler:
    def handler(state: SandboxState, request: Request) -> Response:
        channel = _channel(state, request)
        channel["pausedAt"] = (channel["pausedAt"] or iso()) if paused else None
        return Response(204)

    return handler


# -- builds --------------------------------------------------------------------------------------
def _build(state: SandboxState, request: Request) -> dict[str, Any]:
    app = _app(state, request)
    build = state.builds.get(request.params["build"])
    if build is None or build["appId"] != app["id"]:
        raise not_found("App build")
    return build


def _build_json(state: SandboxState, build: dict[str, Any], relations: set[str]) -> dict[str, Any]:
    data = dict(build)
    if "appBuildArtifacts" in relations:
        data["appBuildArtifacts"] = [a for a in state.artifacts.values() if a["appBuildId"] == build["id"]]
    if relations & {"job", "job.jobLogs"}:
        data["job"] = job_json(state.jobs[build["jobId"]], state.now, "job.jobLogs" in relations)
    return data


def _sandbox_number(variables: dict[str, str], name: str, default: float, minimum: float = 0) -> float:
    """A per-build sandbox override, passed as an ad-hoc environment variable."""
    if name not in variables:
        return default
    try:
        value = float(variables[name])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise invalid(["adHocEnvironmentVariables", name], f"Expected a number of at least {minimum:g}")
    return value


def create_build(state: SandboxState, request: Request) -> Response:
    app, body = _app(state, request), request.json()
    unknown = sorted(set(body) - BUILD_FIELDS)
    if unknown:
        raise invalid([], "Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in unknown))
    platform = body.get("platform")
    if platform is None:
        raise invalid(["platform"], "Required")
    if platform not in BUILD_TYPES:
        raise invalid(["platform"], "Invalid enum value. Expected 'android' | 'ios' | 'web'")
    build_type = body.get("type")
    if build_type is not None and build_type not in BUILD_TYPES[platform]:
        expected = " | ".join(f"'{name}'" for name in BUILD_TYPES[platform])
        raise invalid(["type"], f"Invalid enum value. Expected {expected}" if expected else "Web builds have no type.")
    stack = body.get("stack")
    if stack is not None and stack not in STACKS:
        raise invalid(["stack"], "Invalid enum value. Expected 'macos-sequoia' | 'macos-tahoe'")
    git_ref = _string(body, "gitRef")
    if git_ref is not None and _string(body, "appBuildSourceId") is not None:
        raise invalid(["appBuildSourceId"], "Provide either gitRef or appBuildSourceId, not both.")
    variables = body.get("adHocEnvironmentVariables") or {}
    if not isinstance(variables, dict):
        raise invalid(["adHocEnvironmentVariables"], f"Expected object, received {_type_name(variables)}")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise invalid(["adHocEnvironmentVariables", key], f"Expected string, received {_type_name(value)}")
    requested_outcome = variables.get("CAPAWESOME_SANDBOX_OUTCOME")
    if requested_outcome is not None and requested_outcome not in OUTCOMES:
        expected = " | ".join(f"'{name}'" for name in OUTCOMES)
        raise invalid(["adHocEnvironmentVariables", "CAPAWESOME_SANDBOX_OUTCOME"], f"Expected {expected}")
    log_lines = int(_sandbox_number(variables, "CAPAWESOME_SANDBOX_LOG_LINES", state.config.log_lines, 1))
    run_seconds = _sandbox_number(variables, "CAPAWESOME_SANDBOX_RUN_SECONDS", state.config.run_seconds)
    artifact_size = int(_sandbox_number(variables, "CAPAWESOME_SANDBOX_ARTIFACT_SIZE", state.config.artifact_size))
    references = (
        ("appCertificate", state.certificates, "App certificate"),
        ("appEnvironment", state.environments, "App environment"),
        ("appConfiguration", state.configurations, "App configuration"),
        ("appDestination", state.destinations, "App destination"),
    )
    for prefix, items, what in references:
        for suffix, key in (("Id", "id"), ("Name", "name")):
            value = _string(body, prefix + suffix)
            if value is not None:
                _find(items, app["id"], key, value, what)
    if body.get("releaseNotes") is not None:
        if body.get("appDestinationId") is None:
            raise invalid(["releaseNotes"], "Release notes are only supported together with appDestinationId.")
        _release_notes(body["releaseNotes"])
    channels = _app_channels(state, app["id"])
    wanted = [("id", value) for value in _strings(body, "appChannelIds")]
    wanted += [("name", value) for value in _strings(body, "appChannelNames")]
    if body.get("appChannelId") is not None:  # deprecated, still accepted
        wanted.append(("id", str(_string(body, "appChannelId"))))
    channel_ids = [_find(channels, app["id"], key, value, "App channel")["id"] for key, value in wanted]
    if channel_ids and platform != "web":
        raise bad_request("Only web builds can be deployed to channels.")

    outcome = state.take_outcome(requested_outcome)
    job = state.new_job(
        app["id"], platform, outcome, stack or app["buildStack"], log_lines=log_lines, run_seconds=run_seconds
    )
    build = state.new_build(app["id"], platform, job, build_type, git_ref)
    state.build_plans[build["id"]] = {"channel_ids": list(dict.fromkeys(channel_ids)), "artifact_size": artifact_size}
    return Response(201, build)


def list_builds(state: SandboxState, request: Request) -> Response:
    app, query = _app(state, request), request.query
    builds = [
        build
        for build in reversed(state.builds.values())  # newest first
        if build["appId"] == app["id"]
        and query.get("platform") in (None, build["platform"])
        and query.get("numberAsString") in (None, build["numberAsString"])
    ]
    relations = request.relations()
    return Response(body=[_build_json(state, build, relations) for build in _page(builds, request)])


def get_build(state: SandboxState, request: Request) -> Response:
    return Response(body=_build_json(state, _build(state, request), request.relations()))


# -- artifacts -----------------------------------------------------------------------------------
def _artifact(state: SandboxState, request: Request) -> dict[str, Any]:
    build = _build(state, request)
    artifact = state.artifacts.get(request.params["artifact"])
    if artifact is None or artifact["appBuildId"] != build["id"]:
        raise not_found("App build artifact")
    return artifact


def list_artifacts(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    return Response(body=_page([a for a in state.artifacts.values() if a["appBuildId"] == build["id"]], request))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single `bytes=` range, or None to send everything: RFC 9110 lets
    a server ignore a Range header it does not understand (several ranges, first > last)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if match is None or not any(match.groups()):
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), min(size, int(last) + 1) if last else size
        if last and int(last) < start:
            return None
    else:
        start, end = max(0, size - int(last)), size
    if start >= end:
        raise ApiFailure(416, {"message": "Range not satisfiable."}, {"Content-Range": f"bytes */{size}"})
    return start, end


def _stream_artifact(state: SandboxState, artifact: dict[str, Any], request: Request) -> Response:
    bundle = state.bundles.get(artifact["id"])  # an uploaded bundle is served from disk, others are generated
    served = bundle.served if bundle else None
    if bundle is not None and served is None:
        raise ApiFailure(404, {"message": "App build artifact has no file."})
    size = served.size if served else artifact["totalSizeInBytes"]
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{artifact["fileName"]}"',
        "Accept-Ranges": "bytes",
    }
    byte_range = _byte_range(request.headers.get("range"), size)
    start, end = byte_range or (0, size)
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    artifact["totalDownloads"] += 1
    if served is not None and served.path is not None:
        chunks = file_chunks(served.path, start, end)
    else:
        chunks = artifact_chunks(state.artifact_seed(artifact["id"]), size, start, end)
    return Response(206 if byte_range else 200, headers=headers, stream=chunks, length=end - start)


def download_artifact(state: SandboxState, request: Request) -> Response:
    return _stream_artifact(state, _artifact(state, request), request)


def signed_download_url(state: SandboxState, request: Request) -> Response:
    artifact = _artifact(state, request)
    capability = secrets.token_urlsafe(24)
    expires = time.time() + SIGNED_URL_SECONDS
    state.signed_urls[capability] = (artifact["id"], expires)
    file_name = request.query.get("fileName") or artifact["fileName"]
    # The Host the client used, so the URL works however the sandbox was reached.
    url = f"http://{request.headers.get('host', '')}/signed/{capability}/{quote(file_name)}"
    return Response(body={"url": url, "expiresAt": int(expires * 1000)})


def signed_download(state: SandboxState, request: Request) -> Response:
    artifact_id, expires = state.signed_urls.get(request.params["capability"], ("", 0.0))
    if artifact_id not in state.artifacts or time.time() > expires:
        raise ApiFailure(404, {"message": "Not found."})
    return _stream_artifact(state, state.artifacts[artifact_id], request)


# -- shares --------------------------------------------------------------------------------------
def create_share(state: SandboxState, request: Request) -> Response:
    build, body = _build(state, request), request.json()
    share = {
        "id": new_id(),
        "appBuildId": build["id"],
        "description": _string(body, "description"),
        "expiresAt": _string(body, "expiresAt"),
        "createdAt": iso(),
    }
    state.shares[share["id"]] = share
    return Response(201, share)


def list_shares(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    return Response(body=_page([s for s in state.shares.values() if s["appBuildId"] == build["id"]], request))


def delete_share(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    share = state.shares.get(request.params["share"])
    if share is None or share["appBuildId"] != build["id"]:
        raise not_found("App build share")
    del state.shares[share["id"]]
    return Response(204)


# -- deployments ---------------------------------------------------------------------------------
def _deployment_json(state: SandboxState, deployment: dict[str, Any], relations: set[str]) -> dict[str, Any]:
    data = dict(deployment)
    if "appBuild" in relations:
        data["appBuild"] = state.builds.get(deployment["appBuildId"])
    if relations & {"job", "job.jobLogs"}:
        job = state.jobs.get(deployment["jobId"] or "")
        data["job"] = job_json(job, state.now, "job.jobLogs" in relations) if job else None
    return data


def create_deployment(state: SandboxState, request: Request) -> Response:
    app, body = _app(state, request), request.json()
    build_id = str(_string(body, "appBuildId", required=True))
    rollout = _rollout(body, required=False)
    targets = [key for key in DEPLOYMENT_TARGETS if body.get(key) is not None]
    if len(targets) != 1:
        raise invalid([], "Provide exactly one of " + ", ".join(DEPLOYMENT_TARGETS) + ".")
    target, to_channel = targets[0], targets[0].startswith("appChannel")
    target_value = str(_string(body, target, required=True))
    notes = body.get("releaseNotes")
    if notes is not None:
        if to_channel:
            raise invalid(["releaseNotes"], "Release notes are only supported for destination deployments.")
        notes = _release_notes(notes)
    build = state.builds.get(build_id)
    if build is None or build["appId"] != app["id"]:
        raise not_found("App build")
    if state.jobs[build["jobId"]].status(state.now) != "succeeded":
        raise bad_request("App build is not ready.")
    key = "id" if target.endswith("Id") else "name"
    if to_channel:
        channel = _find(_app_channels(state, app["id"]), app["id"], key, target_value, "App channel")
        if build["platform"] != "web":
            raise bad_request("Only web builds can be deployed to a channel.")
        return Response(201, state.deploy_to_channel(build, channel, rollout))
    destination = _find(state.destinations, app["id"], key, target_value, "App destination")
    if build["platform"] != destination["platform"]:
        raise bad_request(f"The destination {destination['name']} only accepts {destination['platform']} builds.")
    job = state.new_job(
        app["id"],
        "deployment",
        state.take_outcome(None),
        build["stack"],
        log_lines=len(LOG_TEMPLATES["deployment"]) + 1,
    )
    deployment = state.new_deployment(
        build, rollout, destination_id=destination["id"], job_id=job.id, release_notes=notes
    )
    job.app_deployment_id = deployment["id"]
    return Response(201, deployment)


def list_deployments(state: SandboxState, request: Request) -> Response:
    app, query = _app(state, request), request.query
    deployments = [
        deployment
        for deployment in reversed(state.deployments.values())  # newest first
        if deployment["appId"] == app["id"]
        and all(query.get(key) in (None, deployment[key]) for key in ("appBuildId", "appChannelId", "appDestinationId"))
    ]
    relations = request.relations()
    return Response(body=[_deployment_json(state, d, relations) for d in _page(deployments, request)])


def _deployment(state: SandboxState, request: Request) -> dict[str, Any]:
    app = _app(state, request)
    deployment = state.deployments.get(request.params["deployment"])
    if deployment is None or deployment["appId"] != app["id"]:
        raise not_found("App deployment")
    return deployment


def get_deployment(state: SandboxState, request: Request) -> Response:
    return Response(body=_deployment_json(state, _deployment(state, request), request.relations()))


def update_deployment(state: SandboxState, request: Request) -> Response:
    deployment = _deployment(state, request)
    deployment["rolloutPercentage"] = _rollout(request.json(), required=True)
    deployment["updatedAt"] = iso()
    return Response(body=deployment)


# -- jobs ----------------------------------------------------------------------------------------
def _job(state: SandboxState, request: Request) -> JobRecord:
    job = state.jobs.get(request.params["job"])
    if job is None:
        raise not_found("Job")
    return job


def get_job(state: SandboxState, request: Request) -> Response:
    return Response(body=job_json(_job(state, request), state.now, "jobLogs" in request.relations()))


def job_logs(state: SandboxState, request: Request) -> Response:
    # Without `limit`, every line (what the official clients expect); `offset` lets a poller fetch only new lines.
    logs = _job(state, request).logs_json(state.now)
    return Response(body=_page(logs, request, default_limit=None, max_limit=1000))


def cancel_job(state: SandboxState, request: Request) -> Response:
    job = _job(state, request)
    if request.json() != {"status": "canceled"}:
        raise invalid(["status"], 'Invalid literal value, expected "canceled"')
    now = state.now
    if job.status(now) in TERMINAL:
        raise bad_request("Job is already finished.")
    job.lines_before_cancel = job.visible_lines(now)
    job.canceled_at = now
    return Response(body=job.to_json(now))


def failure_summary(state: SandboxState, request: Request) -> Response:
    job = _job(state, request)
    if job.status(state.now) != "failed":
        raise bad_request("Job has not failed.")
    if job.failure_summary is None:  # generated once, then cached, like the real one
        job.failure_summary = (
            f"The job failed because: {job.status_message('failed')} The log shows no earlier error, so the failing "
            "step itself is the place to look; run the same command locally to reproduce it."
        )
    return Response(body={"summary": job.failure_summary})


# -- pages without a token -----------------------------------------------------------------------
def qr_code(state: SandboxState, request: Request) -> Response:
    _string(request.query, "content", required=True)
    return Response(headers={"Content-Type": "image/png"}, raw=PNG)


def console_page(state: SandboxState, request: Request) -> Response:
    page = f"<!doctype html><title>Capawesome Cloud sandbox</title><p>Sandbox console stand-in for {request.path}</p>"
    return Response(headers={"Content-Type": "text/html; charset=utf-8"}, raw=page.encode())


from capawesome_ci.sandbox import bundles  # noqa: E402  (bundles builds on the helpers above)

A = r"/v1/apps/(?P<app>[^/]+)"
B = A + r"/builds/(?P<build>[^/]+)"
BU = A + r"/bundles/(?P<bundle>[^/]+)"
_TABLE: list[tuple[str, dict[str, Handler]]] = [
    (r"/v1/users/me", {"GET": get_me}),
    (r"/v1/apps", {"GET": list_apps}),
    (A, {"GET": get_app}),
    (A + r"/channels", {"GET": list_channels, "POST": create_channel, "DELETE": delete_channel_by_name}),
    (A + r"/channels/(?P<channel>[^/]+)", {"GET": get_channel, "PATCH": update_channel, "DELETE": delete_channel}),
    (A + r"/channels/(?P<channel>[^/]+)/pause", {"POST": pause_channel(True)}),
    (A + r"/channels/(?P<channel>[^/]+)/resume", {"POST": pause_channel(False)}),
    (A + r"/builds", {"GET": list_builds, "POST": create_build}),
    (B, {"GET": get_build}),
    (B + r"/artifacts", {"GET": list_artifacts}),
    (B + r"/artifacts/(?P<artifact>[^/]+)/download", {"GET": download_artifact}),
    (B + r"/artifacts/(?P<artifact>[^/]+)/signed-download-url", {"GET": signed_download_url}),
    (B + r"/shares", {"GET": list_shares, "POST": create_share}),
    (B + r"/shares/(?P<share>[^/]+)", {"DELETE": delete_share}),
    (A + r"/deployments", {"GET": list_deployments, "POST": create_deployment}),
    (A + r"/deployments/(?P<deployment>[^/]+)", {"GET": get_deployment, "PATCH": update_deployment}),
    (A + r"/bundles", {"POST": bundles.create_bundle}),
    (BU, {"PATCH": bundles.update_bundle, "DELETE": bundles.delete_bundle}),
    (BU + r"/files", {"POST": bundles.create_file}),
    (BU + r"/files/(?P<file>[^/]+)/upload", {"POST": bundles.upload_action, "PUT": bundles.upload_part}),
    (A + r"/destinations", {"GET": list_named("destinations")}),
    (A + r"/certificates", {"GET": list_named("certificates")}),
    (A + r"/environments", {"GET": list_named("environments")}),
    (A + r"/configurations", {"GET": list_named("configurations")}),
    (r"/v1/jobs/(?P<job>[^/]+)", {"GET": get_job, "PATCH": cancel_job}),
    (r"/v1/jobs/(?P<job>[^/]+)/logs", {"GET": job_logs}),
    (r"/v1/jobs/(?P<job>[^/]+)/failure-summary", {"POST": failure_summary}),
    (r"/v1/qrcodes", {"GET": qr_code}),
    (r"/signed/(?P<capability>[^/]+)/[^/]+", {"GET": signed_download}),
    (r"/console(?:/.*)?", {"GET": console_page}),
]
ROUTES = [(re.compile(pattern), handlers) for pattern, handlers in _TABLE]
PUBLIC_V1 = ("/v1/qrcodes",)  # the QR code image is embedded in pages, so it takes no token


def _route(state: SandboxState, request: Request) -> Response:
    path = request.path.rstrip("/") or "/"
    authorized = request.headers.get("authorization") == f"Bearer {state.token}"
    if path.startswith("/v1/") and path not in PUBLIC_V1 and not authorized:
        raise ApiFailure(401, {"message": "Unauthorized."})
    for pattern, handlers in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            raise ApiFailure(405, {"message": "Method not allowed."}, {"Allow": ", ".join(handlers)})
        request.params = match.groupdict()
        with state.lock:
            state.settle()
            return handler(state, request).encode()  # serialized now: the dicts it holds are shared, mutable state
    raise ApiFailure(404, {"message": "Not found."})


def dispatch(state: SandboxState, request: Request) -> Response:
    """Answer one request and record it in `state.requests`."""
    try:
        response = _route(state, request)
    except ApiFailure as failure:
        response = Response(failure.status, failure.body, failure.headers).encode()
    except Exception:  # a sandbox bug: say so on stderr and answer like a server would
        traceback.print_exc()
        response = Response(500, {"message": "Internal server error."}).encode()
    with state.lock:
        state.requests.append(RequestRecord(request.method, request.path, request.query_string, response.status))
    return response
