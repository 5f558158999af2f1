"""The sandbox's in-memory Capawesome Cloud: apps, builds, jobs, artifacts, channels, deployments.

Jobs advance with the clock, computed when observed: `queued` and `pending` for `queue_seconds`,
`in_progress` for `run_seconds` while log lines appear evenly, then their outcome. A build job
that succeeds gets its artifacts (and its channel deployments) the first time it is seen finished.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

OUTCOMES = ("succeeded", "failed", "canceled", "rejected", "timed_out", "never")
TERMINAL = ("succeeded", "failed", "canceled", "rejected", "timed_out")
MUTATING = ("POST", "PUT", "PATCH", "DELETE")

# Plausible build output; `\x1b` is sent as literal text, as the real API does.
ANDROID_LINES = [
    "Cloning repository…",
    "Installing dependencies: npm ci",
    "added 812 packages in 14s",
    "Running: npx cap sync android",
    "> Task :app:preBuild UP-TO-DATE",
    "> Task :app:mergeDebugResources",
    "> Task :app:compileReleaseJavaWithJavac",
    "> Task :app:bundleRelease",
    "\\x1b[32mBUILD SUCCESSFUL\\x1b[0m in 1m 12s",
]
IOS_LINES = [
    "Cloning repository…",
    "Installing dependencies: npm ci",
    "Running: npx cap sync ios",
    "pod install: Pod installation complete! There are 9 dependencies",
    "xcodebuild -workspace App.xcworkspace -scheme App archive",
    "CompileSwiftSources normal arm64",
    "\\x1b[32m** ARCHIVE SUCCEEDED **\\x1b[0m",
]
WEB_LINES = ["Cloning repository…", "npm ci", "npm run build", "vite v5 building for production…", "✓ built in 4.2s"]
DEPLOY_LINES = ["Uploading to the store…", "Processing the release…", "Release submitted."]
FAILURE_REASONS = {
    "failed": "Gradle task :app:bundleRelease failed",
    "rejected": "Build rejected: the plan's concurrency limit was reached",
    "timed_out": "The job exceeded the maximum build time",
    "canceled": "Job canceled.",
}


def now_iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    queue_seconds: float = 0.5
    run_seconds: float = 3.0
    log_lines: int = 25
    artifact_size: int = 1024 * 1024
    seed: str = "capawesome-ci"


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int


@dataclass
class JobRecord:
    id: str
    app_id: str
    organization_id: str
    kind: str  # "build" or "deployment"
    lines_template: list[str]
    outcome: str
    queue_seconds: float
    run_seconds: float
    log_lines: int
    app_build_id: str | None = None
    app_deployment_id: str | None = None
    stack: str | None = None
    started: float = field(default_factory=time.monotonic)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    canceled_at: float | None = None
    canceled_lines: int = 0
    settled: bool = False
    failure_summary: str | None = None

    def _elapsed(self, now: float) -> float:
        return (self.canceled_at if self.canceled_at is not None else now) - self.started

    def status(self, now: float) -> str:
        if self.canceled_at is not None:
            return "canceled"
        elapsed = self._elapsed(now)
        if elapsed < self.queue_seconds / 2:
            return "queued"
        if elapsed < self.queue_seconds:
            return "pending"
        if self.outcome == "never" or elapsed < self.queue_seconds + self.run_seconds:
            return "in_progress"
        return self.outcome

    def visible_lines(self, now: float) -> int:
        if self.canceled_at is not None:
            return self.canceled_lines + 1
        running = self._elapsed(now) - self.queue_seconds
        if running <= 0:
            return 0
        if self.run_seconds <= 0 or running >= self.run_seconds:
            return self.log_lines
        return min(self.log_lines, int(self.log_lines * running / self.run_seconds))

    def log_payload(self, number: int) -> str:
        """Line `number` (1-based); the last says how the job ended."""
        if self.canceled_at is not None and number == self.canceled_lines + 1:
            return "Job canceled."
        if number == self.log_lines and self.outcome != "never":
            if self.outcome == "succeeded":
                return f"{self.kind.capitalize()} finished successfully."
            return f"\\x1b[31mError:\\x1b[0m {FAILURE_REASONS.get(self.outcome, self.outcome)}"
        return f"[{number:>4}] {self.lines_template[(number - 1) % len(self.lines_template)]}"

    def finished_at(self, now: float) -> datetime | None:
        status = self.status(now)
        if status not in TERMINAL:
            return None
        seconds = self._elapsed(now) if self.canceled_at is not None else self.queue_seconds + self.run_seconds
        return self.created_at + timedelta(seconds=seconds)

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        finished = self.finished_at(now)
        queue = min(self._elapsed(now), self.queue_seconds)
        running = max(0.0, min(self._elapsed(now) - self.queue_seconds, self.run_seconds))
        return {
            "id": self.id,
            "appId": self.app_id,
            "organizationId": self.organization_id,
            "status": status,
            "statusMessage": FAILURE_REASONS.get(status) if status in TERMINAL and status != "succeeded" else None,
            "stack": self.stack,
            "appBuildId": self.app_build_id,
            "appDeploymentId": self.app_deployment_id,
            "finishedAt": now_iso(finished) if finished else None,
            "createdAt": now_iso(self.created_at),
            "queueTimeInSeconds": round(queue / 2, 3),
            "pendingTimeInSeconds": round(queue / 2, 3),
            "inProgressTimeInSeconds": round(running, 3),
            "totalTimeInSeconds": round(queue + running, 3),
        }

    def logs_json(self, now: float) -> list[dict[str, Any]]:
        count = self.visible_lines(now)
        return [
            {
                "jobId": self.id,
                "number": number,
                "payload": self.log_payload(number),
                "timestamp": now_iso(self.created_at + timedelta(seconds=self.queue_seconds + number * 0.01)),
            }
            for number in range(1, count + 1)
        ]


def _named(app_id: str, name: str, **extra: Any) -> dict[str, Any]:
    stamp = now_iso()
    return {"id": new_id(), "appId": app_id, "name": name, **extra, "createdAt": stamp, "updatedAt": stamp}


class SandboxState:
    """Everything the emulator knows; one lock, because the HTTP server is threaded."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.token = config.token or "cap_sandbox_" + secrets.token_hex(16)
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        # Overrides the final status of the next job created (tests).
        self.next_outcome: str | None = None
        self.organization_id = new_id()
        self.user = {"id": new_id(), "email": "sandbox@example.com", "name": "Sandbox User"}
        stamp = now_iso()
        self.app_id = new_id()
        self.apps: dict[str, dict[str, Any]] = {
            self.app_id: {
                "id": self.app_id,
                "name": "Demo App",
                "type": "capacitor",
                "organizationId": self.organization_id,
                "buildStack": "macos-tahoe",
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        }
        self.channels: dict[str, dict[str, Any]] = {}
        for name in ("production", "beta"):
            self.add_channel(self.app_id, name)
        self.certificates = [
            _named(self.app_id, "android-release", platform="android", type="production"),
            _named(self.app_id, "ios-app-store", platform="ios", type="production"),
        ]
        self.environments = [_named(self.app_id, "production"), _named(self.app_id, "staging")]
        self.configurations = [_named(self.app_id, "default")]
        self.destinations = [
            _named(self.app_id, "google-play-internal", platform="android", type="google_play"),
            _named(self.app_id, "app-store-connect", platform="ios", type="app_store_connect"),
        ]
        self.builds: dict[str, dict[str, Any]] = {}
        self.build_extras: dict[str, dict[str, Any]] = {}  # channels to deploy to, artifact size
        self.build_counter: dict[str, int] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.signed_urls: dict[str, tuple[str, float]] = {}  # capability → (artifact id, expiry)
        self.shares: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}

    def mutations(self) -> list[RequestRecord]:
        with self.lock:
            return [record for record in self.requests if record.method in MUTATING]

    def add_channel(
        self, app_id: str, name: str, protected: bool = False, expires_at: str | None = None
    ) -> dict[str, Any]:
        stamp = now_iso()
        channel: dict[str, Any] = {
            "id": new_id(),
            "appId": app_id,
            "name": name,
            "appDeploymentId": None,
            "pausedAt": None,
            "protectedAt": stamp if protected else None,
            "totalAppDeployments": 0,
            "totalAppDevices": 0,
            "expiresAt": expires_at,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.channels[channel["id"]] = channel
        return channel

    def take_outcome(self, requested: str | None) -> str:
        outcome = self.next_outcome or requested or "succeeded"
        self.next_outcome = None
        return outcome

    def new_job(self, app_id: str, kind: str, template: list[str], outcome: str, **overrides: Any) -> JobRecord:
        job = JobRecord(
            id=new_id(),
            app_id=app_id,
            organization_id=self.organization_id,
            kind=kind,
            lines_template=template,
            outcome=outcome,
            queue_seconds=overrides.pop("queue_seconds", self.config.queue_seconds),
            run_seconds=overrides.pop("run_seconds", self.config.run_seconds),
            log_lines=max(1, overrides.pop("log_lines", self.config.log_lines)),
            **overrides,
        )
        self.jobs[job.id] = job
        return job

    # -- the clock -------------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply what finished jobs leave behind (artifacts, channel deployments), once each."""
        now = time.monotonic()
        for job in self.jobs.values():
            if job.settled or job.status(now) not in TERMINAL:
                continue
            job.settled = True
            if job.kind == "build" and job.status(now) == "succeeded" and job.app_build_id:
                self._on_build_succeeded(job.app_build_id)

    def _on_build_succeeded(self, build_id: str) -> None:
        build = self.builds[build_id]
        extras = self.build_extras.get(build_id, {})
        platform, build_type = build["platform"], build.get("type")
        if platform == "android":
            kinds = (
                [("aab", "app-release.aab"), ("apk", "app-release.apk")]
                if build_type == "release"
                else [("apk", "app-debug.apk")]
            )
        elif platform == "ios":
            kinds = (
                [("zip", "App.app.zip")]
                if build_type in (None, "simulator")
                else [("ipa", "App.ipa"), ("dsym", "App.app.dSYM.zip")]
            )
        else:
            kinds = [("zip", "web.zip")]
        for artifact_type, file_name in kinds:
            stamp = now_iso()
            artifact = {
                "id": new_id(),
                "appBuildId": build_id,
                "type": artifact_type,
                "status": "ready",
                "fileName": file_name,
                "totalSizeInBytes": extras.get("artifact_size", self.config.artifact_size),
                "totalDownloads": 0,
                "formFactor": None,
                "downloadUrl": None,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self.artifacts[artifact["id"]] = artifact
        for channel_id in extras.get("channel_ids", []):
            self.deploy_to_channel(build, self.channels[channel_id], 1.0)

    def deploy_to_channel(self, build: dict[str, Any], channel: dict[str, Any], rollout: float) -> dict[str, Any]:
        deployment = self.new_deployment(build, rollout=rollout, channel_id=channel["id"])
        channel["appDeploymentId"] = deployment["id"]
        channel["totalAppDeployments"] += 1
        channel["updatedAt"] = now_iso()
        return deployment

    def new_deployment(self, build: dict[str, Any], **fields: Any) -> dict[str, Any]:
        stamp = now_iso()
        deployment = {
            "id": new_id(),
            "appId": build["appId"],
            "appBuildId": build["id"],
            "appChannelId": fields.get("channel_id"),
            "appDestinationId": fields.get("destination_id"),
            "jobId": fields.get("job_id"),
            "rolloutPercentage": fields.get("rollout", 1.0),
            "releaseNotes": fields.get("release_notes"),
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.deployments[deployment["id"]] = deployment
        return deployment
