"""Jobs (`/v1/jobs…`), the runs behind builds and store deployments: list (of an organization, by
status), read, logs, cancel, and the failure summary."""

from __future__ import annotations

from capawesome_ci.sandbox.capawesome.state import TERMINAL, JobRecord, SandboxState, job_json
from capawesome_ci.sandbox.capawesome.validation import paginate
from capawesome_ci.sandbox.server import Request, Response, bad_request, invalid, not_found


def _job(state: SandboxState, request: Request) -> JobRecord:
    job = state.jobs.get(request.params["job"])
    if job is None:
        raise not_found("Job")
    return job


STATUSES = ("queued", "pending", "in_progress", *sorted(TERMINAL))


def list_jobs(state: SandboxState, request: Request) -> Response:
    """The jobs of an organization (`organizationId` required), newest first; `status=a,b` filters."""
    query, now = request.query, state.now
    organization_id = query.get("organizationId")
    if not organization_id:
        raise invalid(["organizationId"], "Required")
    wanted = [status for status in query.get("status", "").split(",") if status]
    for status in wanted:
        if status not in STATUSES:
            expected = " | ".join(f"'{name}'" for name in STATUSES)
            raise invalid(["status"], f"Invalid enum value. Expected {expected}, received '{status}'")
    jobs = [
        job
        for job in reversed(state.jobs.values())
        if job.organization_id == organization_id and (not wanted or job.status(now) in wanted)
    ]
    with_logs = "jobLogs" in request.relations()
    return Response(body=[job_json(job, now, with_logs) for job in paginate(jobs, request)])


def get_job(state: SandboxState, request: Request) -> Response:
    return Response(body=job_json(_job(state, request), state.now, "jobLogs" in request.relations()))


def job_logs(state: SandboxState, request: Request) -> Response:
    # Without `limit`, every line (what the official clients expect); `offset` lets a poller fetch only new lines.
    logs = _job(state, request).logs_json(state.now)
    return Response(body=paginate(logs, request, default_limit=None, max_limit=1000))


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
