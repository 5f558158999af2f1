"""The Peak emulator's in-memory tenant: one demo app spec with releases built from three blocks,
and the deployments made from it, each a list of numbered revisions.

A revision deploys with the clock, computed whenever it is read: `deploying` for `deploy_seconds`,
then its outcome. Outcomes come from `PeakConfig.outcomes`, one per deployed or redeployed revision in
order (then `deployed`): `deployed`, `failed` (the failing block fails: revision and deployment
`failed`), `warning` (the failing block fails, the others deploy: the deployment ends `warning`),
`platform_resource_error`, or `never` (deploying for ever).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from capawesome_ci.sandbox.emulator import EmulatorState

OUTCOMES = ("deployed", "failed", "warning", "platform_resource_error", "never")
TENANT = "sandbox-tenant"
USER = "ci@sandbox-tenant.peak.ai"
# Fixed, so that a README command can name it.
DEMO_SPEC_ID = "8a4f3c0e-5b1d-4e7a-9c2f-1d6e0b7a3f51"
DEMO_SPEC_NAME = "demand-forecast"
DEMO_RELEASES = ("1.3.0", "1.4.1", "1.4.2")
# The demo spec's blocks: name → kind.
DEMO_BLOCKS = {"ingest": "workflow", "forecast-api": "service", "dashboard": "webapp"}


@dataclass(frozen=True)
class PeakConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None  # None: a random token
    deploy_seconds: float = 3.0
    outcomes: tuple[str, ...] = ()  # per deployed revision, in order; then "deployed"
    failing_block: str = "forecast-api"
    faults: tuple[str, ...] = ()  # fault specs (see sandbox/faults.py), active from the start


def iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Revision:
    revision: int
    version: str
    notes: str
    parameters: dict[str, Any]
    outcome: str
    deploy_seconds: float
    failing_block: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)
    created_at: str = field(default_factory=iso)
    redeploying: bool = False
    superseded: bool = False

    def status(self, now: float) -> str:
        if self.superseded:
            return "superseded"
        if self.outcome == "never" or now - self.started < self.deploy_seconds:
            return "deploying"
        # A deployment's `warning` is a revision whose failing block failed (revisions have no `warning`).
        return "failed" if self.outcome == "warning" else self.outcome

    def deployment_status(self, now: float) -> str:
        status = self.status(now)
        if status == "deploying" and self.redeploying:
            return "redeploying"
        return "warning" if status == "failed" and self.outcome == "warning" else status

    def blocks(self, now: float) -> list[dict[str, Any]]:
        deploying = self.status(now) == "deploying"
        failed = "failed" if self.outcome == "warning" else self.outcome
        blocks = []
        for name, kind in DEMO_BLOCKS.items():
            if deploying:
                status = "deploying"
            elif name == self.failing_block and self.outcome in ("failed", "warning", "platform_resource_error"):
                status = failed
            else:
                status = "deployed"
            blocks.append({"id": f"{name}-{self.id[:8]}", "name": name, "kind": kind, "status": status})
        return blocks

    def json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "status": self.status(now),
            "notes": self.notes,
            "release": {"version": self.version},
            "parameters": self.parameters,
            "blocks": self.blocks(now),
            "resources": [{"kind": kind, "name": f"{name}-r{self.revision}"} for name, kind in DEMO_BLOCKS.items()],
            "createdAt": self.created_at,
            "createdBy": USER,
        }


@dataclass
class DeploymentRecord:
    id: str
    name: str
    summary: str
    spec_id: str
    revisions: list[Revision] = field(default_factory=list)
    created_at: str = field(default_factory=iso)

    @property
    def latest(self) -> Revision:
        return self.revisions[-1]

    def json(self, now: float) -> dict[str, Any]:
        latest = self.latest
        return {
            "id": self.id,
            "kind": "app",
            "metadata": {
                "name": self.name,
                "title": self.name,
                "summary": self.summary,
                "status": latest.deployment_status(now),
                "tags": [],
                "createdAt": self.created_at,
                "createdBy": USER,
            },
            "spec": {"id": self.spec_id, "release": {"version": latest.version}},
            "latestRevision": latest.json(now),
        }


class PeakState(EmulatorState):
    def __init__(self, config: PeakConfig) -> None:
        super().__init__(config.token or f"peak_sandbox_{secrets.token_hex(12)}")
        self.config = config
        self.tenant = TENANT
        self.outcomes = list(config.outcomes)
        self.specs: dict[str, dict[str, Any]] = {
            DEMO_SPEC_ID: {
                "id": DEMO_SPEC_ID,
                "kind": "app",
                "metadata": {"name": DEMO_SPEC_NAME, "title": "Demand forecast", "summary": "A demo app"},
                "releases": {
                    version: {
                        "version": version,
                        "notes": f"Release {version}",
                        "config": [{"id": name, "kind": kind} for name, kind in DEMO_BLOCKS.items()],
                        "createdAt": iso(),
                        "createdBy": USER,
                    }
                    for version in DEMO_RELEASES
                },
            }
        }
        self.deployments: dict[str, DeploymentRecord] = {}

    @property
    def now(self) -> float:
        return time.monotonic()

    def take_outcome(self) -> str:
        return self.outcomes.pop(0) if self.outcomes else "deployed"

    def new_revision(self, number: int, version: str, notes: str, parameters: dict[str, Any]) -> Revision:
        return Revision(
            revision=number,
            version=version,
            notes=notes,
            parameters=parameters,
            outcome=self.take_outcome(),
            deploy_seconds=self.config.deploy_seconds,
            failing_block=self.config.failing_block,
        )
