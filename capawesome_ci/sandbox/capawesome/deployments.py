"""Deployments (`/v1/apps/{app}/deployments…`): of a web build to a channel, or of a native build to
a store destination (which runs a job); list, read, change the rollout. A store deployment's job
ends as its build's ad-hoc variable `CAPAWESOME_SANDBOX_DEPLOYMENT_OUTCOME` says, else as
`SandboxConfig.deployment_outcome` (which `--sandbox` reads from the environment variable of that
name). A channel deployment runs no job (`jobId` null): a client has nothing to wait for."""

from __future__ import annotations

from typing import Any

from capawesome_ci.sandbox.capawesome.apps import requested_app
from capawesome_ci.sandbox.capawesome.channels import app_channels
from capawesome_ci.sandbox.capawesome.state import LOG_TEMPLATES, SandboxState, iso, job_json
from capawesome_ci.sandbox.capawesome.validation import find, paginate, release_notes_field, rollout_field, string_field
from capawesome_ci.sandbox.server import Request, Response, bad_request, invalid, not_found

DEPLOYMENT_TARGETS = ("appChannelId", "appChannelName", "appDestinationId", "appDestinationName")


def _deployment_json(state: SandboxState, deployment: dict[str, Any], relations: set[str]) -> dict[str, Any]:
    data = dict(deployment)
    if "appBuild" in relations:
        data["appBuild"] = state.builds.get(deployment["appBuildId"])
    if relations & {"job", "job.jobLogs"}:
        job = state.jobs.get(deployment["jobId"] or "")
        data["job"] = job_json(job, state.now, "job.jobLogs" in relations) if job else None
    return data


def create_deployment(state: SandboxState, request: Request) -> Response:
    app, body = requested_app(state, request), request.json()
    build_id = str(string_field(body, "appBuildId", required=True))
    rollout = rollout_field(body, required=False)
    targets = [key for key in DEPLOYMENT_TARGETS if body.get(key) is not None]
    if len(targets) != 1:
        raise invalid([], "Provide exactly one of " + ", ".join(DEPLOYMENT_TARGETS) + ".")
    target, to_channel = targets[0], targets[0].startswith("appChannel")
    target_value = str(string_field(body, target, required=True))
    notes = body.get("releaseNotes")
    if notes is not None:
        if to_channel:
            raise invalid(["releaseNotes"], "Release notes are only supported for destination deployments.")
        notes = release_notes_field(notes)
    build = state.builds.get(build_id)
    if build is None or build["appId"] != app["id"]:
        raise not_found("App build")
    if state.jobs[build["jobId"]].status(state.now) != "succeeded":
        raise bad_request("App build is not ready.")
    key = "id" if target.endswith("Id") else "name"
    if to_channel:
        channel = find(app_channels(state, app["id"]), app["id"], key, target_value, "App channel")
        if build["platform"] != "web":
            raise bad_request("Only web builds can be deployed to a channel.")
        return Response(201, state.deploy_to_channel(build, channel, rollout))
    destination = find(state.destinations, app["id"], key, target_value, "App destination")
    if build["platform"] != destination["platform"]:
        raise bad_request(f"The destination {destination['name']} only accepts {destination['platform']} builds.")
    job = state.new_job(
        app["id"],
        "deployment",
        state.take_outcome(
            state.build_plans.get(build["id"], {}).get("deployment_outcome") or state.config.deployment_outcome
        ),
        build["stack"],
        log_lines=len(LOG_TEMPLATES["deployment"]) + 1,
    )
    deployment = state.new_deployment(
        build, rollout, destination_id=destination["id"], job_id=job.id, release_notes=notes
    )
    job.app_deployment_id = deployment["id"]
    return Response(201, deployment)


def list_deployments(state: SandboxState, request: Request) -> Response:
    app, query = requested_app(state, request), request.query
    deployments = [
        deployment
        for deployment in reversed(state.deployments.values())  # newest first
        if deployment["appId"] == app["id"]
        and all(query.get(key) in (None, deployment[key]) for key in ("appBuildId", "appChannelId", "appDestinationId"))
    ]
    relations = request.relations()
    return Response(body=[_deployment_json(state, d, relations) for d in paginate(deployments, request)])


def _deployment(state: SandboxState, request: Request) -> dict[str, Any]:
    app = requested_app(state, request)
    deployment = state.deployments.get(request.params["deployment"])
    if deployment is None or deployment["appId"] != app["id"]:
        raise not_found("App deployment")
    return deployment


def get_deployment(state: SandboxState, request: Request) -> Response:
    return Response(body=_deployment_json(state, _deployment(state, request), request.relations()))


def update_deployment(state: SandboxState, request: Request) -> Response:
    deployment = _deployment(state, request)
    deployment["rolloutPercentage"] = rollout_field(request.json(), required=True)
    deployment["updatedAt"] = iso()
    return Response(body=deployment)
