"""wait on Capwrapper: the neutral step, plus a build picked as the newest of a bundle id."""

from __future__ import annotations

from pydantic import model_validator

from capawesome_ci.platform import Capability
from capawesome_ci.steps import wait
from capawesome_ci.steps.capwrapper.common import BundleSelector, NoAppId, follow_build, resolve_build
from capawesome_ci.steps.context import StepContext


class WaitInputs(NoAppId, BundleSelector, wait.WaitInputs):
    @model_validator(mode="after")
    def _one_selector(self) -> WaitInputs:  # replaces the neutral rule: a bundle id selects too
        self.check_one_selector(["build_id", "bundle_id", "job_id", "deployment_id", "build_number"])
        return self


def run(inputs: WaitInputs, ctx: StepContext) -> None:
    if inputs.build_id or inputs.bundle_id:
        follow_build(ctx, resolve_build(ctx, inputs.build_id, inputs.bundle_id), inputs)
        ctx.result.status = "succeeded"
        return
    wait.run(inputs, ctx)


def needs(inputs: WaitInputs) -> list[tuple[Capability, str | None]]:
    return wait.needs(inputs)
