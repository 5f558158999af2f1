"""What the Capgo steps share: the operations they need from the adapter, bundle names, and the
deploy of a bundle to channels (checked whole before the first change)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from capawesome_ci.errors import InputError, NotFoundError
from capawesome_ci.platform import FULL_BPS, to_bps
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext

# semver.org's grammar: Capgo refuses any other bundle name.
SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
STABLE, ROLLOUT = "stable", "rollout"


class BundleView(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class ChannelView(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def stable(self) -> str | None: ...

    @property
    def rollout_bundle(self) -> str | None: ...

    @property
    def rollout_bps(self) -> int: ...

    @property
    def rollout_enabled(self) -> bool: ...

    @property
    def rollout_paused(self) -> bool: ...

    @property
    def rollout_active(self) -> bool: ...


@runtime_checkable
class CapgoOperations(Protocol):
    """What Capgo's adapter (cloud/capgo.py) offers the Capgo steps; percentages are 0–100."""

    def find_bundle(self, name: str) -> BundleView | None: ...

    def register_bundle(
        self, name: str, url: str, checksum: str, session_key: str | None = None, key_id: str | None = None
    ) -> BundleView: ...

    def upload_bundle(
        self,
        name: str,
        archive: Path,
        checksum: str,
        session_key: str | None = None,
        key_id: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> BundleView: ...

    def channel_state(self, name: str) -> ChannelView | None: ...

    def set_stable(self, channel: str, bundle: str) -> None: ...

    def start_rollout(self, channel: str, bundle: str, percentage: float) -> None: ...

    def set_rollout_percentage(self, channel: str, percentage: float) -> None: ...

    def promote_rollout(self, channel: str) -> None: ...

    def rollback_rollout(self, channel: str) -> None: ...

    def pause_rollout(self, channel: str, paused: bool) -> None: ...


def operations(ctx: StepContext) -> CapgoOperations:
    platform = ctx.platform
    if not isinstance(platform, CapgoOperations):  # the provider entry names these steps for Capgo only
        raise InputError(f"this step runs on Capgo only, not on {platform.provider}")
    return platform


def checked_bundle_name(name: str, source: str, field: str = "bundle") -> str:
    if not SEMVER.fullmatch(name):
        raise InputError(f"{source} {name!r} is not a semver version like 1.4.2 (Capgo requires one)", field=field)
    return name


def version_from_package_json(start: Path) -> str:
    """The `version` of the nearest package.json at or above `start` (the web build's project)."""
    folder = (start if start.is_dir() else start.parent).resolve()
    for candidate in (folder, *folder.parents):
        manifest = candidate / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                reason = getattr(error, "strerror", None) or "not valid JSON"
                raise InputError(f"cannot read the version of {manifest}: {reason}", field="bundle") from None
            version = data.get("version") if isinstance(data, dict) else None
            if not isinstance(version, str) or not version.strip():
                raise InputError(f"{manifest} has no version: give the bundle name", field="bundle")
            return checked_bundle_name(version.strip(), f"the version in {manifest}")
    raise InputError(
        lambda name: f"no package.json at or above {start}: give the bundle name with {name('bundle')}",
        field="bundle",
        problem="missing",
    )


def refuse_taken_name(ctx: StepContext, ops: CapgoOperations, name: str) -> None:
    """Capgo never reuses a bundle name: stop before registering a self-hosted bundle (a dry run says
    so too). The public list this reads does not show deleted bundles; POST /bundle refuses those."""
    if ops.find_bundle(name) is not None:
        raise InputError(
            f"bundle {name} already exists in app {ctx.platform.app_id}; Capgo never overwrites or reuses a "
            "bundle name: give a new version",
            field="bundle",
        )


def _missing_channel(ctx: StepContext, name: str) -> NotFoundError:
    return NotFoundError(
        lambda input_name: (
            f"channel {name!r} not found in app {ctx.platform.app_id} (set {input_name('create_channel')} to create it)"
        )
    )


@dataclass
class ChannelPlan:
    name: str
    state: ChannelView | None


def plan_channels(
    ctx: StepContext, ops: CapgoOperations, names: list[str], bundle: str, rollout: float, create: bool
) -> list[ChannelPlan]:
    """Every channel checked before the first change: present (or to be created), a stable bundle
    under a rollout, and a state the deploy can reach."""
    wanted = to_bps(rollout)
    plans = []
    for name in names:
        state = ops.channel_state(name)
        if state is None and not create:
            raise _missing_channel(ctx, name)
        if wanted < FULL_BPS and (state is None or state.stable is None):
            raise InputError(
                f"channel {name!r} has no stable bundle, and a Capgo rollout needs one: deploy a bundle to it at "
                "100 % first",
                field="rollout",
            )
        if state is not None and wanted < FULL_BPS and state.stable == bundle:
            raise InputError(
                f"bundle {bundle} is already the stable bundle of channel {name}: nothing to roll out",
                field="rollout",
            )
        if state is not None and wanted == FULL_BPS and state.stable == bundle and state.rollout_active:
            # Setting the stable bundle again changes nothing: the other bundle's rollout goes on.
            raise InputError(
                f"channel {name} already has bundle {bundle} as its stable bundle, and rolls out bundle "
                f"{state.rollout_bundle} at {state.rollout_bps / 100:g} %: end that rollout with rollout "
                "--rollback (or make it stable with rollout --promote)",
                field="bundle",
            )
        plans.append(ChannelPlan(name, state))
    return plans


def deploy_bundle(
    ctx: StepContext, ops: CapgoOperations, bundle: str, plans: list[ChannelPlan], rollout: float
) -> None:
    """100 % makes `bundle` the stable one (promoting its rollout when it is the target); below, a
    rollout of it. A channel already in that state is left alone (noop)."""
    wanted = to_bps(rollout)
    rollout = wanted / 100  # what Capgo will hold, reported as such
    for plan in plans:
        name, state = plan.name, plan.state
        noop = False
        if wanted == FULL_BPS:
            role = STABLE
            if state is not None and state.stable == bundle:
                noop = True  # plan_channels refused it under another bundle's rollout
                ctx.reporter.info(f"Channel {name} already has bundle {bundle} as its stable bundle: nothing to do")
            elif state is not None and state.rollout_bundle == bundle:
                ops.promote_rollout(name)
                ctx.reporter.info(f"{_said(ctx, 'promote')} the rollout of bundle {bundle} on channel {name} to stable")
            else:
                if state is None:
                    ctx.reporter.info(f"{_said(ctx, 'create')} channel {name}")
                ops.set_stable(name, bundle)
                ctx.reporter.info(f"{_said(ctx, 'set')} bundle {bundle} as the stable bundle of channel {name}")
                if state is None and not ctx.dry_run:
                    state = ops.channel_state(name)  # the new channel's id, for the outputs
        else:
            role = ROLLOUT
            assert state is not None  # plan_channels refused a rollout on a missing channel
            if state.rollout_bundle == bundle and state.rollout_enabled and state.rollout_bps == wanted:
                noop = True
                ctx.reporter.info(f"Channel {name} already rolls out bundle {bundle} at {rollout:g} %: nothing to do")
            elif state.rollout_bundle == bundle:
                ops.set_rollout_percentage(name, rollout)  # same target: the devices already in stay in
                ctx.reporter.info(
                    f"{_said(ctx, 'change')} the rollout of bundle {bundle} on channel {name} to {rollout:g} %"
                )
            else:
                ops.start_rollout(name, bundle, rollout)
                ctx.reporter.info(
                    f"{_said(ctx, 'start')} a rollout of bundle {bundle} on channel {name} at {rollout:g} %"
                )
        ctx.result.deployments.append(
            DeploymentResult(
                id=state.id if state is not None else name,
                channel=name,
                rollout_percentage=rollout,
                bundle=bundle,
                bundle_role=role,
                rollout_percentage_bps=wanted,
                noop=noop,
            )
        )


PAST = {"promote": "Promoted", "create": "Created", "set": "Set", "change": "Changed", "start": "Started"}


def _said(ctx: StepContext, action: str) -> str:
    """ "Would set" in a dry run, "Set" otherwise."""
    return f"Would {action}" if ctx.dry_run else PAST[action]
