"""download on Capwrapper: the neutral step, plus a build picked as the newest of a bundle id."""

from __future__ import annotations

from pydantic import model_validator

from capawesome_ci.platform import Capability
from capawesome_ci.steps import download
from capawesome_ci.steps.capwrapper.common import BundleSelector, NoAppId, resolve_build
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.download import download_artifacts


class DownloadInputs(NoAppId, BundleSelector, download.DownloadInputs):
    @model_validator(mode="after")
    def _one_build(self) -> DownloadInputs:  # replaces the neutral rule: a bundle id selects too
        self.check_one_selector(["build_id", "bundle_id", "build_number"])
        return self


def run(inputs: DownloadInputs, ctx: StepContext) -> None:
    build = resolve_build(ctx, inputs.build_id, inputs.bundle_id)
    download_artifacts(ctx, build, inputs.type, inputs.output_dir, inputs.stall_timeout)
    ctx.result.status = "succeeded"


def needs(inputs: DownloadInputs) -> list[tuple[Capability, str | None]]:
    return download.needs(inputs)
