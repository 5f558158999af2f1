"""build on Capgo (Capgo Build): the inputs it adds to the neutral build step, and what it refuses.

Capgo builds native apps only, only from the checkout (the --path folder, zipped and uploaded), never
from a git ref or a URL. Its credentials go with each request: they are read from files given by flag or
from the environment variables Capgo's own CLI reads (BUILD_CERTIFICATE_BASE64, P12_PASSWORD, APPLE_KEY_ID,
APPLE_ISSUER_ID, APPLE_KEY_CONTENT, ANDROID_KEYSTORE_FILE, KEYSTORE_KEY_ALIAS, KEYSTORE_KEY_PASSWORD,
KEYSTORE_STORE_PASSWORD, PLAY_CONFIG_JSON, CAPGO_IOS_PROVISIONING_MAP, …), so a CI's existing secrets
work unchanged. Secrets are never flags (a process list shows flags): only files and variables.

`platform_options()` hands them to the adapter under Capgo's own names (cloud/capgo_build.py):
`build_mode`, UPPER_SNAKE credentials (masked in log lines and dry-run plans), camelCase build options.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.steps import build
from capawesome_ci.steps.inputs import parse_duration
from capawesome_ci.steps.sources import check_source_folder

# Secret credentials read from the environment when no file flag gives them (Capgo's CLI names).
SECRET_VARIABLES = (
    "BUILD_CERTIFICATE_BASE64",
    "P12_PASSWORD",
    "APPLE_KEY_CONTENT",
    "FASTLANE_APPLE_APPLICATION_SPECIFIC_PASSWORD",
    "ANDROID_KEYSTORE_FILE",
    "KEYSTORE_KEY_ALIAS",
    "KEYSTORE_KEY_PASSWORD",
    "KEYSTORE_STORE_PASSWORD",
    "PLAY_CONFIG_JSON",
)
# Non-secret credentials from the environment when no flag gives them.
PLAIN_VARIABLES = ("APPLE_KEY_ID", "APPLE_ISSUER_ID", "APP_STORE_CONNECT_TEAM_ID", "FASTLANE_USER", "APPLE_APP_ID")
MIN_RETENTION_SECONDS = 3600  # Capgo keeps build outputs 1 hour to 7 days
MAX_RETENTION_SECONDS = 7 * 24 * 3600
# File flags and the credential each fills (base64 of the file, as Capgo's CLI sends it).
FILE_FIELDS = {
    "keystore_file": "ANDROID_KEYSTORE_FILE",
    "play_config_file": "PLAY_CONFIG_JSON",
    "p12_file": "BUILD_CERTIFICATE_BASE64",
    "apple_key_file": "APPLE_KEY_CONTENT",
}
# Neutral build inputs Capgo Build has no use for (exit 2 rather than silently ignored).
_NOT_ON_CAPGO = ("certificate", "environment", "configuration", "stack", "var", "var_file", "type")


def _file_base64(path: Path, field: str) -> str:
    try:
        return base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or 'unreadable'}", field=field) from None


def _file_text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a UTF-8 text file"
        raise InputError(f"cannot read {path}: {reason}", field=field) from None


class BuildInputs(build.BuildInputs):
    path: Path | None = Field(
        default=None,
        description="The project folder with the native project (zipped, .gitignore honoured) or its .zip "
        "(default: the working folder; Capgo builds from the checkout, never from git)",
        json_schema_extra={"metavar": "PATH"},
    )
    build_mode: Literal["release", "debug"] = Field(default="release", description="Capgo Build mode: release or debug")
    output_upload: bool = Field(
        default=False,
        description="Have Capgo keep the built binary behind a time-limited download link (sent in the build's "
        "log) even without --download, which turns it on (otherwise binaries go to the stores only)",
    )
    output_retention: str | None = Field(
        default=None,
        description="How long Capgo keeps the binary for download: 1h to 7d (default 1h)",
        json_schema_extra={"metavar": "DURATION"},
    )
    keystore_file: Path | None = Field(
        default=None,
        description="Android keystore file (else $ANDROID_KEYSTORE_FILE, base64); its alias and passwords "
        "come from $KEYSTORE_KEY_ALIAS, $KEYSTORE_KEY_PASSWORD, $KEYSTORE_STORE_PASSWORD",
        json_schema_extra={"metavar": "FILE"},
    )
    play_config_file: Path | None = Field(
        default=None,
        description="Google Play service-account JSON, to upload to Play (else $PLAY_CONFIG_JSON, base64)",
        json_schema_extra={"metavar": "FILE"},
    )
    p12_file: Path | None = Field(
        default=None,
        description="iOS signing certificate .p12 (else $BUILD_CERTIFICATE_BASE64); its password from $P12_PASSWORD",
        json_schema_extra={"metavar": "FILE"},
    )
    apple_key_file: Path | None = Field(
        default=None,
        description="App Store Connect API key .p8 (else $APPLE_KEY_CONTENT, base64)",
        json_schema_extra={"metavar": "FILE"},
    )
    apple_key_id: str | None = Field(default=None, description="App Store Connect key id (else $APPLE_KEY_ID)")
    apple_issuer_id: str | None = Field(default=None, description="App Store Connect issuer id (else $APPLE_ISSUER_ID)")
    provisioning_map_file: Path | None = Field(
        default=None,
        description="iOS provisioning profiles: Capgo's JSON map of bundle id to base64 profile and name "
        "(else $CAPGO_IOS_PROVISIONING_MAP, or $CAPGO_IOS_PROVISIONING_MAP_BASE64)",
        json_schema_extra={"metavar": "FILE"},
    )
    ios_scheme: str | None = Field(default=None, description="Xcode scheme (else $CAPGO_IOS_SCHEME)")
    ios_distribution: Literal["app_store", "ad_hoc"] | None = Field(
        default=None, description="iOS distribution: app_store or ad_hoc (else $CAPGO_IOS_DISTRIBUTION)"
    )

    @field_validator("output_retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if not MIN_RETENTION_SECONDS <= seconds <= MAX_RETENTION_SECONDS:
            raise ValueError(f"must be from 1h to 7d, got {value!r}")
        return str(int(seconds))

    @field_validator("keystore_file", "play_config_file", "p12_file", "apple_key_file", "provisioning_map_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _capgo(self) -> BuildInputs:
        if self.platform == "web":
            raise InputError(
                "Capgo Build makes android and ios apps; web bundles go up with live-update", field="platform"
            )
        if self.git_ref:
            raise InputError(
                lambda name: f"Capgo builds from the checkout ({name('path')}), never from a git ref", field="git_ref"
            )
        if self.url is not None:
            raise InputError(
                lambda name: f"Capgo builds from the checkout ({name('path')}), not from a URL", field="url"
            )
        if self.path is None:  # Capgo builds the native project of the checkout: by default, the working folder
            self.path = Path(".")
            check_source_folder(self.path)
        for name in _NOT_ON_CAPGO:
            if getattr(self, name):
                raise InputError("Capgo Build does not take it", field=name)
        if self.channel:  # Capgo channels serve live-update bundles, not native builds
            raise InputError(
                "Capgo channels take live-update bundles, not native builds: upload the web build with live-update",
                field="channel",
            )
        return self

    def platform_options(self) -> dict[str, str]:
        """Capgo's build mode, options and credentials (secrets from files or the environment)."""
        return self.options_from(dict(os.environ))

    def secret_options(self, options: dict[str, str]) -> list[str]:
        secret_keys = {*SECRET_VARIABLES, *FILE_FIELDS.values()}
        return [value for key, value in options.items() if key in secret_keys]

    def options_from(self, environ: dict[str, str]) -> dict[str, str]:
        options: dict[str, str] = {"build_mode": self.build_mode}
        upload = self.output_upload or bool(self.download)
        options["outputUploadEnabled"] = "true" if upload else "false"
        if self.output_retention:
            options["outputRetentionSeconds"] = self.output_retention
        scheme = self.ios_scheme or environ.get("CAPGO_IOS_SCHEME")
        distribution = self.ios_distribution or environ.get("CAPGO_IOS_DISTRIBUTION")
        if self.platform == "ios":
            options.update(
                {key: value for key, value in (("iosScheme", scheme), ("iosDistribution", distribution)) if value}
            )
        options.update(self._credentials(environ))
        return options

    def _credentials(self, environ: dict[str, str]) -> dict[str, str]:
        given: dict[str, str] = {}
        for name in (*SECRET_VARIABLES, *PLAIN_VARIABLES):
            if environ.get(name, "").strip():
                given[name] = environ[name]
        for field_name, key in FILE_FIELDS.items():
            path = getattr(self, field_name)
            if path is not None:
                given[key] = _file_base64(path, field_name)
        if self.apple_key_id:
            given["APPLE_KEY_ID"] = self.apple_key_id
        if self.apple_issuer_id:
            given["APPLE_ISSUER_ID"] = self.apple_issuer_id
        provisioning = (
            _file_text(self.provisioning_map_file, "provisioning_map_file") if self.provisioning_map_file else None
        ) or environ.get("CAPGO_IOS_PROVISIONING_MAP")
        if not provisioning and environ.get("CAPGO_IOS_PROVISIONING_MAP_BASE64"):
            try:
                provisioning = base64.b64decode(environ["CAPGO_IOS_PROVISIONING_MAP_BASE64"]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise InputError("invalid CAPGO_IOS_PROVISIONING_MAP_BASE64: not base64 of UTF-8 JSON") from None
        if provisioning:
            given["CAPGO_IOS_PROVISIONING_MAP"] = provisioning
        # As Capgo's CLI does: one keystore password given serves as both.
        for one, other in (
            ("KEYSTORE_KEY_PASSWORD", "KEYSTORE_STORE_PASSWORD"),
            ("KEYSTORE_STORE_PASSWORD", "KEYSTORE_KEY_PASSWORD"),
        ):
            if given.get(one) and not given.get(other):
                given[other] = given[one]
        android = ("ANDROID_KEYSTORE_FILE", "KEYSTORE_", "PLAY_CONFIG_JSON")
        ios = ("BUILD_CERTIFICATE_BASE64", "P12_", "APPLE_", "APP_STORE_", "FASTLANE_", "CAPGO_IOS_")
        keep = android if self.platform == "android" else ios
        return {key: value for key, value in given.items() if key.startswith(keep)}
