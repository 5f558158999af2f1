"""wait, on a platform of versioned releases (Peak Press): follow a deployment's latest revision until
it has deployed. Its own module because such a deployment belongs to no app (the neutral wait
needs an app id to read a deployment) and a partial success may be allowed (--allow-warning)."""

from __future__ import annotations

from pydantic import Field

from capawesome_ci.errors import NotFoundError
from capawesome_ci.platform import Capability
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.deploy_release import follow_release
from capawesome_ci.steps.inputs import StepInputs, WaitOptions


class ReleaseWaitInputs(StepInputs, WaitOptions):
    deployment_id: str = Field(description="Id (or name) of the deployment whose latest revision to wait for")
    allow_warning: bool = Field(
        default=False, description="Succeed when the deployment ends with a warning (some blocks failed)"
    )


# The name commands.py gives the wait step's model (Provider.model finds it by this name).
WaitInputs = ReleaseWaitInputs


def run(inputs: ReleaseWaitInputs, ctx: StepContext) -> None:
    deployment = ctx.platform.find_release_deployment(inputs.deployment_id)
    if deployment is None:
        raise NotFoundError(f"deployment {inputs.deployment_id!r} not found")
    entry = DeploymentResult(
        id=deployment.id, release=deployment.release, revision=deployment.revision, job_id=deployment.id
    )
    ctx.result.deployments.append(entry)
    follow_release(ctx, entry, inputs, inputs.allow_warning)
    ctx.result.status = "succeeded"


def needs(inputs: ReleaseWaitInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed: list[tuple[Capability, str | None]] = [(Capability.WAIT, None), (Capability.RELEASES, None)]
    if inputs.failure_summary:
        needed.append((Capability.FAILURE_SUMMARY, "failure_summary"))
    return needed
