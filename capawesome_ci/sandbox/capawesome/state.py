"""The Capawesome emulator's in-memory Capawesome Cloud: its configuration (`SandboxConfig`), apps,
channels, builds, jobs, artifacts, deployments and live-update bundles (whose uploaded bytes live in
a temporary directory). The handlers in the resource modules read and change it.

Jobs advance with the clock, computed whenever they are read: `queued` then `pending` for half of
`queue_seconds` each, `in_progress` for `run_seconds` while log lines appear evenly, then their
outcome. What a finished build leaves behind (artifacts, channel deployments) is applied by
`settle()` the first time the job is seen finished.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from capawesome_ci.sandbox.artifacts import artifact_kind, remember_kind
from capawesome_ci.sandbox.capawesome.build_log import log_line
from capawesome_ci.sandbox.emulator import EmulatorState

OUTCOMES = ("succeeded", "failed", "canceled", "rejected", "timed_out", "never")
TERMINAL = frozenset(OUTCOMES) - {"never"}

# Plausible output per job template; the final line (outcome) is added by `JobRecord.log_payload`.
LOG_TEMPLATES: dict[str, tuple[str, ...]] = {
    "android": (
        "Cloning repository…",
        "Installing dependencies: npm ci",
        "added 812 packages, and audited 813 packages in 14s",
        "Running: npx cap sync android",
        "> Task :app:preBuild UP-TO-DATE",
        "> Task :app:mergeReleaseResources",
        "> Task :app:processReleaseManifest",
        "> Task :app:compileReleaseJavaWithJavac",
        "> Task :app:dexBuilderRelease",
        "> Task :app:packageRelease",
        "> Task :app:bundleRelease",
    ),
    "ios": (
        "Cloning repository…",
        "Installing dependencies: npm ci",
        "Running: npx cap sync ios",
        "Pod installation complete! There are 9 dependencies from the Podfile and 9 total pods installed.",
        "xcodebuild -workspace ios/App/App.xcworkspace -scheme App -configuration Release archive",
        "CompileSwiftSources normal arm64 com.apple.xcode.tools.swift.compiler",
        "Ld App.app/App normal arm64",
        "CodeSign App.app",
        "xcodebuild -exportArchive -exportOptionsPlist ExportOptions.plist",
    ),
    "web": (
        "Cloning repository…",
        "Installing dependencies: npm ci",
        "Running: npm run build",
        "vite v5.4.2 building for production...",
        "transforming (412) src/main.ts",
        "dist/index.html 0.46 kB │ gzip: 0.30 kB",
        "dist/assets/index.js 143.36 kB │ gzip: 46.12 kB",
        "✓ built in 4.21s",
    ),
    "deployment": (
        "Preparing the release…",
        "Uploading the binary to the store…",
        "Processing the upload…",
    ),
}
FAILED_REASONS = {
    "android": "Gradle task :app:bundleRelease failed.",
    "ios": "xcodebuild archive failed with exit code 65.",
    "web": "npm run build failed with exit code 1.",
    "deployment": "The store rejected the upload.",
}
OTHER_REASONS = {
    "rejected": "Rejected: the concurrent job limit of the organization was reached.",
    "timed_out": "The job exceeded the maximum run time.",
    "canceled": "Job canceled.",
}


def iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None  # None: a random "cap_sandbox_…" token
    queue_seconds: float = 0.3
    run_seconds: float = 2.0
    log_lines: int = 30
    artifact_size: int = 1024 * 1024
    seed: str = "capawesome-ci"
    public_key_pem: str | None = None  # the demo app's bundle-signing key: every bundle file must be signed
    faults: tuple[str, ...] = ()  # fault specs (see sandbox/faults.py), active from the start
    deployment_outcome: str = "succeeded"  # of store deployment jobs, unless their build's variable says otherwise


@dataclass
class JobRecord:
    id: str
    app_id: str
    organization_id: str
    template: str  # a LOG_TEMPLATES key: the build platform, or "deployment"
    outcome: str
    queue_seconds: float
    run_seconds: float
    log_lines: int
    stack: str
    app_build_id: str | None = None
    app_deployment_id: str | None = None
    started: float = field(default_factory=time.monotonic)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    canceled_at: float | None = None
    lines_before_cancel: int = 0
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
            return self.lines_before_cancel + 1
        running = self._elapsed(now) - self.queue_seconds
        if running <= 0:
            return 0
        if running >= self.run_seconds:
            return self.log_lines
        return min(self.log_lines, int(self.log_lines * running / self.run_seconds))

    def status_message(self, status: str) -> str | None:
        if status == "failed":
            return FAILED_REASONS[self.template]
        return OTHER_REASONS.get(status)

    def log_payload(self, number: int) -> str:
        """Line `number` (from 1). The last one states the outcome with an escaped ANSI colour, as
        the real API sends it (the six characters `\\x1b`, not the control character)."""
        if self.canceled_at is not None and number == self.lines_before_cancel + 1:
            return "Job canceled."
        if number == self.log_lines and self.outcome != "never":
            label = "Deployment" if self.template == "deployment" else "Build"
            if self.outcome == "succeeded":
                return f"\\x1b[32m{label} succeeded.\\x1b[0m"
            return f"\\x1b[31m{label} {self.outcome.replace('_', ' ')}:\\x1b[0m {self.status_message(self.outcome)}"
        body = self.log_lines - (self.outcome != "never")  # the lines before the outcome's
        return log_line(LOG_TEMPLATES[self.template], self.template, max(body, number), number)

    def _line_time(self, number: int) -> datetime:
        offset = self.queue_seconds + self.run_seconds * number / max(1, self.log_lines)
        if self.canceled_at is not None:
            offset = min(offset, self.canceled_at - self.started)
        return self.created_at + timedelta(seconds=offset)

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        elapsed = self._elapsed(now)
        half = self.queue_seconds / 2
        running = max(0.0, min(elapsed - self.queue_seconds, self.run_seconds))
        finished = None
        if status in TERMINAL:
            finished = iso(self.created_at + timedelta(seconds=min(elapsed, self.queue_seconds + self.run_seconds)))
        return {
            "id": self.id,
            "appId": self.app_id,
            "organizationId": self.organization_id,
            "status": status,
            "statusMessage": self.status_message(status) if status in TERMINAL else None,
            "stack": self.stack,
            "appBuildId": self.app_build_id,
            "appDeploymentId": self.app_deployment_id,
            "finishedAt": finished,
            "createdAt": iso(self.created_at),
            "queueTimeInSeconds": round(min(elapsed, half), 3),
            "pendingTimeInSeconds": round(max(0.0, min(elapsed - half, half)), 3),
            "inProgressTimeInSeconds": round(running, 3),
            "totalTimeInSeconds": round(min(elapsed, self.queue_seconds) + running, 3),
        }

    def logs_json(self, now: float) -> list[dict[str, Any]]:
        return [
            {
                "jobId": self.id,
                "number": number,
                "payload": self.log_payload(number),
                "timestamp": iso(self._line_time(number)),
            }
            for number in range(1, self.visible_lines(now) + 1)
        ]


@dataclass
class BundleFileRecord:
    id: str
    name: str
    href: str | None
    mime_type: str | None
    checksum: str  # lower-case SHA-256 hex
    size: int
    signature: str | None
    path: Path | None = None  # set once the bytes are on disk and verified
    uploads: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)  # upload id → part → (etag, size)


@dataclass
class BundleRecord:
    """A live-update bundle; its id is that of its build artifact."""

    id: str
    app_id: str
    build_id: str
    artifact_type: str  # "zip" or "manifest"
    channel_id: str | None
    rollout: float
    files: dict[str, BundleFileRecord] = field(default_factory=dict)
    served: BundleFileRecord | None = None  # what the artifact's download returns, once ready


@dataclass
class BuildSourceRecord:
    """A build source: an uploaded source.zip (`fileSizeInBytes` announced first) or a `fileUrl`."""

    id: str
    app_id: str
    file_url: str | None
    size: int | None
    created_at: str
    path: Path | None = None  # set once the upload is complete
    uploads: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)  # upload id → part → (etag, size)

    @property
    def status(self) -> str:
        return "ready" if self.file_url is not None or self.path is not None else "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "appId": self.app_id,
            "type": "url" if self.file_url is not None else "file",
            "status": self.status,
            "fileUrl": self.file_url,
            "fileSizeInBytes": self.size,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
        }


def load_public_key(pem: str) -> RSAPublicKey:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the bundle-signing public key must be an RSA key")
    return key


def _named(app_id: str, name: str, **extra: Any) -> dict[str, Any]:
    stamp = iso()
    return {"id": new_id(), "appId": app_id, "name": name, **extra, "createdAt": stamp, "updatedAt": stamp}


class SandboxState(EmulatorState):
    """Everything the emulator knows. One lock (from `EmulatorState`), because the HTTP server is
    threaded; handlers run with it held."""

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config.token or "cap_sandbox_" + secrets.token_hex(16))
        self.config = config
        self.next_outcome: str | None = None  # overrides the final status of the next job created
        self.now = time.monotonic()  # the clock reading of the request being handled
        self.organization_id = new_id()
        self.user = {"id": new_id(), "email": "sandbox@example.com", "name": "Sandbox User"}
        stamp = iso()
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
        self.environment_variables: list[dict[str, Any]] = []  # of every environment, by `appEnvironmentId`
        self.environment_secrets: list[dict[str, Any]] = []  # the same, with a `value` never answered
        self.devices: dict[str, dict[str, Any]] = {}  # device id → the live-update device as last probed
        self.destinations = [
            _named(self.app_id, "google-play-internal", platform="android", type="google_play"),
            _named(self.app_id, "app-store-connect", platform="ios", type="app_store_connect"),
        ]
        self.builds: dict[str, dict[str, Any]] = {}
        self.build_plans: dict[str, dict[str, Any]] = {}  # build id → channels to deploy to, artifact size
        self.build_numbers: dict[str, int] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.signed_urls: dict[str, tuple[str, float]] = {}  # capability → (artifact id, expiry in time.time())
        self.shares: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.bundles: dict[str, BundleRecord] = {}
        self.build_sources: dict[str, BuildSourceRecord] = {}
        self.public_keys: dict[str, RSAPublicKey] = {}  # app id → bundle-signing key
        if config.public_key_pem:
            self.public_keys[self.app_id] = load_public_key(config.public_key_pem)
        self._storage: tempfile.TemporaryDirectory[str] | None = None
        # organizations and what they hold; app webhooks, automations, repository links (organizations.py & co.)
        self.organizations: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.invitations: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.team_apps: dict[str, dict[str, Any]] = {}
        self.team_members: dict[str, dict[str, Any]] = {}
        self.git_connections: dict[str, dict[str, Any]] = {}
        self.license_keys: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.automations: dict[str, dict[str, Any]] = {}
        self.repositories: dict[str, dict[str, Any]] = {}  # app id → the git repository it is linked to
        self.add_organization("Demo Organization", self.organization_id)
        teammate = {"id": new_id(), "email": "teammate@example.com", "name": "Sandbox Teammate"}
        self.add_member(self.organization_id, teammate, "member")

    def storage(self) -> Path:
        """Where uploaded bundle files live: on disk, so a 300 MiB bundle never sits in memory."""
        if self._storage is None:
            self._storage = tempfile.TemporaryDirectory(prefix="capawesome-sandbox-")
        return Path(self._storage.name)

    def close(self) -> None:
        with self.lock:  # no handler is writing into the directory while it goes
            if self._storage is not None:
                self._storage.cleanup()
                self._storage = None

    def artifact_seed(self, artifact_id: str) -> str:
        return f"{self.config.seed}:{artifact_id}"

    def add_channel(
        self, app_id: str, name: str, protected: bool = False, expires_at: str | None = None
    ) -> dict[str, Any]:
        stamp = iso()
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

    def add_organization(self, name: str, organization_id: str | None = None) -> dict[str, Any]:
        """An organization, with the sandbox user as its owner."""
        stamp = iso()
        slug = "-".join(filter(None, "".join(c if c.isalnum() else " " for c in name.lower()).split())) or "org"
        taken = {organization["slug"] for organization in self.organizations.values()}
        unique, number = slug, 1
        while unique in taken:
            number += 1
            unique = f"{slug}-{number}"
        organization: dict[str, Any] = {
            "id": organization_id or new_id(),
            "name": name,
            "slug": unique,
            "countryAllowlist": None,
            "ipAllowlist": None,
            "twoFactorRequired": False,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.organizations[organization["id"]] = organization
        self.add_member(organization["id"], self.user, "owner")
        return organization

    def add_member(self, organization_id: str, user: dict[str, Any], role: str) -> dict[str, Any]:
        stamp = iso()
        member = {
            "id": new_id(),
            "organizationId": organization_id,
            "userId": user["id"],
            "role": role,
            "user": dict(user),
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.members[member["id"]] = member
        return member

    def take_outcome(self, requested: str | None) -> str:
        outcome = self.next_outcome or requested or "succeeded"
        self.next_outcome = None
        return outcome

    def new_job(self, app_id: str, template: str, outcome: str, stack: str, **overrides: Any) -> JobRecord:
        job = JobRecord(
            id=new_id(),
            app_id=app_id,
            organization_id=self.organization_id,
            template=template,
            outcome=outcome,
            queue_seconds=overrides.pop("queue_seconds", self.config.queue_seconds),
            run_seconds=overrides.pop("run_seconds", self.config.run_seconds),
            log_lines=max(1, overrides.pop("log_lines", self.config.log_lines)),
            stack=stack,
            **overrides,
        )
        self.jobs[job.id] = job
        return job

    def new_build(
        self, app_id: str, platform: str, job: JobRecord, build_type: str | None = None, git_ref: str | None = None
    ) -> dict[str, Any]:
        number = self.build_numbers[app_id] = self.build_numbers.get(app_id, 0) + 1
        stamp = iso()
        build: dict[str, Any] = {
            "id": new_id(),
            "appId": app_id,
            "numberAsString": str(number),
            "platform": platform,
            "type": build_type,
            "stack": job.stack,
            "gitRef": git_ref,
            "jobId": job.id,
            "displayName": None,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        job.app_build_id = build["id"]
        self.builds[build["id"]] = build
        return build

    def settle(self) -> None:
        """Read the clock for this request and apply what newly finished jobs leave behind, once each.
        Handlers use `self.now`, so one response never shows a finished job without its artifacts."""
        self.now = now = time.monotonic()
        for job in self.jobs.values():
            if job.settled or job.status(now) not in TERMINAL:
                continue
            job.settled = True
            if job.app_build_id and job.status(now) == "succeeded":
                self._on_build_succeeded(self.builds[job.app_build_id])

    def _on_build_succeeded(self, build: dict[str, Any]) -> None:
        plan = self.build_plans.get(build["id"], {})
        platform, build_type = build["platform"], build["type"]
        if platform == "android":
            files = [("aab", "app-release.aab"), ("apk", "app-release.apk")]
            if build_type != "release":
                files = [("apk", "app-debug.apk")]
        elif platform == "ios":
            files = [("ipa", "App.ipa"), ("dsym", "App.app.dSYM.zip")]
            if build_type in (None, "simulator"):  # the CLI's default type
                files = [("zip", "App.app.zip")]
        else:
            files = [("zip", "web.zip")]
        for artifact_type, file_name in files:
            stamp = iso()
            artifact = {
                "id": new_id(),
                "appBuildId": build["id"],
                "type": artifact_type,
                "status": "ready",
                "fileName": file_name,
                "totalSizeInBytes": plan.get("artifact_size", self.config.artifact_size),
                "totalDownloads": 0,
                "formFactor": None,
                "downloadUrl": None,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self.artifacts[artifact["id"]] = artifact
            remember_kind(self.artifact_seed(artifact["id"]), artifact_kind(artifact_type, file_name))
        for channel_id in plan.get("channel_ids", []):
            if channel_id in self.channels:  # it may have been deleted while the build ran
                self.deploy_to_channel(build, self.channels[channel_id], 1.0)

    def deploy_to_channel(self, build: dict[str, Any], channel: dict[str, Any], rollout: float) -> dict[str, Any]:
        deployment = self.new_deployment(build, rollout, channel_id=channel["id"])
        channel["appDeploymentId"] = deployment["id"]
        channel["totalAppDeployments"] += 1
        channel["updatedAt"] = iso()
        return deployment

    def new_deployment(
        self,
        build: dict[str, Any],
        rollout: float,
        channel_id: str | None = None,
        destination_id: str | None = None,
        job_id: str | None = None,
        release_notes: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        stamp = iso()
        deployment = {
            "id": new_id(),
            "appId": build["appId"],
            "appBuildId": build["id"],
            "appChannelId": channel_id,
            "appDestinationId": destination_id,
            "jobId": job_id,
            "rolloutPercentage": rollout,
            "releaseNotes": release_notes,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.deployments[deployment["id"]] = deployment
        return deployment


def job_json(job: JobRecord, now: float, with_logs: bool) -> dict[str, Any]:
    """A Job, optionally with its `jobLogs` relation."""
    return {**job.to_json(now), "jobLogs": job.logs_json(now)} if with_logs else job.to_json(now)
