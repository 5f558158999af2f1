"""rollout on Capgo: act on a channel's rollout — change its share (`--percentage`), make its target
the stable bundle (`--promote`), abort it (`--rollback`), or stop / let again new devices enter it
(`--pause`, `--resume`). Capgo has no whole-channel pause: only a rollout can be paused. Asking for
the state the channel is already in sends nothing (noop)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError, NotFoundError
from capawesome_ci.platform import Capability, to_bps
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.capgo.common import ROLLOUT, STABLE, ChannelView, operations
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import StepInputs, TimeoutOption, parse_percentage

ACTIONS = ("percentage", "promote", "rollback", "pause", "resume")


class RolloutInputs(StepInputs, TimeoutOption):
    channel: str = Field(description="Channel whose rollout to change", json_schema_extra={"metavar": "NAME"})
    percentage: float | None = Field(
        default=None,
        description="New share of the rollout, 0-100 (e.g. 50 or 50%)",
        json_schema_extra={"metavar": "PERCENT"},
    )
    promote: bool = Field(default=False, description="Make the rollout's bundle the channel's stable bundle")
    rollback: bool = Field(default=False, description="End the rollout: every device gets the stable bundle again")
    pause: bool = Field(
        default=False,
        description="Pause the rollout: no new devices enter it (Capgo has no whole-channel pause)",
    )
    resume: bool = Field(default=False, description="Resume a paused rollout")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not value:
            raise ValueError("must name a channel")
        return value

    @field_validator("percentage", mode="before")
    @classmethod
    def _percentage(cls, value: Any) -> float | None:
        return None if value is None or value == "" else parse_percentage(value)

    @model_validator(mode="after")
    def _one_action(self) -> RolloutInputs:
        given = [name for name in ACTIONS if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise InputError(
                lambda name: "give exactly one of " + ", ".join(name(action) for action in ACTIONS),
                field=given[1] if len(given) > 1 else "percentage",
                problem="invalid" if given else "missing",
            )
        return self


def _entry(state: ChannelView, bundle: str | None, role: str, percentage: float, noop: bool) -> DeploymentResult:
    return DeploymentResult(
        id=state.id,
        channel=state.name,
        rollout_percentage=to_bps(percentage) / 100,  # what Capgo holds
        bundle=bundle,
        bundle_role=role,
        rollout_percentage_bps=to_bps(percentage),
        noop=noop,
    )


def run(inputs: RolloutInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    ops = operations(ctx)
    name = inputs.channel
    state = ops.channel_state(name)
    if state is None:
        raise NotFoundError(f"channel {name!r} not found in app {ctx.platform.app_id}")
    would = ctx.dry_run
    current = state.rollout_bps / 100
    target = state.rollout_bundle
    if inputs.promote or inputs.rollback:
        if target is None:
            ctx.reporter.info(f"Channel {name} has no rollout in progress: nothing to do")
            entry = _entry(state, state.stable, STABLE, 100, True)
        elif inputs.promote:
            ops.promote_rollout(name)
            ctx.reporter.info(f"{'Would promote' if would else 'Promoted'} bundle {target} to stable on channel {name}")
            entry = _entry(state, target, STABLE, 100, False)
        else:
            ops.rollback_rollout(name)
            ctx.reporter.info(
                f"{'Would roll back' if would else 'Rolled back'} the rollout of bundle {target} on channel {name}"
            )
            entry = _entry(state, state.stable, STABLE, 100, False)
    elif target is None or not state.rollout_enabled:
        what = "pause" if inputs.pause or inputs.resume else "change"
        hint = (
            "Capgo has no whole-channel pause: only a rollout can be paused, and "
            if what == "pause"
            else "start one with deploy --rollout below 100: "
        )
        raise InputError(f"{hint}channel {name!r} has no rollout in progress", field=_action(inputs))
    elif inputs.pause or inputs.resume:
        noop = state.rollout_paused == inputs.pause
        if noop:
            ctx.reporter.info(f"The rollout on channel {name} is already {'paused' if inputs.pause else 'running'}")
        else:
            ops.pause_rollout(name, inputs.pause)
            done = ("Paused" if inputs.pause else "Resumed") if not would else f"Would {_action(inputs)}"
            ctx.reporter.info(f"{done} the rollout of bundle {target} on channel {name}")
        entry = _entry(state, target, ROLLOUT, current, noop)
    else:
        percentage = to_bps(inputs.percentage if inputs.percentage is not None else current) / 100  # as Capgo holds it
        noop = state.rollout_bps == to_bps(percentage)
        if noop:
            ctx.reporter.info(f"The rollout on channel {name} is already at {percentage:g} %: nothing to do")
        else:
            ops.set_rollout_percentage(name, percentage)
            verb = "Would change" if would else "Changed"
            ctx.reporter.info(
                f"{verb} the rollout of bundle {target} on channel {name} from {current:g} % to {percentage:g} %"
            )
        entry = _entry(state, target, ROLLOUT, percentage, noop)
    ctx.result.deployments.append(entry)
    ctx.result.noop = entry.noop
    ctx.result.status = "succeeded"


def _action(inputs: RolloutInputs) -> str:
    return next(name for name in ACTIONS if getattr(inputs, name) not in (None, False))


def needs(inputs: RolloutInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    return [(Capability.ROLLOUT, None)]
