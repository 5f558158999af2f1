"""deploy: promote a build to live-update channels (with a rollout) or to an app-store destination.

Re-running a deploy that already took effect sends nothing and says so.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from capawesome_ci.errors import InputError, NotFoundError
from capawesome_ci.platform import PENDING, RUNNING, SUCCEEDED, Build, Capability, Channel
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext, resolve_build
from capawesome_ci.steps.inputs import BuildSelector, DeployOptions, StepInputs, WaitOptions
from capawesome_ci.steps.wait import follow_job

# Rollouts are compared at this precision: the API stores a 0..1 fraction.
ROLLOUT_EPSILON = 1e-6


class DeployInputs(StepInputs, BuildSelector, DeployOptions, WaitOptions):
    wait: bool = Field(default=True, description="Wait for a destination deployment's job to finish")

    @model_validator(mode="after")
    def _targets(self) -> DeployInputs:
        self.check_one_build()
        if not self.channel and not self.destination:
            raise InputError(
                lambda name: f"give {name('channel')} (one or more) and/or {name('destination')}",
                field="channel",
                problem="missing",
            )
        return self


def _label(build: Build) -> str:
    return f"#{build.number}" if build.number else build.id


def _channel(ctx: StepContext, name: str, create: bool) -> Channel:
    channel = ctx.platform.find_channel(name)
    if channel is not None:
        return channel
    if not create:
        raise _missing_channel(ctx, name)
    ctx.reporter.info(f"Creating channel {name}")
    return ctx.platform.create_channel(name)


def _missing_channel(ctx: StepContext, name: str) -> NotFoundError:
    return NotFoundError(
        lambda input_name: (
            f"channel {name!r} not found in app {ctx.platform.app_id} (set {input_name('create_channel')} to create it)"
        )
    )


def check_channels(ctx: StepContext, names: list[str], create: bool) -> None:
    """Fail early (before a long build or upload) when a channel is missing and may not be created."""
    if create:
        return
    for name in names:
        if ctx.platform.find_channel(name) is None:
            raise _missing_channel(ctx, name)


def deploy_to_channels(ctx: StepContext, build: Build, names: list[str], rollout: float, create: bool) -> None:
    for name in names:
        channel = _channel(ctx, name, create)
        active = channel.active_deployment
        if (
            active is not None
            and active.build_id == build.id
            and active.rollout_percentage is not None
            and abs(active.rollout_percentage - rollout) < ROLLOUT_EPSILON
        ):
            ctx.reporter.info(f"Channel {name} already serves build {_label(build)} at {rollout:g} %: nothing to do")
            ctx.result.deployments.append(
                DeploymentResult(id=active.id, channel=name, rollout_percentage=rollout, url=active.url, noop=True)
            )
            continue
        deployment = ctx.platform.create_deployment(build.id, channel=channel, rollout_percentage=rollout)
        ctx.result.deployments.append(
            DeploymentResult(
                id=deployment.id,
                channel=name,
                rollout_percentage=rollout if ctx.dry_run else deployment.rollout_percentage,
                url=deployment.url,
            )
        )
        verb = "Would deploy" if ctx.dry_run else "Deployed"
        ctx.reporter.info(f"{verb} build {_label(build)} to channel {name} at {rollout:g} %")


def deploy_to_destination(ctx: StepContext, build: Build, inputs: DeployOptions, wait: WaitOptions | None) -> None:
    name = inputs.destination or ""
    destination = ctx.platform.find_destination(name)
    if destination is None:
        raise NotFoundError(f"destination {name!r} not found in app {ctx.platform.app_id}")
    # A re-run must not submit the same build to the store twice.
    for earlier in ctx.platform.list_deployments(build.id, destination.id):
        if earlier.destination_id != destination.id:
            continue
        status = ctx.platform.get_job(earlier.job_id).status if earlier.job_id else None
        if status in (None, SUCCEEDED, PENDING, RUNNING):
            ctx.reporter.info(f"Build {_label(build)} was already deployed to {name}: nothing sent")
            entry = DeploymentResult(
                id=earlier.id,
                destination=name,
                job_id=earlier.job_id,
                job_status=status,
                url=earlier.url,
                noop=True,
            )
            ctx.result.deployments.append(entry)
            if wait is not None and earlier.job_id and status != "succeeded":
                entry.job_status = follow_job(ctx, earlier.job_id, f"{ctx.title} deployment to {name}", wait).status
            return
    deployment = ctx.platform.create_deployment(
        build.id, destination=destination, release_notes=inputs.release_notes_dict()
    )
    entry = DeploymentResult(
        id=deployment.id,
        destination=name,
        job_id=deployment.job_id,
        url=deployment.url,
    )
    ctx.result.deployments.append(entry)
    if ctx.dry_run:
        ctx.reporter.info(f"Would deploy build {_label(build)} to destination {name}")
        return
    ctx.reporter.info(f"Deploying build {_label(build)} to destination {name}")
    if wait is not None and deployment.job_id:
        try:
            follow_job(ctx, deployment.job_id, f"{ctx.title} deployment to {name}", wait)
        finally:
            entry.job_status = ctx.result.job_status


def run(inputs: DeployInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    build = resolve_build(ctx, inputs.build_id, inputs.build_number)
    if inputs.channel:
        deploy_to_channels(ctx, build, inputs.channel, inputs.rollout, inputs.create_channel)
    if inputs.destination:
        deploy_to_destination(ctx, build, inputs, inputs if inputs.wait else None)
    ctx.result.noop = all(d.noop for d in ctx.result.deployments)
    ctx.result.status = "succeeded"


def needs(inputs: DeployInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed = inputs.channel_needs()
    if inputs.destination:
        needed.append((Capability.DESTINATIONS, "destination"))
    if inputs.build_number:
        needed.append((Capability.BUILD_NUMBERS, "build_number"))
    return needed
