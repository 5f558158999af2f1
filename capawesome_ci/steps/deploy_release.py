"""deploy, on a platform of versioned releases (Peak Press; Capability.RELEASES): deploy a release to
a named deployment, as its first revision when no deployment has that name, else as a new revision
(an older release rolls back); or, with --redeploy, deploy the latest revision again after it failed.
Then wait until the latest revision has deployed.

The neutral deploy step (build → channels or destinations) is not this concept, so the provider
entry names this module for `deploy`. Re-running the release the deployment already runs sends
nothing and says so; one still deploying is waited for, not sent again.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError, JobEndedError, NotFoundError
from capawesome_ci.platform import PENDING, RUNNING, SUCCEEDED, Capability, Job, ReleaseDeployment, ReleaseRequest
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import StepInputs, WaitOptions
from capawesome_ci.steps.names import has_invisible
from capawesome_ci.steps.wait import follow_job

# The raw status of a deployment that ended with some of its parts failed (Peak's `warning`):
# a failure, unless --allow-warning.
PARTIAL = "warning"
PHASES = ("build", "run")


def parse_parameters(items: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """`block.run.key=value` (repeatable) → {"block": {"run": {"key": "value"}}}."""
    parameters: dict[str, dict[str, dict[str, str]]] = {}
    for item in items:
        path, sep, value = item.partition("=")
        block, _, rest = path.strip().partition(".")
        phase, _, key = rest.partition(".")
        if not sep or not block or phase not in PHASES or not key:
            raise ValueError(f"must look like BLOCK.build.KEY=VALUE or BLOCK.run.KEY=VALUE, got {path.strip()!r}")
        parameters.setdefault(block, {}).setdefault(phase, {})[key] = value
    return parameters


class ReleaseDeployInputs(StepInputs, WaitOptions):
    deployment: str = Field(
        description="Name of the deployment (created when none has this name), or its id",
        json_schema_extra={"metavar": "NAME|ID"},
    )
    release: str | None = Field(
        default=None,
        description="Release version to deploy, e.g. 1.4.2 (an older one rolls back)",
        json_schema_extra={"metavar": "VERSION"},
    )
    spec_id: str | None = Field(
        default=None, description="Id of the spec the release belongs to (needed to create the deployment)"
    )
    notes: str | None = Field(default=None, description="Revision notes (default: 'Release VERSION from CI')")
    parameter: list[str] = Field(
        default_factory=list,
        description="A block's parameter, BLOCK.build.KEY=VALUE or BLOCK.run.KEY=VALUE",
        json_schema_extra={"metavar": "BLOCK.PHASE.KEY=VALUE"},
    )
    redeploy: bool = Field(
        default=False, description="Deploy the latest revision of a failed or warning deployment again"
    )
    allow_warning: bool = Field(
        default=False, description="Succeed when the deployment ends with a warning (some blocks failed)"
    )
    wait: bool = Field(default=True, description="Wait until the latest revision has deployed")

    @field_validator("deployment", "release", "spec_id")
    @classmethod
    def _printable_names(cls, value: str | None) -> str | None:
        if value is not None and (has_invisible(value) or value in ("", ".", "..")):
            raise ValueError(f"must be printable text, not empty, '.' or '..', got {value!r}")
        return value

    @field_validator("parameter", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        parse_parameters([str(item) for item in items])
        return [str(item) for item in items]

    @model_validator(mode="after")
    def _release_or_redeploy(self) -> ReleaseDeployInputs:
        if self.redeploy:
            given = [name for name in ("release", "spec_id", "notes", "parameter") if getattr(self, name)]
            if given:
                raise InputError(
                    lambda name: f"{name('redeploy')} deploys the latest revision as it is: no {name(given[0])}",
                    field=given[0],
                )
        elif not self.release:
            raise InputError(
                lambda name: f"give {name('release')}, or {name('redeploy')} to retry the latest revision",
                field="release",
                problem="missing",
            )
        return self

    def request(self) -> ReleaseRequest:
        version = self.release or ""
        return ReleaseRequest(
            version=version,
            notes=self.notes or f"Release {version} from CI",
            spec_id=self.spec_id,
            parameters=parse_parameters(self.parameter),
        )


# The name commands.py gives the deploy step's model (Provider.model finds it by this name).
DeployInputs = ReleaseDeployInputs


def follow_release(ctx: StepContext, entry: DeploymentResult, options: WaitOptions, allow_warning: bool) -> Job:
    """Wait until the deployment's latest revision has deployed (follow_job: deadline, adaptive
    polling, exit codes); a partial success passes with `allow_warning`."""
    try:
        job = follow_job(ctx, entry.id, f"{ctx.title} deployment {entry.id}", options)
    except JobEndedError as error:
        entry.job_status = ctx.result.job_status
        if not (allow_warning and ctx.result.job_status_raw == PARTIAL):
            raise
        ctx.reporter.warning(f"{error.message}; allowed by --allow-warning")
        return Job(id=entry.id, status=SUCCEEDED, raw_status=PARTIAL)
    entry.job_status = job.status
    return job


def _entry(deployment: ReleaseDeployment, *, noop: bool = False) -> DeploymentResult:
    return DeploymentResult(
        id=deployment.id,
        release=deployment.release,
        revision=deployment.revision,
        job_id=deployment.id,
        job_status=deployment.job.status if deployment.job else None,
        noop=noop,
    )


def _deploy(ctx: StepContext, inputs: ReleaseDeployInputs, existing: ReleaseDeployment | None) -> DeploymentResult:
    """The request this run sends (or none, for a re-run): the deployment entry to follow."""
    name, request = inputs.deployment, inputs.request()
    verb = "Would deploy" if ctx.dry_run else "Deploying"
    if existing is None:
        ctx.reporter.info(f"{verb} release {request.version} as new deployment {name}")
        return _entry(ctx.platform.create_release_deployment(name, request))
    latest = existing.job
    same = existing.release == request.version and latest is not None and not request.parameters
    if same and latest is not None and latest.status == SUCCEEDED:
        ctx.reporter.info(f"Deployment {name} already runs release {request.version}: nothing to do")
        return _entry(existing, noop=True)
    if same and latest is not None and latest.status in (PENDING, RUNNING):
        ctx.reporter.info(f"Deployment {name} is already deploying release {request.version}: waiting for it")
        return _entry(existing, noop=True)
    revision = ctx.platform.create_revision(existing.id, request)
    ctx.reporter.info(f"{verb} release {request.version} to deployment {name} as a new revision")
    return _entry(revision)


def run(inputs: ReleaseDeployInputs, ctx: StepContext) -> None:
    existing = ctx.platform.find_release_deployment(inputs.deployment)
    if inputs.redeploy:
        if existing is None:
            raise NotFoundError(f"deployment {inputs.deployment!r} not found: nothing to redeploy")
        ctx.reporter.info(f"{'Would redeploy' if ctx.dry_run else 'Redeploying'} deployment {inputs.deployment}")
        ctx.platform.redeploy(existing.id)
        entry = _entry(existing)
        entry.job_status = None
    else:
        entry = _deploy(ctx, inputs, existing)
        if entry.noop and existing is not None and existing.job is not None:
            ctx.result.job_status, ctx.result.job_status_raw = existing.job.status, existing.job.raw_status
    ctx.result.deployments.append(entry)
    ctx.result.job_id = entry.id
    ctx.result.noop = entry.noop
    if ctx.dry_run or not inputs.wait or (entry.noop and entry.job_status == SUCCEEDED):
        ctx.result.status = "succeeded" if ctx.dry_run or entry.noop else "started"
        return
    follow_release(ctx, entry, inputs, inputs.allow_warning)
    ctx.result.status = "succeeded"


def needs(inputs: ReleaseDeployInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed: list[tuple[Capability, str | None]] = [(Capability.RELEASES, None)]
    if inputs.wait:
        needed.append((Capability.WAIT, "wait"))
    if inputs.failure_summary:
        needed.append((Capability.FAILURE_SUMMARY, "failure_summary"))
    return needed
