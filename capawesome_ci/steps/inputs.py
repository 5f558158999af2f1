"""Input models shared by the steps: validation lives here, once, for the CLI and every CI.

A field's name is its CLI flag (`rollout` → `--rollout`) and, later, its action input name;
`description` is its help text. Invalid values raise one clear line naming the input.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.fields import DURATION, PERCENTAGE
from capawesome_ci.fields import ordered_fields as ordered_fields  # where it lived: still importable here
from capawesome_ci.platform import Capability
from capawesome_ci.steps.names import has_invisible

ARTIFACT_TYPES = ("apk", "aab", "ipa", "zip", "dsym", "app", "xcarchive", "manifest")
BUILD_TYPES = {
    "android": ("debug", "release"),
    "ios": ("simulator", "development", "ad-hoc", "app-store", "enterprise"),
    "web": (),
}
# The iOS build stacks: the type of BuildInputs.stack, and its values.
Stack = Literal["macos-sequoia", "macos-tahoe"]
STACKS: tuple[str, ...] = get_args(Stack)
# Numbers typed by users: ASCII digits only. int()/float() would also take `1_0`, `١٠`, `１０`,
# `1e3`, `nan` and `inf`, which no one means as a rollout or a timeout.
# The text forms are public: capawesome_ci/fields.py gives the same regexes to GitLab's `regex:`.
_BUILD_NUMBER = re.compile(r"#?([0-9]+)")
# The blanks trimmed around a typed value (str.strip() would also take Unicode spaces).
_BLANKS = " \t\r\n"
# Inputs that name something in the API (ids end up in URL paths): printable text only.
_ID_INPUTS = ("app_id", "build_id", "job_id", "deployment_id")
_NAME_INPUTS = (*_ID_INPUTS, "channel", "destination")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _number(value: Any) -> float | None:
    """A finite number given as a number (not text), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def parse_percentage(value: Any) -> float:
    """'25', '25%', ' 12.5 ', 12.5 → 25.0 / 12.5; 0–100 inclusive."""
    number = _number(value)
    if number is None:
        match = PERCENTAGE.fullmatch(str(value).strip(_BLANKS))
        if not match:
            raise ValueError(f"must be a number from 0 to 100 like 25 or 12.5%, got {value!r}")
        number = float(match.group(1))
    if not 0 <= number <= 100:
        raise ValueError(f"must be between 0 and 100, got {value!r}")
    return number


def parse_duration(value: Any) -> float:
    """'3600', '90s', '45m', '1h30m' → seconds (> 0)."""
    total = _number(value)
    if total is None:
        match = DURATION.fullmatch(str(value).strip(_BLANKS).lower().replace(" ", ""))
        if not match or not any(match.groups()):
            raise ValueError(f"must be a duration like 3600, 90s, 45m or 1h30m, got {value!r}")
        hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
    if not 0 < total < math.inf:  # a thousand digits of hours overflow to inf
        raise ValueError(f"must be longer than 0 seconds and finite, got {value!r}")
    return total


def parse_whole_number(value: Any) -> int:
    """'10', 10 → 10: ASCII digits only (int() would take '1_0', '+10' and '١٠')."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip(_BLANKS)
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"must be a whole number like 30, got {value!r}")
    return int(text)


def split_list(values: Any) -> list[str]:
    """Repeated flags, comma- or newline-separated values → a flat list without blanks."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in re.split(r"[,\n]", str(item)) if part.strip()]


def parse_artifact_types(value: Any) -> list[str]:
    types = [t.lower().lstrip(".") for t in split_list(value)]
    unknown = [t for t in types if t not in ARTIFACT_TYPES]
    if unknown:
        raise ValueError(f"unknown artifact type {unknown[0]!r}; expected one of {', '.join(ARTIFACT_TYPES)}")
    return list(dict.fromkeys(types))


