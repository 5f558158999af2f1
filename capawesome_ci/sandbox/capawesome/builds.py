"""Builds (`/v1/apps/{app}/builds…`): create (with the sandbox's per-build overrides), list, read;
their artifacts (list, download with Range support, signed download URLs served under `/signed/`)
and their share links."""

from __future__ import annotations

import math
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

from capawesome_ci.sandbox.artifacts import artifact_chunks, file_chunks
from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.build_sources import buildable, source_for_build
from capawesome_ci.sandbox.capawesome.channels import app_channels
from capawesome_ci.sandbox.capawesome.state import OUTCOMES, SandboxState, iso, job_json, new_id
from capawesome_ci.sandbox.capawesome.validation import (
    find,
    paginate,
    release_notes_field,
    string_field,
    string_list,
    type_name,
)
from capawesome_ci.sandbox.server import ApiFailure, Request, Response, bad_request, invalid, not_found

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
SIGNED_URL_SECONDS = 15 * 60


def _build(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
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


def _sandbox_outcome(variables: dict[str, str], name: str) -> str | None:
    """A per-build sandbox outcome (of the build's job, or of its store deployments' jobs)."""
    outcome = variables.get(name)
    if outcome is not None and outcome not in OUTCOMES:
        raise invalid(["adHocEnvironmentVariables", name], "Expected " + " | ".join(f"'{o}'" for o in OUTCOMES))
    return outcome


def create_build(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
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
    git_ref = string_field(body, "gitRef")
    if git_ref is not None and string_field(body, "appBuildSourceId") is not None:
        raise invalid(["appBuildSourceId"], "Provide either gitRef or appBuildSourceId, not both.")
    source = source_for_build(state, app["id"], body)
    variables = body.get("adHocEnvironmentVariables") or {}
    if not isinstance(variables, dict):
        raise invalid(["adHocEnvironmentVariables"], f"Expected object, received {type_name(variables)}")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise invalid(["adHocEnvironmentVariables", key], f"Expected string, received {type_name(value)}")
    requested_outcome = _sandbox_outcome(variables, "CAPAWESOME_SANDBOX_OUTCOME")
    deployment_outcome = _sandbox_outcome(variables, "CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME")
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
            value = string_field(body, prefix + suffix)
            if value is not None:
                find(items, app["id"], key, value, what)
    if body.get("releaseNotes") is not None:
        if body.get("appDestinationId") is None:
            raise invalid(["releaseNotes"], "Release notes are only supported together with appDestinationId.")
        release_notes_field(body["releaseNotes"])
    channels = app_channels(state, app["id"])
    wanted = [("id", value) for value in string_list(body, "appChannelIds")]
    wanted += [("name", value) for value in string_list(body, "appChannelNames")]
    if body.get("appChannelId") is not None:  # deprecated, still accepted
        wanted.append(("id", str(string_field(body, "appChannelId"))))
    channel_ids = [find(channels, app["id"], key, value, "App channel")["id"] for key, value in wanted]
    if channel_ids and platform != "web":
        raise bad_request("Only web builds can be deployed to channels.")

    outcome = state.take_outcome(requested_outcome)
    if source is not None and not buildable(source):
        outcome = "failed"  # the runner finds no project to build
    job = state.new_job(
        app["id"], platform, outcome, stack or app["buildStack"], log_lines=log_lines, run_seconds=run_seconds
    )
    build = state.new_build(app["id"], platform, job, build_type, git_ref)
    if source is not None:
        build["appBuildSourceId"] = source.id
    state.build_plans[build["id"]] = {
        "channel_ids": list(dict.fromkeys(channel_ids)),
        "artifact_size": artifact_size,
        "deployment_outcome": deployment_outcome,  # of the store deployments of this build
    }
    return Response(201, build)


def list_builds(state: SandboxState, request: Request) -> Response:
    app, query = requested_app(state, request), request.query
    builds = [
        build
        for build in reversed(state.builds.values())  # newest first
        if build["appId"] == app["id"]
        and query.get("platform") in (None, build["platform"])
        and query.get("numberAsString") in (None, build["numberAsString"])
    ]
    relations = request.relations()
    return Response(body=[_build_json(state, build, relations) for build in paginate(builds, request)])


def get_build(state: SandboxState, request: Request) -> Response:
    return Response(body=_build_json(state, _build(state, request), request.relations()))


NATIVE_VERSION_FIELDS = tuple(
    f"{bound}{platform}AppVersionCode" for platform in ("Android", "Ios") for bound in ("min", "max", "eq")
)
BUILD_UPDATE_FIELDS = ("displayName", "packageName", "packageVersion", *NATIVE_VERSION_FIELDS)


def update_build(state: SandboxState, request: Request) -> Response:
    """Build metadata, and the native-version limits of a web build (a live update): every field a
    string or null, `customProperties` an object of strings or null."""
    build, body = _build(state, request), request.json()
    unknown = sorted(set(body) - {*BUILD_UPDATE_FIELDS, "customProperties"})
    if unknown:
        raise invalid([], "Unrecognized key(s) in object: " + ", ".join(f"'{key}'" for key in unknown))
    for key in BUILD_UPDATE_FIELDS:
        if body.get(key) is not None:
            string_field(body, key)
    properties = body.get("customProperties")
    if properties is not None and (
        not isinstance(properties, dict) or not all(isinstance(value, str) for value in properties.values())
    ):
        raise invalid(["customProperties"], "Expected an object of strings")
    if build["platform"] != "web" and any(body.get(key) is not None for key in NATIVE_VERSION_FIELDS):
        raise bad_request("Native version limits can only be set on web builds.")
    build.update(body)
    build["updatedAt"] = iso()
    return Response(body=build)


# -- artifacts -----------------------------------------------------------------------------------
def _artifact(state: SandboxState, request: Request) -> dict[str, Any]:
    build = _build(state, request)
    artifact = state.artifacts.get(request.params["artifact"])
    if artifact is None or artifact["appBuildId"] != build["id"]:
        raise not_found("App build artifact")
    return artifact


def list_artifacts(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    return Response(body=paginate([a for a in state.artifacts.values() if a["appBuildId"] == build["id"]], request))


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
        "description": string_field(body, "description"),
        "expiresAt": string_field(body, "expiresAt"),
        "createdAt": iso(),
    }
    state.shares[share["id"]] = share
    return Response(201, share)


def list_shares(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    return Response(body=paginate([s for s in state.shares.values() if s["appBuildId"] == build["id"]], request))


def delete_share(state: SandboxState, request: Request) -> Response:
    build = _build(state, request)
    share = state.shares.get(request.params["share"])
    if share is None or share["appBuildId"] != build["id"]:
        raise not_found("App build share")
    del state.shares[share["id"]]
    return Response(204)
