"""deploy on Capgo: an existing bundle (by name) to channels. 100 % makes it the channel's stable
bundle (promoting its rollout when it is the rollout target); below 100 % starts, or changes, a
rollout of it, which needs the channel to have a stable bundle already. A channel already in the
asked state is left alone (noop); every channel is checked before the first change."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError, NotFoundError
from capawesome_ci.platform import Capability
from capawesome_ci.steps.capgo.common import checked_bundle_name, deploy_bundle, operations, plan_channels
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import ChannelOptions, StepInputs, TimeoutOption


class DeployInputs(StepInputs, ChannelOptions, TimeoutOption):
    bundle: str = Field(
        description="Name of the bundle to deploy (its semver)", json_schema_extra={"metavar": "VERSION"}
    )

    @field_validator("bundle")
    @classmethod
    def _bundle(cls, value: str) -> str:
        return checked_bundle_name(value, "the bundle name")

    @model_validator(mode="after")
    def _need_a_channel(self) -> DeployInputs:
        if not self.channel:
            raise InputError(lambda name: f"give {name('channel')} (one or more)", field="channel", problem="missing")
        return self


def run(inputs: DeployInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    ops = operations(ctx)
    bundle = ops.find_bundle(inputs.bundle)
    if bundle is None:
        raise NotFoundError(f"bundle {inputs.bundle} not found in app {ctx.platform.app_id}")
    plans = plan_channels(ctx, ops, inputs.channel, bundle.name, inputs.rollout, inputs.create_channel)
    deploy_bundle(ctx, ops, bundle.name, plans, inputs.rollout)
    ctx.result.noop = all(d.noop for d in ctx.result.deployments)
    ctx.result.status = "succeeded"


def needs(inputs: DeployInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    return inputs.channel_needs()  # the model requires a channel
