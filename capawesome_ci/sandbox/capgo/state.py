"""The Capgo emulator's state: one organisation and its apps, the bundles (`app_versions` rows, never
forgotten while their app lives: a name stays taken after delete, as Capgo's unique (name, app_id)
constraint keeps it), the channels with their stable bundle and rollout, the devices forced onto a
channel, and the uploaded zips, on disk in a temporary folder that `close()` removes."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from capawesome_ci.sandbox.emulator import EmulatorState

DEFAULT_APP_ID = "com.example.app"
# Capgo's own patterns (supabase/functions/_backend/utils/utils.ts).
APP_ID = re.compile(r"[a-z0-9]+(\.[\w-]+)+", re.IGNORECASE)
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-z-][0-9a-z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-z-][0-9a-z-]*))*))?"
    r"(?:\+([0-9a-z-]+(?:\.[0-9a-z-]+)*))?",
    re.IGNORECASE,
)
PAGE_SIZE = 50  # Capgo's fetchLimit


def is_app_id(value: object) -> bool:
    return isinstance(value, str) and APP_ID.fullmatch(value) is not None


def is_semver(value: object) -> bool:
    return isinstance(value, str) and value[:1] not in ("v", "V") and SEMVER.fullmatch(value) is not None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # PostgREST's timestamptz form


@dataclass
class CapgoConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None  # None: a random key, as Capgo's are (uuid-like)
    app_id: str = DEFAULT_APP_ID
    faults: tuple[str, ...] = ()


def new_channel_row(channel_id: int, name: str, app_id: str, owner_org: str, user_id: str) -> dict[str, Any]:
    """A `channels` row with the database's defaults."""
    moment = now_iso()
    return {
        "id": channel_id,
        "created_at": moment,
        "updated_at": moment,
        "name": name,
        "app_id": app_id,
        "owner_org": owner_org,
        "created_by": user_id,
        "version": None,
        "public": False,
        "disable_auto_update_under_native": True,
        "disable_auto_update": "major",
        "ios": True,
        "android": True,
        "electron": True,
        "allow_device_self_set": False,
        "allow_emulator": True,
        "allow_device": True,
        "allow_dev": True,
        "allow_prod": True,
        "rollout_version": None,
        "rollout_percentage_bps": 0,
        "rollout_enabled": False,
        "rollout_id": str(uuid.uuid4()),
        "rollout_paused_at": None,
        "rollout_pause_reason": None,
        "rollout_cache_ttl_seconds": 2592000,
        "auto_pause_enabled": False,
        "auto_pause_window_minutes": 60,
        "auto_pause_failure_rate_bps": None,
        "auto_pause_confidence": 0.95,
        "auto_pause_min_attempts": None,
        "auto_pause_min_failures": None,
        "auto_pause_action": "pause",
        "auto_pause_cooldown_minutes": 60,
        "auto_pause_last_triggered_at": None,
        "auto_pause_last_checked_at": None,
    }


