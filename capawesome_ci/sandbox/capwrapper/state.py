"""The Capwrapper emulator's state: its configuration, the builds (whose status follows the clock:
`queued` for `queue_seconds`, `building` for `build_seconds`, then the outcome), the highest version
of each bundle id (a new build's must be higher), and the signed download URLs it handed out."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from capawesome_ci.sandbox.emulator import EmulatorState

# What a build ends as: `never` keeps it building forever (a stuck build, for deadline tests).
OUTCOMES = ("success", "failed", "never")
PLATFORMS = ("android", "ios")
BINARY_EXTENSION = {"android": "apk", "ios": "ipa"}
FAILED_ERROR = "The web app at the given URL did not load: HTTP 502 from the origin."
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]] | None:
    """A sort key by semver precedence (a pre-release is lower than its release), or None if no semver."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in (pre or "").split(".") if p)
    return int(major), int(minor), int(patch), 0 if pre else 1, parts


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class CapwrapperConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None  # None: a random "cw_sandbox_…" key
    queue_seconds: float = 0.3
    build_seconds: float = 1.5
    outcome: str = "success"  # one of OUTCOMES
    platform: str = "android"  # what the wrapped binary is (create takes no platform)
    artifact_size: int = 256 * 1024
    url_seconds: float = 300.0  # lifetime of a signed download URL
    faults: tuple[str, ...] = ()


class CapwrapperState(EmulatorState):
    def __init__(self, config: CapwrapperConfig) -> None:
        super().__init__(config.token or "cw_sandbox_" + secrets.token_hex(12))
        self.config = config
        self.builds: dict[str, dict[str, Any]] = {}  # in creation order
        self.versions: dict[str, str] = {}  # bundle id → highest version built
        self.deploys: list[dict[str, Any]] = []
        # build id → (created, queue seconds, build seconds, outcome): its status is computed from these
        self.timings: dict[str, tuple[float, float, float, str]] = {}
        self._secret = secrets.token_bytes(32)
        self.download_origin = ""  # set by the emulator once its second server listens

    def new_build(self, body: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        build = {
            "id": "bld_" + secrets.token_hex(8),
            "status": "queued",
            "createdAt": iso(now),
            "url": body["url"],
            "appName": body["appName"],
            "bundleId": body["bundleId"],
            "version": body["version"],
            "permissions": list(body.get("permissions") or []),
            "platform": self.config.platform,
        }
        self.builds[build["id"]] = build
        self.versions[body["bundleId"]] = body["version"]
        self.timings[build["id"]] = (now, self.config.queue_seconds, self.config.build_seconds, self.config.outcome)
        return build

    def settle(self, build: dict[str, Any]) -> None:
        """Move `build` along the clock: queued → building → its outcome."""
        created, queue, run, outcome = self.timings[build["id"]]
        elapsed = time.time() - created
        if elapsed < queue or build["status"] in ("success", "failed"):
            return
        if elapsed < queue + run or outcome == "never":
            build["status"] = "building"
            return
        build["status"] = outcome
        build["completedAt"] = iso(created + queue + run)
        if outcome == "failed":
            build["error"] = FAILED_ERROR

    def view(self, build: dict[str, Any]) -> dict[str, Any]:
        """The build as `GET /builds/:id` shows it: a fresh signed `downloadUrl` once it succeeded."""
        self.settle(build)
        data = dict(build)
        if build["status"] == "success":
            data["downloadUrl"] = self.sign(build["id"], time.time() + self.config.url_seconds)
        return data

    # -- signed URLs -------------------------------------------------------------------------------
    def file_name(self, build: dict[str, Any]) -> str:
        return f"{build['appName']}-{build['version']}.{BINARY_EXTENSION.get(build['platform'], 'apk')}"

    def _signature(self, build_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{build_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def sign(self, build_id: str, expires_at: float) -> str:
        expires = int(expires_at)
        signature = self._signature(build_id, expires)
        return f"{self.download_origin}/files/{build_id}?expires={expires}&signature={signature}"

    def check_signature(self, build_id: str, expires: str, signature: str) -> str:
        """'' when the URL is good, else why it is refused ('expired' or 'invalid')."""
        if not expires.isdigit() or not hmac.compare_digest(self._signature(build_id, int(expires)), signature):
            return "invalid"
        return "expired" if time.time() > int(expires) else ""

    def seed(self, build_id: str) -> str:
        return f"capwrapper:{build_id}"
