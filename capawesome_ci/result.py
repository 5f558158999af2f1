"""The one result every step returns: the same vocabulary in --json, step outputs and dotenv.

Keys are camelCase like the API and the official CLI. Rollout percentages are 0–100.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# How many trailing log lines a failed job contributes to the summary and the result.
FAILURE_LOG_TAIL = 50


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ArtifactResult(_Camel):
    id: str
    type: str
    path: str | None = None
    size: int | None = None
    sha256: str | None = None


class DeploymentResult(_Camel):
    id: str
    channel: str | None = None
    destination: str | None = None
    rollout_percentage: float | None = None
    job_id: str | None = None
    job_status: str | None = None
    url: str | None = None
    # A deployment of versioned releases (Peak): the version it deploys and its revision number.
    release: str | None = None
    revision: int | None = None
    # A bundle deployed to a channel (Capgo): its name, whether the channel serves it as its stable
    # bundle or as its rollout target, and the rollout in Capgo's basis points (0–10 000).
    bundle: str | None = None
    bundle_role: str | None = None  # "stable" | "rollout"
    rollout_percentage_bps: int | None = None
    # True when the deployment already existed as asked and nothing was sent.
    noop: bool = False


class ShareResult(_Camel):
    id: str
    url: str
    qr_code_url: str
    expires_at: str | None = None


class PlannedRequest(_Camel):
    method: str
    path: str
    body: Any = None


class StepResult(_Camel):
    command: str
    # succeeded | started (--no-wait) | failed | canceled | rejected | timed_out | error
    status: str = "error"
    exit_code: int = 0
    error: str | None = None
    dry_run: bool = False
    app_id: str | None = None
    build_id: str | None = None
    build_number: str | None = None
    build_url: str | None = None
    platform: str | None = None
    build_type: str | None = None
    git_ref: str | None = None
    job_id: str | None = None
    # pending | running | succeeded | failed | canceled | timed_out | rejected (platform.JOB_STATUSES)
    job_status: str | None = None
    job_status_raw: str | None = None  # the platform's own word for it
    job_status_message: str | None = None
    # The parts of the job that failed, with their status ("block api: failed"; Peak's blocks).
    failed_parts: list[str] = Field(default_factory=list)
    duration_seconds: float | None = None
    artifacts: list[ArtifactResult] = Field(default_factory=list)
    deployments: list[DeploymentResult] = Field(default_factory=list)
    share: ShareResult | None = None
    failure_summary: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    planned_requests: list[PlannedRequest] = Field(default_factory=list)
    noop: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")