class CapgoState(EmulatorState):
    def __init__(self, config: CapgoConfig) -> None:
        super().__init__(config.token or str(uuid.uuid4()))
        self.config = config
        self.anon_key = "sandbox-anon-" + secrets.token_hex(8)  # what /private/config hands the CLI
        self.org_id = str(uuid.uuid4())
        self.user_id = str(uuid.uuid4())
        self.origin = ""  # set by the emulator once it listens
        self.apps: dict[str, dict[str, Any]] = {}
        self.versions: dict[int, dict[str, Any]] = {}  # id → app_versions row, deleted ones included
        self.channels: dict[int, dict[str, Any]] = {}
        self.devices: list[dict[str, Any]] = []
        self.forced_channels: dict[tuple[str, str], int] = {}  # Capgo's channel_devices: (app, device) → channel
        self.upload_tickets: dict[str, int] = {}  # upload URL token → version id
        self.events: list[dict[str, Any]] = []
        self._next_version_id = 1
        self._next_channel_id = 1
        self.files = Path(tempfile.mkdtemp(prefix="capgo-sandbox-"))  # the stored zips; close() removes it
        self.add_app(config.app_id, "Example App")
        self.add_channel(config.app_id, "production")

    def close(self) -> None:
        shutil.rmtree(self.files, ignore_errors=True)

    # -- apps --------------------------------------------------------------------------------------
    def add_app(self, app_id: str, name: str, icon_url: str = "") -> dict[str, Any]:
        moment = now_iso()
        app: dict[str, Any] = {
            "app_id": app_id,
            "id": str(uuid.uuid4()),
            "name": name,
            "icon_url": icon_url,
            "owner_org": self.org_id,
            "user_id": self.user_id,
            "created_at": moment,
            "updated_at": moment,
            "last_version": None,
            "retention": 2592000,
            "default_upload_channel": "production",
            "transfer_history": [],
            "channel_device_count": 0,
            "manifest_bundle_count": 0,
            "expose_metadata": False,
            "allow_preview": False,
            "allow_device_custom_id": True,
            "need_onboarding": False,
            "existing_app": False,
            "ios_store_url": None,
            "android_store_url": None,
            "block_provider_infra_requests": True,
        }
        self.apps[app_id] = app
        return app

    def remove_app(self, app_id: str) -> None:
        """What Capgo's DELETE /app/:id removes: the app's channels (and their forced devices), devices
        and bundles (hard-deleted, so their names are free again for an app created anew) and stored zips."""
        for row in [row for row in self.channels.values() if row["app_id"] == app_id]:
            self.remove_channel(row)
        self.devices = [device for device in self.devices if device.get("app_id") != app_id]
        for version_id in [key for key, row in self.versions.items() if row["app_id"] == app_id]:
            del self.versions[version_id]
            self.bundle_path(version_id).unlink(missing_ok=True)
        self.upload_tickets = {key: value for key, value in self.upload_tickets.items() if value in self.versions}
        del self.apps[app_id]

    # -- bundles -----------------------------------------------------------------------------------
    def add_version(self, app_id: str, name: str, **fields: Any) -> dict[str, Any]:
        moment = now_iso()
        version_id, self._next_version_id = self._next_version_id, self._next_version_id + 1
        row: dict[str, Any] = {
            "id": version_id,
            "created_at": moment,
            "updated_at": moment,
            "app_id": app_id,
            "name": name,
            "owner_org": self.org_id,
            "user_id": self.user_id,
            "deleted": False,
            "deleted_at": None,
            "external_url": None,
            "checksum": None,
            "session_key": None,
            "key_id": None,
            "storage_provider": "r2",
            "r2_path": None,
            "min_update_version": None,
            "native_packages": None,
            "manifest": None,
            "manifest_count": 0,
            "link": None,
            "comment": None,
            "cli_version": None,
        }
        row.update({key: value for key, value in fields.items() if key not in ("id", "created_at")})
        row["app_id"], row["name"] = app_id, name
        self.versions[version_id] = row
        self.apps[app_id]["last_version"] = name
        return row

    def version_named(self, app_id: str, name: str, *, deleted: bool | None = False) -> dict[str, Any] | None:
        for row in self.versions.values():
            if row["app_id"] == app_id and row["name"] == name and (deleted is None or row["deleted"] == deleted):
                return row
        return None

    def live_versions(self, app_id: str) -> list[dict[str, Any]]:
        """Newest first, as `GET /bundle` orders them (by creation, ids break ties)."""
        rows = [row for row in self.versions.values() if row["app_id"] == app_id and not row["deleted"]]
        return sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)

    def linked_version_ids(self, app_id: str) -> set[int]:
        return {
            version_id
            for channel in self.channels.values()
            if channel["app_id"] == app_id
            for version_id in (channel["version"], channel["rollout_version"])
            if version_id is not None
        }

    def bundle_path(self, version_id: int) -> Path:
        return self.files / f"{version_id}.zip"

    def r2_path(self, app_id: str, name: str) -> str:
        return f"orgs/{self.org_id}/apps/{app_id}/{name}.zip"

    def bundle_url(self, row: dict[str, Any]) -> str:
        """Where a stored bundle's bytes are served: its external URL, or the emulator's file route."""
        if row.get("external_url"):
            return str(row["external_url"])
        return f"{self.origin}/files/read/attachments/{row['r2_path'] or self.r2_path(row['app_id'], row['name'])}"

    def version_by_r2_path(self, path: str) -> dict[str, Any] | None:
        for row in self.versions.values():
            if not row["deleted"] and (row["r2_path"] or self.r2_path(row["app_id"], row["name"])) == path:
                return row
        return None

    def new_upload_ticket(self, version_id: int) -> str:
        ticket = secrets.token_urlsafe(16)
        self.upload_tickets[ticket] = version_id
        return f"{self.origin}/files/upload/{ticket}"

    # -- channels ----------------------------------------------------------------------------------
    def add_channel(self, app_id: str, name: str) -> dict[str, Any]:
        channel_id, self._next_channel_id = self._next_channel_id, self._next_channel_id + 1
        row = new_channel_row(channel_id, name, app_id, self.org_id, self.user_id)
        self.channels[channel_id] = row
        return row

    def channel_named(self, app_id: str, name: str) -> dict[str, Any] | None:
        for row in self.channels.values():
            if row["app_id"] == app_id and row["name"] == name:
                return row
        return None

    def remove_channel(self, row: dict[str, Any]) -> None:
        """Deleting a channel releases the devices forced onto it (channel_devices' ON DELETE CASCADE)."""
        del self.channels[row["id"]]
        self.forced_channels = {key: value for key, value in self.forced_channels.items() if value != row["id"]}

    def forced_channel(self, app_id: str, device_id: str) -> str | None:
        """The name of the channel `device_id` is forced onto, if any."""
        channel_id = self.forced_channels.get((app_id, device_id))
        return None if channel_id is None else str(self.channels[channel_id]["name"])

    def update_channel(self, row: dict[str, Any], changes: dict[str, Any]) -> None:
        """Apply `changes` as Capgo's `refresh_channel_rollout_id` trigger would: a changed rollout
        target starts a new cohort (a new rollout_id); no target, no pause."""
        rollout_changed = "rollout_version" in changes and changes["rollout_version"] != row["rollout_version"]
        row.update(changes)
        if rollout_changed:
            row["rollout_id"] = str(uuid.uuid4())
            if row["rollout_version"] is None:
                row["rollout_paused_at"] = None
        row["updated_at"] = now_iso()

    def version_ref(self, version_id: int | None) -> dict[str, Any] | None:
        """`{name, id}`, PostgREST's embedding of a channel's bundle."""
        row = self.versions.get(version_id) if version_id is not None else None
        return None if row is None else {"name": row["name"], "id": row["id"]}
