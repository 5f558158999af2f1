"""What every step runs with: the platform, the reporter, the result it fills, and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from capawesome_ci.platform import Build, Capability, CloudPlatform
from capawesome_ci.reporting import Reporter
from capawesome_ci.result import StepResult


@dataclass
class StepContext:
    platform: CloudPlatform
    reporter: Reporter
    result: StepResult
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    # CI commit variables (GITHUB_SHA, CI_COMMIT_SHA, …) used for defaults such as the git ref.
    environ: dict[str, str] = field(default_factory=dict)
    # What the platform can do (the runner refused the rest up front), and how log titles name it.
    capabilities: frozenset[Capability] = frozenset(Capability)
    title: str = "Cloud"

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def record_build(self, build: Build) -> None:
        """What is known of an existing build (not of one only planned in a dry run)."""
        result = self.result
        result.build_id = build.id
        result.build_number = build.number or result.build_number
        result.build_url = build.url
        result.platform = build.platform or result.platform
        result.build_type = build.type or result.build_type
        result.git_ref = build.git_ref or result.git_ref
        result.job_id = build.job_id or result.job_id


def resolve_build(ctx: StepContext, build_id: str | None, build_number: str | None) -> Build:
    build = ctx.platform.get_build(build_id) if build_id else ctx.platform.find_build_by_number(build_number or "")
    ctx.record_build(build)
    return build
