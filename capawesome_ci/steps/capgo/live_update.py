"""live-update on Capgo: zip a web build (or take a .zip), optionally encrypt it, upload it as a
named bundle — Capgo-hosted, or a self-hosted `--url` registered through `POST /bundle` — then deploy
it to channels (100 %: the stable bundle; less: a rollout, which needs a stable bundle first).

Everything that can refuse the run is checked before the first change: the bundle name (semver,
never used before on Capgo), the channels, the rollout's stable bundle, the key.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.platform import Capability
from capawesome_ci.result import ArtifactResult
from capawesome_ci.steps.bundle import bundle_files, check_zip, sha256_of, write_zip
from capawesome_ci.steps.capgo.common import (
    checked_bundle_name,
    deploy_bundle,
    operations,
    plan_channels,
    refuse_taken_name,
    version_from_package_json,
)
from capawesome_ci.steps.capgo.crypto import EncryptedBundle, encrypt_bundle, load_key
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import ChannelOptions, StepInputs, TimeoutOption

# The key's text, as `@capgo/cli bundle upload --key-data-v2` takes it (the CLI reads no variable).
KEY_ENV = "CAPGO_KEY_DATA_V2"
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class LiveUpdateInputs(StepInputs, ChannelOptions, TimeoutOption):
    path: Path | None = Field(
        default=None,
        description="Web build folder (with index.html) or a .zip to upload",
        json_schema_extra={"metavar": "PATH"},
    )
    bundle: str | None = Field(
        default=None,
        description="Bundle name, a semver never used before on Capgo (default: the version in the "
        "package.json at or above --path)",
        json_schema_extra={"metavar": "VERSION"},
    )
    url: str | None = Field(
        default=None, description="Register a self-hosted zip by its https URL instead of uploading (POST /bundle)"
    )
    checksum: str | None = Field(
        default=None,
        description="SHA-256 hex of the self-hosted zip (default: computed from --path, a copy of it)",
        json_schema_extra={"metavar": "SHA256"},
    )
    encryption_key_file: Path | None = Field(
        default=None,
        description=f"Capgo v2 private key (`capgo key create`'s .capgo_key_v2) to encrypt the bundle "
        f"(or the key in ${KEY_ENV})",
        json_schema_extra={"metavar": "FILE"},
    )

    @field_validator("bundle")
    @classmethod
    def _bundle(cls, value: str | None) -> str | None:
        return None if value is None else checked_bundle_name(value, "the bundle name")

    @field_validator("checksum")
    @classmethod
    def _checksum(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.fullmatch(value):
            raise ValueError("must be the 64 hex digits of a SHA-256")
        return value.lower() if value else value

    @model_validator(mode="after")
    def _source(self) -> LiveUpdateInputs:
        if not self.path and not self.url:
            raise InputError(
                lambda name: f"give the web build folder (or a .zip) with {name('path')}, or {name('url')}",
                field="path",
                problem="missing",
            )
        if self.url and not self.url.startswith("https://"):
            raise InputError("a self-hosted bundle must be served over https://", field="url")
        if self.checksum and not self.url:
            raise InputError(lambda name: f"only a self-hosted {name('url')} takes a checksum", field="checksum")
        if self.path is not None:
            if not self.path.exists():
                raise InputError(f"{self.path} does not exist", field="path")
            if self.path.is_file():
                if self.path.suffix.lower() != ".zip":
                    raise InputError("a file must be a .zip", field="path")
                check_zip(self.path)
            elif self.url:
                raise InputError(
                    lambda name: f"with {name('url')}, {name('path')} is the zip served there", field="path"
                )
            else:
                bundle_files(self.path, lambda _: None)  # no index.html, a refused symlink: fail now
        if self.url and not self.checksum and not (self.path and self.path.is_file()):
            raise InputError(
                lambda name: (
                    f"Capgo needs the self-hosted zip's checksum: give {name('checksum')}, or {name('path')} "
                    "with a copy of the zip"
                ),
                field="checksum",
                problem="missing",
            )
        if self.url and self.encryption_key_file:
            raise InputError(
                lambda name: (
                    f"a self-hosted zip is registered as it is served: {name('encryption_key_file')} "
                    "applies to uploads only"
                ),
                field="encryption_key_file",
            )
        return self


def _key(inputs: LiveUpdateInputs, ctx: StepContext) -> Any:
    """From --encryption-key-file or $CAPGO_KEY_DATA_V2; masked before anything else reads it."""
    if inputs.encryption_key_file is not None:
        try:
            text = inputs.encryption_key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise InputError(
                f"cannot read {inputs.encryption_key_file}: {reason}", field="encryption_key_file"
            ) from None
        source = str(inputs.encryption_key_file)
    elif not inputs.url and ctx.environ.get(KEY_ENV, "").strip():
        text, source = ctx.environ[KEY_ENV], f"${KEY_ENV}"
    else:
        return None
    ctx.reporter.mask(text)
    return load_key(text, source)


def run(inputs: LiveUpdateInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    ops = operations(ctx)
    if inputs.bundle:
        name = inputs.bundle
    elif inputs.path is not None:
        name = version_from_package_json(inputs.path)
    else:
        raise InputError(lambda n: f"give the bundle name with {n('bundle')}", field="bundle", problem="missing")
    key = _key(inputs, ctx)
    ctx.result.platform = "web"
    if inputs.url:
        refuse_taken_name(ctx, ops, name)
    # A hosted upload is refused by the upload itself, which asks Capgo's own existence check (one read
    # that also sees deleted bundles' names) before it writes anything: no walk of the whole bundle list.
    plans = plan_channels(ctx, ops, inputs.channel, name, inputs.rollout, inputs.create_channel)
    with tempfile.TemporaryDirectory(prefix="capawesome-capgo-") as scratch_name:
        scratch = Path(scratch_name)
        source = inputs.path
        plain_checksum, size = inputs.checksum, None
        if source is not None and source.is_dir():
            folder, source = source, scratch / "bundle.zip"
            write_zip(folder, source, ctx.reporter.warning)
        if source is not None:
            plain_checksum, size = sha256_of(source)
            if inputs.checksum and inputs.checksum != plain_checksum:
                raise InputError(
                    f"{inputs.checksum} is not the SHA-256 of {inputs.path} ({plain_checksum}): which is the zip "
                    "served at the URL?",
                    field="checksum",
                )
        assert plain_checksum is not None  # the model requires a checksum or a zip to compute it from
        if inputs.url:
            bundle = ops.register_bundle(name, inputs.url, plain_checksum)
            ctx.reporter.info(f"{'Would register' if ctx.dry_run else 'Registered'} bundle {name} at {inputs.url}")
        else:
            assert source is not None
            encrypted: EncryptedBundle | None = None
            if key is not None:
                target = scratch / "bundle.encrypted.zip"
                encrypted = encrypt_bundle(key, source, target, plain_checksum)
                source = target
            label = f"bundle {name}"
            bundle = ops.upload_bundle(
                name,
                source,
                encrypted.checksum if encrypted else plain_checksum,
                session_key=encrypted.session_key if encrypted else None,
                key_id=encrypted.key_id if encrypted else None,
                progress=lambda done, total: ctx.reporter.progress(label, done, total),
            )
            state = "encrypted " if encrypted else ""
            ctx.reporter.info(f"{'Would upload' if ctx.dry_run else 'Uploaded'} {state}bundle {name}")
    ctx.result.artifacts.append(
        ArtifactResult(
            id=bundle.id,
            type="zip",
            path=str(inputs.path) if inputs.path else inputs.url,
            size=size,
            sha256=plain_checksum,
        )
    )
    deploy_bundle(ctx, ops, name, plans, inputs.rollout)
    ctx.result.noop = False
    ctx.result.status = "succeeded"


def needs(inputs: LiveUpdateInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    return [(Capability.LIVE_UPDATE, None), *inputs.channel_needs()]
