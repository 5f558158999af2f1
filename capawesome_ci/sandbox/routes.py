"""The REST endpoints of the sandbox, with the paths, fields, list semantics and error bodies of
Capawesome Cloud (see shared/reference/capawesome-cloud-api.md)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from capawesome_ci.sandbox.artifacts import artifact_chunks
from capawesome_ci.sandbox.http import ApiFailure, Request, Response, invalid, not_found
from capawesome_ci.sandbox.state import (
    ANDROID_LINES,
    DEPLOY_LINES,
    IOS_LINES,
    OUTCOMES,
    TERMINAL,
    WEB_LINES,
    SandboxState,
    new_id,
    now_iso,
)

BUILD_TYPES = {
    "android": ("debug", "release"),
    "ios": ("simulator", "development", "ad-hoc", "app-store", "enterprise"),
    "web": (),
}
BUILD_FIELDS = {
    "platform",
    "type",
    "stack",
    "gitRef",
    "appBuildSourceId",
    "appCertificateId",
    "appCertificateName",
    "appConfigurationId",
    "appConfigurationName",
    "appEnvironmentId",
    "appEnvironmentName",
    "adHocEnvironmentVariables",
    "appChannelId",
    "appChannelIds",
    "appChannelNames",
    "appDestinationId",
    "releaseNotes",
}
# A 1x1 transparent PNG: enough for a QR code stand-in.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SIGNED_URL_SECONDS = 15 * 60

Handler = Callable[[SandboxState, Request], Response]


def _page(
    items: list[dict[str, Any]], request: Request, default_limit: int | None = 10, max_limit: int = 100
) -> list[dict[str, Any]]:
    query = request.query
    try:
        limit = int(query["limit"]) if "limit" in query else default_limit
        offset = int(query.get("offset", "0"))
    except ValueError:
        raise invalid("limit", "Expected number, received nan") from None
    if limit is not None and not 1 <= limit <= max_limit:
        raise invalid("limit", f"Number must be between 1 and {max_limit}")
    if offset < 0:
        raise invalid("offset", "Number must be greater than or equal to 0")
    return items[offset:] if limit is None else items[offset : offset + limit]


def _app(state: SandboxState, request: Request) -> dict[str, Any]:
    app = state.apps.get(request.params["app"])
    if app is None:
        raise not_found("App")
    return app


def _by_name(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    app_id, name = request.params["app"], request.query.get("name")
    return [i for i in items if i["appId"] == app_id and (name is None or i["name"] == name)]


def _string(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid(key, "Required")
        return None
    if not isinstance(value, str) or not value:
        raise invalid(key, "Expected string, received " + type(value).__name__)
    return value


# -- users and apps ------------------------------------------------------------------------------
def get_me(state: SandboxState, request: Request) -> Response:
    return Response(body=state.user)


def list_apps(state: SandboxState, request: Request) -> Response:
    name = request.query.get("name")
    return Response(body=_page([a for a in state.apps.values() if name is None or a["name"] == name], request))


def get_app(state: SandboxState, request: Request) -> Response:
    return Response(body=_app(state, request))


# -- channels ------------------------------------------------------------------------------------
def _channel(state: SandboxState, request: Request) -> dict[str, Any]:
    _app(state, request)
    channel = state.channels.get(request.params["channel"])
    if channel is None or channel["appId"] != request.params["app"]:
        raise not_found("App channel")
    return channel


def list_channels(state: SandboxState, request: Request) -> Response:
    _app(state, request)
    items = _by_name(list(state.channels.values()), request)
    if "query" in request.query:
        items = [c for c in items if request.query["query"].lower() in c["name"].lower()]
    return Response(body=_page(items, request))


def create_channel(state: SandboxState, request: Request) -> Response:
    app = _app(state, request)
    body = request.json()
    name = _string(body, "name", required=True)
    assert name is not None
    if any(c["name"] == name and c["appId"] == app["id"] for c in state.channels.values()):
        raise invalid("name", "Channel name already exists.")
    channel = state.add_channel(app["id"], name, bool(body.get("protected")), body.get("expiresAt"))
    return Response(201, channel)


def get_channel(state: SandboxState, request: Request) -> Response:
    channel = dict(_channel(state, request))
    if "appDeployment" in request.query.get("relations", "").split(","):
        channel["appDeployment"] = state.deployments.get(channel["appDeploymentId"] or "")
    return Response(body=channel)


def update_channel(state: SandboxState, request: Request) -> Response:
    channel = _channel(state, request)
    body = request.json()
    if "name" in body:
        channel["name"] = _string(body, "name", required=True)
    if "protected" in body:
        channel["protectedAt"] = now_iso() if body["protected"] else None
    if "expiresAt" in body:
        channel["expiresAt"] = body["expiresAt"]
    channel["updatedAt"] = now_iso()
    return Response(body=channel)


def delete_channel(state: SandboxState, request: Request) -> Response:
    channel = _channel(state, request)
    del state.channels[channel["id"]]
    return Response(204)


def delete_channel_by_name(state: SandboxState, request: Request) -> Response:
    _app(state, request)
    if "name" not in request.query:
        raise invalid("name", "Required")
    found = _by_name(list(state.channels.values()), request)
    if not found:
        raise not_found("App channel")
    del state.channels[found[0]["id"]]
    return Response(204)


def pause_channel(state: SandboxState, request: Request) -> Response:
    _channel(state, request)["pausedAt"] = now_iso()
    return Response(204)


def resume_channel(state: SandboxState, request: Request) -> Response:
    _channel(state, request)["pausedAt"] = None
    return Response(204)


# -- builds --------------------------------------------------------------------------------------
def _build(state: SandboxState, request: Request) -> dict[str, Any]:
    _app(state, request)
    build = state.builds.get(request.params["build"])
    if build is None or build["appId"] != request.params["app"]:
        raise not_found("App build")
    return build


def _build_json(state: SandboxState, build: dict[str, Any], relations: str) -> dict[str, Any]:
    wanted = set(relations.split(",")) if relations else set()
    data = dict(build)
    if "appBuildArtifacts" in wanted:
        data["appBuildArtifacts"] = [a for a in state.artifacts.values() if a["appBuildId"] == build["id"]]
    if wanted & {"job", "job.jobLogs"}:
        job = state.jobs[build["jobId"]]
        now = time.monotonic()
        data["job"] = job.to_json(now)
        if "job.jobLogs" in wanted:
            data["job"]["jobLogs"] = job.logs_json(now)
    return data


def _int_var(variables: dict[str, str], name: str, default: Any, kind: type = int) -> Any:
    if name not in variables:
        return default
    try:
        return kind(variables[name])
    except ValueError:
        raise invalid("adHocEnvironmentVariables", f"{name} must be a number") from None


def _require_named(items: list[dict[str, Any]], app_id: str, body: dict[str, Any], key: str, what: str) -> None:
    name = _string(body, key)
    if name is not None and not any(i["name"] == name and i["appId"] == app_id for i in items):
        raise not_found(what)


def create_build(state: SandboxState, request: Request) -> Response:
    app = _app(state, request)
    body = request.json()
    unknown = sorted(set(body) - BUILD_FIELDS)
    if unknown:
        raise ApiFailure(
            400,
            {
                "error": {
                    "issues": [{"path": [unknown[0]], "message": f"Unrecognized key(s) in object: '{unknown[0]}'"}]
                }
            },
        )
    platform = body.get("platform")
    if platform not in BUILD_TYPES:
        if platform is None:
            raise invalid("platform", "Required")
        raise invalid("platform", "Invalid enum value. Expected 'android' | 'ios' | 'web'")
    build_type = body.get("type")
    if build_type is not None and build_type not in BUILD_TYPES[platform]:
        expected = " | ".join(f"'{t}'" for t in BUILD_TYPES[platform]) or "nothing for web builds"
        raise invalid("type", f"Invalid enum value. Expected {expected}")
    if body.get("stack") is not None and body["stack"] not in ("macos-sequoia", "macos-tahoe"):
        raise invalid("stack", "Invalid enum value. Expected 'macos-sequoia' | 'macos-tahoe'")
    if body.get("gitRef") is not None and body.get("appBuildSourceId") is not None:
        raise ApiFailure(400, {"message": "Provide either gitRef or appBuildSourceId, not both."})
    _string(body, "gitRef")
    _require_named(state.certificates, app["id"], body, "appCertificateName", "App certificate")
    _require_named(state.environments, app["id"], body, "appEnvironmentName", "App environment")
    _require_named(state.configurations, app["id"], body, "appConfigurationName", "App configuration")
    variables = body.get("adHocEnvironmentVariables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise invalid("adHocEnvironmentVariables", "Expected an object of string values")
    channel_ids: list[str] = []
    for name in body.get("appChannelNames") or []:
        found = [c for c in state.channels.values() if c["appId"] == app["id"] and c["name"] == name]
        if not found:
            raise not_found("App channel")
        channel_ids.append(found[0]["id"])
    for channel_id in [
        *(body.get("appChannelIds") or []),
        *([body["appChannelId"]] if body.get("appChannelId") else []),
    ]:
        if channel_id not in state.channels:
            raise not_found("App channel")
        channel_ids.append(channel_id)
    if channel_ids and platform != "web":
        raise ApiFailure(400, {"message": "Channels can only be set for web builds."})
    outcome = state.take_outcome(variables.get("CAPAWESOME_SANDBOX_OUTCOME"))
    if outcome not in OUTCOMES:
        raise invalid("adHocEnvironmentVariables", f"CAPAWESOME_SANDBOX_OUTCOME must be one of {', '.join(OUTCOMES)}")
    number = state.build_counter.get(app["id"], 0) + 1
    state.build_counter[app["id"]] = number
    build_id = new_id()
    template = {"android": ANDROID_LINES, "ios": IOS_LINES, "web": WEB_LINES}[platform]
    job = state.new_job(
        app["id"],
        "build",
        template,
        outcome,
        app_build_id=build_id,
        stack=body.get("stack") or (app["buildStack"] if platform == "ios" else None),
        log_lines=_int_var(variables, "CAPAWESOME_SANDBOX_LOG_LINES", state.config.log_lines),
        run_seconds=_int_var(variables, "CAPAWESOME_SANDBOX_RUN_SECONDS", state.config.run_seconds, float),
    )
    stamp = now_iso()
    build = {
        "id": build_id,
        "appId": app["id"],
        "numberAsString": str(number),
        "platform": platform,
        "type": build_type,
        "stack": job.stack,
        "gitRef": body.get("gitRef"),
        "jobId": job.id,
        "displayName": None,
        "createdAt": stamp,
        "updatedAt": stamp,
    }
    state.builds[build_id] = build
    state.build_extras[build_id] = {
        "channel_ids": channel_ids,
        "artifact_size": _int_var(variables, "CAPAWESOME_SANDBOX_ARTIFACT_SIZE", state.config.artifact_size),
    }
    return Response(201, build)


def list_builds(state: SandboxState, request: Request) -> Response:
    _app(state, request)
    query = request.query
    builds = [b for b in state.builds.values() if b["appId"] == request.params["app"]]
    for key in ("platform", "numberAsString"):
        if key in query:
            builds = [b for b in builds if b[key] == query[key]]
    builds.sort(key=lambda b: int(b["numberAsString"]), reverse=True)
    relations = query.get("relations", "")
    return Response(body=[_build_json(state, b, relations) for b in _page(builds, request)])


def get_build(state: SandboxState, request: Request) -> Response:
    return Response(body=_build_json(state, _build(state, request), request.query.get("relations", "")))


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


def _stream_artifact(state: SandboxState, artifact: dict[str, Any], request: Request) -> Response:
    size = artifact["totalSizeInBytes"]
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{artifact["fileName"]}"',
        "Accept-Ranges": "bytes",
    }
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if range_header:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
        if match is None or not (match.group(1) or match.group(2)):
            raise ApiFailure(416, {"message": "Invalid range."}, {"Content-Range": f"bytes */{size}"})
        if match.group(1):
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
        else:
            start = max(0, size - int(match.group(2)))
        if start >= size or start >= end:
            raise ApiFailure(416, {"message": "Range not satisfiable."}, {"Content-Range": f"bytes */{size}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    artifact["totalDownloads"] += 1
    seed = f"{state.config.seed}:{artifact['id']}"
    return Response(status, headers=headers, stream=artifact_chunks(seed, size, start, end), length=end - start)


def download_artifact(state: SandboxState, request: Request) -> Response:
    return _stream_artifact(state, _artifact(state, request), request)


def signed_download_url(state: SandboxState, request: Request) -> Response:
    artifact = _artifact(state, request)
    capability = secrets.token_urlsafe(24)
    expires = time.time() + SIGNED_URL_SECONDS
    state.signed_urls[capability] = (artifact["id"], expires)
    file_name = request.query.get("fileName") or artifact["fileName"]
    base = request.headers.get("host", "")
    return Response(
        body={"url": f"http://{base}/signed/{capability}/{quote(file_name)}", "expiresAt": int(expires * 1000)}
    )


def signed_download(state: SandboxState, request: Request) -> Response:
    artifact_id, expires = state.signed_urls.get(request.params["capability"], ("", 0.0))
    if not artifact_id or time.time() > expires:
        raise ApiFailure(404, {"message": "Not found."})
    return _stream_artifact(state, state.artifacts[artifact_id], request)


# -- shares --------------------------------------------------------------------------------------
def create_share(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    body = request.json()
    share = {
        "id": new_id(),
        "appBuildId": build["id"],
        "description": _string(body, "description"),
        "expiresAt": _string(body, "expiresAt"),
        "createdAt": now_iso(),
    }
    state.shares[share["id"]] = share
    return Response(201, share)


def list_shares(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    return Response(body=_page([s for s in state.shares.values() if s["appBuildId"] == build["id"]], request))


def delete_share(state: SandboxState, request: Request) -> Response:
    _build(state, request)
    if state.shares.pop(request.params["share"], None) is None:
        raise not_found("App build share")
    return Response(204)


# -- deployments ---------------------------------------------------------------------------------
def _rollout(body: dict[str, Any], required: bool) -> float:
    value = body.get("rolloutPercentage")
    if value is None:
        if required:
            raise invalid("rolloutPercentage", "Required")
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("rolloutPercentage", "Expected number")
    if not 0 <= value <= 1:
        raise invalid("rolloutPercentage", "Number must be between 0 and 1")
    return float(value)


def _deployment_json(state: SandboxState, deployment: dict[str, Any], relations: str) -> dict[str, Any]:
    wanted = set(relations.split(",")) if relations else set()
    data = dict(deployment)
    if "appBuild" in wanted:
        data["appBuild"] = state.builds.get(deployment["appBuildId"])
    if wanted & {"job", "job.jobLogs"} and deployment["jobId"]:
        job = state.jobs[deployment["jobId"]]
        now = time.monotonic()
        data["job"] = job.to_json(now)
        if "job.jobLogs" in wanted:
            data["job"]["jobLogs"] = job.logs_json(now)
    return data


def create_deployment(state: SandboxState, request: Request) -> Response:
    app = _app(state, request)
    body = request.json()
    build_id = _string(body, "appBuildId", required=True)
    build = state.builds.get(build_id or "")
    if build is None or build["appId"] != app["id"]:
        raise not_found("App build")
    targets = [k for k in ("appChannelId", "appChannelName", "appDestinationId", "appDestinationName") if body.get(k)]
    if len(targets) != 1:
        raise ApiFailure(
            400,
            {"message": "Provide exactly one of appChannelId, appChannelName, appDestinationId, appDestinationName."},
        )
    if state.jobs[build["jobId"]].status(time.monotonic()) != "succeeded":
        raise ApiFailure(400, {"message": "App build is not ready."})
    notes = body.get("releaseNotes")
    target = targets[0]
    if target.startswith("appChannel"):
        if notes is not None:
            raise invalid("releaseNotes", "Release notes are only supported for destinations")
        if build["platform"] != "web":
            raise ApiFailure(400, {"message": "Only web builds can be deployed to a channel."})
        key = "id" if target == "appChannelId" else "name"
        found = [c for c in state.channels.values() if c["appId"] == app["id"] and c[key] == body[target]]
        if not found:
            raise not_found("App channel")
        return Response(201, state.deploy_to_channel(build, found[0], _rollout(body, required=False)))
    key = "id" if target == "appDestinationId" else "name"
    destinations = [d for d in state.destinations if d["appId"] == app["id"] and d[key] == body[target]]
    if not destinations:
        raise not_found("App destination")
    destination = destinations[0]
    if build["platform"] != destination["platform"]:
        raise ApiFailure(400, {"message": f"The destination takes {destination['platform']} builds."})
    if notes is not None and (
        not isinstance(notes, dict) or "default" not in notes or not all(isinstance(v, str) for v in notes.values())
    ):
        raise invalid("releaseNotes", "Expected an object of strings with a 'default' entry")
    job = state.new_job(
        app["id"], "deployment", DEPLOY_LINES, state.take_outcome(None), log_lines=len(DEPLOY_LINES) + 1
    )
    deployment = state.new_deployment(build, destination_id=destination["id"], job_id=job.id, release_notes=notes)
    job.app_deployment_id = deployment["id"]
    return Response(201, deployment)


def list_deployments(state: SandboxState, request: Request) -> Response:
    _app(state, request)
    items = [d for d in state.deployments.values() if d["appId"] == request.params["app"]]
    for key in ("appBuildId", "appChannelId", "appDestinationId"):
        if key in request.query:
            items = [d for d in items if d[key] == request.query[key]]
    items.reverse()  # newest first
    relations = request.query.get("relations", "")
    return Response(body=[_deployment_json(state, d, relations) for d in _page(items, request)])


def _deployment(state: SandboxState, request: Request) -> dict[str, Any]:
    _app(state, request)
    deployment = state.deployments.get(request.params["deployment"])
    if deployment is None or deployment["appId"] != request.params["app"]:
        raise not_found("App deployment")
    return deployment


def get_deployment(state: SandboxState, request: Request) -> Response:
    deployment = _deployment(state, request)
    return Response(body=_deployment_json(state, deployment, request.query.get("relations", "")))


def update_deployment(state: SandboxState, request: Request) -> Response:
    deployment = _deployment(state, request)
    deployment["rolloutPercentage"] = _rollout(request.json(), required=True)
    deployment["updatedAt"] = now_iso()
    return Response(body=deployment)


def list_named(kind: str) -> Handler:
    def handler(state: SandboxState, request: Request) -> Response:
        _app(state, request)
        return Response(body=_page(_by_name(getattr(state, kind), request), request))

    return handler


# -- jobs ----------------------------------------------------------------------------------------
def _job(state: SandboxState, request: Request) -> Any:
    job = state.jobs.get(request.params["job"])
    if job is None:
        raise not_found("Job")
    return job


def get_job(state: SandboxState, request: Request) -> Response:
    job = _job(state, request)
    now = time.monotonic()
    data = job.to_json(now)
    if "jobLogs" in request.query.get("relations", "").split(","):
        data["jobLogs"] = job.logs_json(now)
    return Response(body=data)


def job_logs(state: SandboxState, request: Request) -> Response:
    # No limit means every line (what the official clients expect); limit/offset page like any list.
    return Response(
        body=_page(_job(state, request).logs_json(time.monotonic()), request, default_limit=None, max_limit=1000)
    )


def cancel_job(state: SandboxState, request: Request) -> Response:
    job = _job(state, request)
    if request.json() != {"status": "canceled"}:
        raise invalid("status", 'Invalid literal value, expected "canceled"')
    now = time.monotonic()
    if job.status(now) in TERMINAL:
        raise ApiFailure(400, {"message": "Job is already finished."})
    job.canceled_lines = job.visible_lines(now)
    job.canceled_at = now
    return Response(body=job.to_json(now))


def failure_summary(state: SandboxState, request: Request) -> Response:
    job = _job(state, request)
    if job.status(time.monotonic()) != "failed":
        raise ApiFailure(400, {"message": "Job has not failed."})
    if job.failure_summary is None:
        job.failure_summary = (
            "The Gradle task :app:bundleRelease failed because no signing configuration was found for the "
            "release build type. Add a signing certificate to the app or build the debug type."
        )
    return Response(body={"summary": job.failure_summary})


# -- unauthenticated helpers ---------------------------------------------------------------------
def qr_code(state: SandboxState, request: Request) -> Response:
    if not request.query.get("content"):
        raise invalid("content", "Required")
    return Response(headers={"Content-Type": "image/png"}, raw=PNG)


def console_page(state: SandboxState, request: Request) -> Response:
    page = f"<!doctype html><title>Capawesome Cloud sandbox</title><p>Sandbox console stand-in for {request.path}</p>"
    return Response(headers={"Content-Type": "text/html; charset=utf-8"}, raw=page.encode())


A = r"/v1/apps/(?P<app>[^/]+)"
B = A + r"/builds/(?P<build>[^/]+)"
# (pattern, {method: handler}, needs the token)
_TABLE: list[tuple[str, dict[str, Handler], bool]] = [
    (r"/v1/users/me", {"GET": get_me}, True),
    (r"/v1/apps", {"GET": list_apps}, True),
    (A, {"GET": get_app}, True),
    (A + r"/channels", {"GET": list_channels, "POST": create_channel, "DELETE": delete_channel_by_name}, True),
    (
        A + r"/channels/(?P<channel>[^/]+)",
        {"GET": get_channel, "PATCH": update_channel, "DELETE": delete_channel},
        True,
    ),
    (A + r"/channels/(?P<channel>[^/]+)/pause", {"POST": pause_channel}, True),
    (A + r"/channels/(?P<channel>[^/]+)/resume", {"POST": resume_channel}, True),
    (A + r"/builds", {"GET": list_builds, "POST": create_build}, True),
    (B, {"GET": get_build}, True),
    (B + r"/artifacts", {"GET": list_artifacts}, True),
    (B + r"/artifacts/(?P<artifact>[^/]+)/download", {"GET": download_artifact}, True),
    (B + r"/artifacts/(?P<artifact>[^/]+)/signed-download-url", {"GET": signed_download_url}, True),
    (B + r"/shares", {"GET": list_shares, "POST": create_share}, True),
    (B + r"/shares/(?P<share>[^/]+)", {"DELETE": delete_share}, True),
    (A + r"/deployments", {"GET": list_deployments, "POST": create_deployment}, True),
    (A + r"/deployments/(?P<deployment>[^/]+)", {"GET": get_deployment, "PATCH": update_deployment}, True),
    (A + r"/destinations", {"GET": list_named("destinations")}, True),
    (A + r"/certificates", {"GET": list_named("certificates")}, True),
    (A + r"/environments", {"GET": list_named("environments")}, True),
    (A + r"/configurations", {"GET": list_named("configurations")}, True),
    (r"/v1/jobs/(?P<job>[^/]+)", {"GET": get_job, "PATCH": cancel_job}, True),
    (r"/v1/jobs/(?P<job>[^/]+)/logs", {"GET": job_logs}, True),
    (r"/v1/jobs/(?P<job>[^/]+)/failure-summary", {"POST": failure_summary}, True),
    (r"/v1/qrcodes", {"GET": qr_code}, False),
    (r"/signed/(?P<capability>[^/]+)/[^/]+", {"GET": signed_download}, False),
    (r"/console(?:/.*)?", {"GET": console_page}, False),
]
ROUTES = [(re.compile(pattern), handlers, auth) for pattern, handlers, auth in _TABLE]
