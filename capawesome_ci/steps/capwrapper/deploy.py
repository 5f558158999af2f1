"""deploy on Capwrapper: a successful build to a store (`POST /deploys`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.platform import SUCCEEDED, Capability
from capawesome_ci.steps.capwrapper.common import BundleSelector, DeployFields, NoAppId, deploy_to_store, resolve_build
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import WaitOptions


class DeployInputs(NoAppId, BundleSelector, DeployFields, WaitOptions):
    build_id: str | None = Field(default=None, description="Id of the build")

    @model_validator(mode="after")
    def _targets(self) -> DeployInputs:
        self.check_one_selector(["build_id", "bundle_id"])
        if self.destination is None:
            raise InputError("", field="destination", problem="missing")
        return self


def run(inputs: DeployInputs, ctx: StepContext) -> None:
    build = resolve_build(ctx, inputs.build_id, inputs.bundle_id)
    job = ctx.platform.get_job(build.id)
    ctx.result.job_status, ctx.result.job_status_raw = job.status, job.raw_status
    if job.status != SUCCEEDED:
        raise InputError(f"build {build.id} is {job.raw_status}: only a successful build is deployed", field="build_id")
    deploy_to_store(ctx, build, inputs.destination or "", inputs.deploy_fields())
    ctx.result.status = "succeeded"


def needs(inputs: DeployInputs) -> list[tuple[Capability, str | None]]:
    return [(Capability.DESTINATIONS, "destination")]