def parse_key_values(items: list[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.match(key):
            raise ValueError(f"{what} must look like KEY=VALUE with KEY of letters, digits and _, got {key!r}")
        result[key] = value
    return result


def parse_dotenv(path: Path) -> dict[str, str]:
    """A dotenv file: KEY=VALUE lines, `export ` prefix, # comments, optional matching quotes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}", field="var_file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", field="var_file") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.match(key):
            raise InputError(f"{path}:{number} is not KEY=VALUE", field="var_file")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


class StepInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    app_id: str | None = Field(
        default=None,
        description="Capawesome Cloud app id (default: $CAPAWESOME_APP_ID; the demo app with --sandbox)",
    )

    @field_validator(*_NAME_INPUTS, check_fields=False)  # also the fields subclasses declare
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and has_invisible(item):
                raise ValueError(f"must not contain control or invisible characters, got {item!r}")
            # Ids become path segments, where a dot segment would climb (cloud/paths.py refuses it too).
            if info.field_name in _ID_INPUTS and item in (".", ".."):
                raise ValueError(f"an id is never '.' or '..', got {item!r}")
        return value

    def require_app_id(self) -> str:
        if not self.app_id:
            raise InputError("missing --app-id: pass --app-id or set CAPAWESOME_APP_ID")
        return self.app_id


class BuildSelector(BaseModel):
    build_id: str | None = Field(default=None, description="Id of the build")
    build_number: str | None = Field(default=None, description="Number of the build (instead of --build-id)")

    @field_validator("build_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _BUILD_NUMBER.fullmatch(value)
        if not match:
            raise ValueError(f"must be a build number like 42, got {value!r}")
        return match.group(1).lstrip("0") or "0"  # as the API writes it: 007 is build 7

    def check_one_build(self) -> None:
        if bool(self.build_id) == bool(self.build_number):
            raise InputError(
                lambda name: f"give exactly one of {name('build_id')} and {name('build_number')}", field="build_id"
            )


class TimeoutOption(BaseModel):
    """The step's deadline (capawesome_ci/deadline.py): every request, retry, sleep and download in it."""

    timeout: float = Field(
        default=3600.0,
        description="Give up after this long, exit 124 (e.g. 3600, 90m, 1h30m)",
        json_schema_extra={"metavar": "DURATION"},
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return parse_duration(value)


class WaitOptions(TimeoutOption):
    cancel_on_timeout: bool = Field(default=True, description="Cancel the cloud job when --timeout is reached")
    failure_summary: bool = Field(
        default=False, description="On failure, ask Capawesome Cloud for its AI failure summary"
    )


class ChannelOptions(BaseModel):
    """Live-update channels and the rollout on them: shared by build, deploy and live-update."""

    channel: list[str] = Field(
        default_factory=list,
        description="Live-update channel(s) to deploy to",
        json_schema_extra={"metavar": "NAME"},
    )
    rollout: float = Field(
        default=100.0,
        description="Share of devices that get the update on the channels, 0-100 (e.g. 25 or 25%)",
        json_schema_extra={"metavar": "PERCENT"},
    )
    create_channel: bool = Field(default=False, description="Create a channel that does not exist yet")

    @field_validator("channel", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> list[str]:
        return split_list(value)

    @field_validator("rollout", mode="before")
    @classmethod
    def _rollout(cls, value: Any) -> float:
        return parse_percentage(value)

    def channel_needs(self) -> list[tuple[Capability, str | None]]:
        """What deploying to the channels asks of the platform: channels, and a rollout below 100 %."""
        needed: list[tuple[Capability, str | None]] = []
        if self.channel:
            needed.append((Capability.CHANNELS, "channel"))
            if self.rollout != 100:
                needed.append((Capability.ROLLOUT, "rollout"))
        return needed


class DeployOptions(ChannelOptions):
    destination: str | None = Field(
        default=None, description="App-store destination to deploy a native build to (by name)"
    )
    release_notes: str | None = Field(
        default=None, description="Release notes for the destination (the 'default' entry)"
    )
    release_notes_file: Path | None = Field(
        default=None,
        description='File with release notes: plain text, or JSON {"default": …, "de-DE": …}',
        json_schema_extra={"metavar": "FILE"},
    )

    @model_validator(mode="after")
    def _release_notes_need_destination(self) -> DeployOptions:
        if (self.release_notes or self.release_notes_file) and not self.destination:
            raise InputError(lambda name: f"release notes apply only to a {name('destination')}", field="release_notes")
        if self.release_notes and self.release_notes_file:
            raise InputError(
                lambda name: f"give {name('release_notes')} or {name('release_notes_file')}, not both",
                field="release_notes_file",
            )
        self.release_notes_dict()  # fail now, before any request, on an unreadable file
        return self

    def release_notes_dict(self) -> dict[str, str] | None:
        if self.release_notes_file is not None:
            return read_release_notes(self.release_notes_file)
        return {"default": self.release_notes} if self.release_notes else None


def read_release_notes(path: Path) -> dict[str, str]:
    """Plain text (the default entry) or JSON {"default": …, "<locale>": …}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot read {path}: {getattr(error, 'strerror', None) or error}", field="release_notes_file"
        ) from None
    if not text.lstrip().startswith("{"):
        return {"default": text.strip()}
    try:
        notes = json.loads(text)
    except ValueError as error:
        raise InputError(f"not valid JSON: {error}", field="release_notes_file") from None
    if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
        raise InputError("the JSON must map locales to strings", field="release_notes_file")
    if "default" not in notes:
        raise InputError('the JSON needs a "default" entry', field="release_notes_file")
    return notes
