"""The Peak emulator's routes: the paths peak-sdk 1.29.0 calls (`peak/press/apps.py`), trailing slashes
exactly as it sends them (`POST v1/apps/deployments/`, `GET v1/apps/deployments/{id}`), its bodies and
the answer keys it reads (`{"deployments": […], "pageCount": N}`, `{"id": …, "revision": N}`).

Auth is the raw token in `Authorization` (no `Bearer`). Errors are JSON `{"message": …}` mostly and
plain text for a server error, as Peak answers either (peak-sdk passes the JSON or the text on).
"""

from __future__ import annotations

import math
import re
import traceback
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from capawesome_ci.sandbox.peak.state import DeploymentRecord, PeakState
from capawesome_ci.sandbox.server import ApiFailure, Request, Response

Handler = Callable[[PeakState, Request], Response]
PHASES = ("build", "run")
MAX_PAGE_SIZE = 100
# Peak's deployment names: lower-case letters, digits and hyphens.
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _message(status: int, message: str) -> ApiFailure:
    return ApiFailure(status, {"message": message})


def _paged(request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    query = request.query
    try:
        size = int(query.get("pageSize") or 25)
        number = int(query.get("pageNumber") or 1)
    except ValueError:
        raise _message(400, "pageSize and pageNumber must be integers") from None
    if not 1 <= size <= MAX_PAGE_SIZE or number < 1:
        raise _message(400, f"pageSize must be 1 to {MAX_PAGE_SIZE} and pageNumber at least 1")
    page = items[(number - 1) * size : number * size]
    count_key = key[:-1] + "Count"  # deployments → deploymentCount, as Peak names it
    return Response(
        200,
        {
            key: page,
            count_key: len(items),
            "pageCount": max(1, math.ceil(len(items) / size)),
            "pageNumber": number,
            "pageSize": size,
        },
    )


def _statuses(request: Request) -> set[str]:
    """`status=a&status=b` (repeated keys, as peak-sdk sends lists)."""
    return set(parse_qs(request.query_string).get("status", []))


def _deployment(state: PeakState, request: Request) -> DeploymentRecord:
    deployment = state.deployments.get(request.params["deployment"])
    if deployment is None:
        raise _message(404, f"Deployment {request.params['deployment']} not found")
    return deployment


def _text(body: dict[str, Any], *keys: str, required: bool = True) -> str | None:
    value: Any = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _message(400, f"{'.'.join(keys)} is required and must be a non-empty string")
    return value


def _release(state: PeakState, spec_id: str, version: str | None) -> str:
    spec = state.specs.get(spec_id)
    if spec is None:
        raise _message(404, f"App spec {spec_id} not found")
    releases = spec["releases"]
    if version is None:  # the latest release, as peak-sdk documents
        return str(list(releases)[-1])
    if version not in releases:
        raise _message(404, f"Release {version} of app spec {spec_id} not found")
    return version


def _parameters(state: PeakState, spec_id: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _message(400, "parameters must be an object")
    blocks = {block["id"] for block in state.specs[spec_id]["releases"][version]["config"]}
    for block, phases in parameters.items():
        if block not in blocks:
            raise _message(400, f"parameters: {block} is not a block of release {version}")
        if not isinstance(phases, dict) or not set(phases) <= set(PHASES):
            raise _message(400, f"parameters.{block} may only have build and run")
        for phase, values in phases.items():
            if not isinstance(values, dict):
                raise _message(400, f"parameters.{block}.{phase} must be an object")
    return parameters


# -- deployments --------------------------------------------------------------------------------
def list_deployments(state: PeakState, request: Request) -> Response:
    prefix, statuses = request.query.get("name", ""), _statuses(request)
    now = state.now
    items = [
        deployment.json(now)
        for deployment in state.deployments.values()
        if deployment.name.startswith(prefix) and (not statuses or deployment.latest.deployment_status(now) in statuses)
    ]
    for item in items:  # a list entry carries the latest revision's summary, not its blocks
        item["latestRevision"] = {key: item["latestRevision"][key] for key in ("id", "revision", "status")}
    return _paged(request, "deployments", items)


def create_deployment(state: PeakState, request: Request) -> Response:
    body = request.json()
    name = str(_text(body, "metadata", "name"))
    if not _NAME.fullmatch(name):
        raise _message(400, "metadata.name must be lower-case letters, digits and hyphens (at most 64)")
    summary = str(_text(body, "metadata", "summary"))
    notes = str(_text(body, "revision", "notes"))
    spec_id = str(_text(body, "spec", "id"))
    version = _release(state, spec_id, _text(body, "spec", "release", "version", required=False))
    parameters = _parameters(state, spec_id, version, body)
    if any(deployment.name == name for deployment in state.deployments.values()):
        raise _message(409, f"A deployment named {name} already exists")
    record = DeploymentRecord(id=str(uuid.uuid4()), name=name, summary=summary, spec_id=spec_id)
    record.revisions.append(state.new_revision(1, version, notes, parameters))
    state.deployments[record.id] = record
    return Response(201, {"id": record.id})


def describe_deployment(state: PeakState, request: Request) -> Response:
    return Response(200, _deployment(state, request).json(state.now))


def delete_deployment(state: PeakState, request: Request) -> Response:
    deployment = _deployment(state, request)
    if deployment.latest.deployment_status(state.now) in ("deploying", "redeploying"):
        raise _message(409, "The deployment is being deployed and cannot be deleted now")
    del state.deployments[deployment.id]
    return Response(200, {})


def create_revision(state: PeakState, request: Request) -> Response:
    deployment, body = _deployment(state, request), request.json()
    if deployment.latest.deployment_status(state.now) in ("deploying", "redeploying"):
        raise _message(409, f"Revision {deployment.latest.revision} of this deployment is still deploying")
    version = _release(state, deployment.spec_id, _text(body, "release", "version", required=False))
    notes = _text(body, "revision", "notes", required=False) or ""
    parameters = _parameters(state, deployment.spec_id, version, body)
    for earlier in deployment.revisions:
        earlier.superseded = True
    number = deployment.latest.revision + 1
    deployment.revisions.append(state.new_revision(number, version, notes, parameters))
    return Response(201, {"id": deployment.id, "revision": number})


def list_revisions(state: PeakState, request: Request) -> Response:
    deployment, statuses, now = _deployment(state, request), _statuses(request), state.now
    revisions = [r.json(now) for r in reversed(deployment.revisions) if not statuses or r.status(now) in statuses]
    return _paged(request, "revisions", revisions)


def describe_revision(state: PeakState, request: Request) -> Response:
    deployment = _deployment(state, request)
    for revision in deployment.revisions:
        if str(revision.revision) == request.params["revision"]:
            return Response(200, {**revision.json(state.now), "spec": {"id": deployment.spec_id}})
    raise _message(404, f"Revision {request.params['revision']} not found")


def redeploy(state: PeakState, request: Request) -> Response:
    deployment, now = _deployment(state, request), state.now
    latest = deployment.latest
    status = latest.deployment_status(now)
    failed_blocks = [block for block in latest.blocks(now) if block["status"] not in ("deployed", "deploying")]
    if status not in ("failed", "warning") or not failed_blocks:
        raise _message(
            409, f"Only a failed or warning deployment with a failed block can be redeployed (it is {status})"
        )
    latest.outcome, latest.started, latest.redeploying = state.take_outcome(), now, True
    return Response(200, deployment.json(now))


# -- specs --------------------------------------------------------------------------------------
def _spec_json(spec: dict[str, Any]) -> dict[str, Any]:
    latest = list(spec["releases"].values())[-1]
    return {key: value for key, value in spec.items() if key != "releases"} | {"latestRelease": latest}


def list_specs(state: PeakState, request: Request) -> Response:
    return _paged(request, "specs", [_spec_json(spec) for spec in state.specs.values()])


def describe_spec(state: PeakState, request: Request) -> Response:
    spec = state.specs.get(request.params["spec"])
    if spec is None:
        raise _message(404, f"App spec {request.params['spec']} not found")
    return Response(200, _spec_json(spec))


def list_releases(state: PeakState, request: Request) -> Response:
    spec = state.specs.get(request.params["spec"])
    if spec is None:
        raise _message(404, f"App spec {request.params['spec']} not found")
    return _paged(request, "releases", list(reversed(spec["releases"].values())))


def describe_release(state: PeakState, request: Request) -> Response:
    version = _release(state, request.params["spec"], request.params["version"])
    return Response(200, state.specs[request.params["spec"]]["releases"][version])


D = r"/v1/apps/deployments/(?P<deployment>[^/]+)"
S = r"/v1/apps/specs/(?P<spec>[^/]+)"
_TABLE: list[tuple[str, dict[str, Handler]]] = [
    (r"/v1/apps/deployments/", {"GET": list_deployments, "POST": create_deployment}),
    (D, {"GET": describe_deployment, "DELETE": delete_deployment}),
    (D + r"/revisions", {"GET": list_revisions, "POST": create_revision}),
    (D + r"/revisions/(?P<revision>[^/]+)", {"GET": describe_revision}),
    (D + r"/redeploy", {"POST": redeploy}),
    (r"/v1/apps/specs/", {"GET": list_specs}),
    (S, {"GET": describe_spec}),
    (S + r"/releases", {"GET": list_releases}),
    (S + r"/releases/(?P<version>[^/]+)", {"GET": describe_release}),
]
ROUTES = [(re.compile(pattern), handlers) for pattern, handlers in _TABLE]


def _route(state: PeakState, request: Request) -> Response:
    if request.headers.get("authorization") != state.token:  # raw, no "Bearer"
        raise _message(401, "Unauthorized")
    for pattern, handlers in ROUTES:
        # Exact paths, trailing slashes included: a client that drops or adds one gets a 404, as a
        # strict router would answer it, so the tests notice.
        match = pattern.fullmatch(request.path)
        if match is None:
            continue
        handler = handlers.get(request.method)
        if handler is None:
            raise _message(405, "Method not allowed")
        request.params = {key: unquote(value) for key, value in match.groupdict().items()}
        with state.lock:
            return handler(state, request).encode()  # serialized under the lock: the state is shared
    raise _message(404, "Not found")


def dispatch(state: PeakState, request: Request) -> Response:
    """Answer one request, errors included, in Peak's shapes."""
    try:
        return _route(state, request)
    except ApiFailure as failure:
        return Response(failure.status, failure.body, failure.headers).encode()
    except Exception:  # a sandbox bug: say so on stderr and answer like a server would, in text
        traceback.print_exc()
        return Response(500, raw=b"Internal Server Error", headers={"Content-Type": "text/plain"})
