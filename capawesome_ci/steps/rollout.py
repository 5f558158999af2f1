"""rollout: change the rollout percentage of a channel's active deployment."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from capawesome_ci.errors import NotFoundError
from capawesome_ci.platform import Capability
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.deploy import ROLLOUT_EPSILON
from capawesome_ci.steps.inputs import StepInputs, parse_percentage


class RolloutInputs(StepInputs):
    channel: str = Field(description="Channel whose active deployment to change", json_schema_extra={"metavar": "NAME"})
    percentage: float = Field(
        description="New rollout, 0-100 (e.g. 50 or 50%)", json_schema_extra={"metavar": "PERCENT"}
    )

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not value:  # "" would look the channel up by an empty name
            raise ValueError("must name a channel")
        return value

    @field_validator("percentage", mode="before")
    @classmethod
    def _percentage(cls, value: Any) -> float:
        return parse_percentage(value)


def run(inputs: RolloutInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    channel = ctx.platform.find_channel(inputs.channel)
    if channel is None:
        raise NotFoundError(f"channel {inputs.channel!r} not found in app {ctx.platform.app_id}")
    active = channel.active_deployment
    if active is None:
        raise NotFoundError(f"channel {inputs.channel!r} has no active deployment to roll out")
    ctx.result.build_id = active.build_id
    previous = active.rollout_percentage
    if previous is not None and abs(previous - inputs.percentage) < ROLLOUT_EPSILON:
        ctx.reporter.info(f"Channel {channel.name} is already at {inputs.percentage:g} %: nothing to do")
        ctx.result.noop = True
    else:
        ctx.platform.set_rollout(active.id, inputs.percentage)
        verb = "Would change" if ctx.dry_run else "Changed"
        shown = "?" if previous is None else f"{previous:g}"
        ctx.reporter.info(f"{verb} the rollout of channel {channel.name} from {shown} % to {inputs.percentage:g} %")
    ctx.result.deployments.append(
        DeploymentResult(
            id=active.id,
            channel=channel.name,
            rollout_percentage=inputs.percentage,
            url=active.url,
            noop=ctx.result.noop,
        )
    )
    ctx.result.status = "succeeded"


def needs(inputs: RolloutInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    return [(Capability.ROLLOUT, None)]
