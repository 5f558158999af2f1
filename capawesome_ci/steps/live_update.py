"""live-update: upload a local web build as a (signed) bundle and deploy it to channels.

The source is a folder with an index.html, an existing .zip, or a self-hosted bundle's --url.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.platform import Build, BundleRequest, BundleUpload, Capability
from capawesome_ci.result import ArtifactResult
from capawesome_ci.steps.build import default_git_ref
from capawesome_ci.steps.bundle import (
    MANIFEST_NAME,
    bundle_files,
    check_zip,
    load_private_key,
    manifest_entries,
    mime_type_of,
    sha256_of,
    sign_digest,
    write_zip,
)
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.deploy import check_channels, deploy_to_channels
from capawesome_ci.steps.inputs import ChannelOptions, StepInputs, parse_key_values

PRIVATE_KEY_ENV = "CAPAWESOME_PRIVATE_KEY"
PASSPHRASE_ENV = "CAPAWESOME_PRIVATE_KEY_PASSPHRASE"
MAX_CUSTOM_PROPERTIES = 10
VERSION_INPUTS = ("android_min", "android_max", "android_eq", "ios_min", "ios_max", "ios_eq")


class LiveUpdateInputs(StepInputs, ChannelOptions):
    path: Path | None = Field(
        default=None,
        description="Web build folder (with index.html) or a .zip to upload",
        json_schema_extra={"metavar": "PATH"},
    )
    url: str | None = Field(default=None, description="Register a self-hosted bundle by URL instead of uploading")
    artifact_type: Literal["zip", "manifest"] = Field(
        default="zip", description="zip: one archive; manifest: every file on its own (delta updates)"
    )
    android_min: str | None = Field(default=None, description="Lowest Android versionCode that gets the bundle")
    android_max: str | None = Field(default=None, description="Highest Android versionCode that gets the bundle")
    android_eq: str | None = Field(default=None, description="The only Android versionCode that gets the bundle")
    ios_min: str | None = Field(default=None, description="Lowest iOS CFBundleVersion that gets the bundle")
    ios_max: str | None = Field(default=None, description="Highest iOS CFBundleVersion that gets the bundle")
    ios_eq: str | None = Field(default=None, description="The only iOS CFBundleVersion that gets the bundle")
    custom_property: list[str] = Field(
        default_factory=list,
        description="Custom property KEY=VALUE (up to 10)",
        json_schema_extra={"metavar": "KEY=VALUE"},
    )
    git_ref: str | None = Field(
        default=None,
        description="Git ref recorded with the bundle (default: the CI's commit)",
        json_schema_extra={"metavar": "REF"},
    )
    private_key_file: Path | None = Field(
        default=None,
        description=f"PEM private key to sign the bundle (or the PEM in ${PRIVATE_KEY_ENV}; "
        f"passphrase in ${PASSPHRASE_ENV})",
        json_schema_extra={"metavar": "FILE"},
    )

    @field_validator("custom_property", mode="before")
    @classmethod
    def _properties(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        if len(items) > MAX_CUSTOM_PROPERTIES:
            raise ValueError(f"at most {MAX_CUSTOM_PROPERTIES} custom properties, got {len(items)}")
        for item in items:
            if not 1 <= len(item) <= 100:
                raise ValueError(f"each KEY=VALUE must be 1 to 100 characters, got {len(item)}")
        parse_key_values(items, "each --custom-property")
        return items

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
        if self.url and self.artifact_type != "zip":
            raise InputError("a self-hosted bundle is a zip", field="artifact_type")
        if self.path is not None and not self.url:
            if not self.path.exists():
                raise InputError(f"{self.path} does not exist", field="path")
            if self.path.is_file() and (self.path.suffix.lower() != ".zip" or self.artifact_type != "zip"):
                raise InputError(lambda name: f"a file must be a .zip (with {name('artifact_type')} zip)", field="path")
            if self.path.is_dir():
                # The same walk as the upload's, now: a missing index.html or a refused symlink
                # fails before any request (the upload walks again and checks again).
                bundle_files(self.path, lambda _: None)
        if self.path is not None and self.path.is_file():
            check_zip(self.path)  # also for --url: its checksum is registered as the bundle's
        return self


def _signing_key(inputs: LiveUpdateInputs, ctx: StepContext) -> Any:
    """From --private-key-file or $CAPAWESOME_PRIVATE_KEY; every line is masked before use."""
    if inputs.private_key_file is not None:
        try:
            text = inputs.private_key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise InputError(f"cannot read {inputs.private_key_file}: {reason}", field="private_key_file") from None
    else:
        text = ctx.environ.get(PRIVATE_KEY_ENV, "")
        if not text.strip():
            return None
    ctx.reporter.mask(text)
    passphrase = ctx.environ.get(PASSPHRASE_ENV) or None
    if passphrase:
        ctx.reporter.mask(passphrase)
    return load_private_key(text, passphrase)


def prepare_zip(ctx: StepContext, inputs: LiveUpdateInputs, key: Any, scratch: Path) -> BundleUpload:
    source = inputs.path
    assert source is not None
    archive = source  # an existing .zip is uploaded unchanged
    if source.is_dir():
        archive = scratch / "bundle.zip"
        write_zip(source, archive, ctx.reporter.warning)
    return _upload_of(archive, "bundle.zip", None, "application/zip", key)


def prepare_manifest(ctx: StepContext, inputs: LiveUpdateInputs, key: Any, scratch: Path) -> list[BundleUpload]:
    """Every file, plus the manifest, written to a temporary folder (never into the user's)."""
    assert inputs.path is not None
    uploads: list[BundleUpload] = []
    for path, href in bundle_files(inputs.path, ctx.reporter.warning):
        uploads.append(_upload_of(path, href, href, mime_type_of(path.name), key))
    manifest = scratch / MANIFEST_NAME
    manifest.write_bytes(manifest_entries(uploads))
    uploads.append(_upload_of(manifest, MANIFEST_NAME, MANIFEST_NAME, "application/json", key))
    return uploads


def _upload_of(path: Path, name: str, href: str | None, mime_type: str, key: Any) -> BundleUpload:
    """A file to upload with its SHA-256 and, with a key, its signature."""
    checksum, size = sha256_of(path)
    signature = sign_digest(key, checksum) if key is not None else None
    return BundleUpload(path, name, href, mime_type, size, checksum, signature)


def run(inputs: LiveUpdateInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    key = _signing_key(inputs, ctx)
    # Fail before uploading anything when a channel is missing.
    check_channels(ctx, inputs.channel, inputs.create_channel)
    request = BundleRequest(
        artifact_type=inputs.artifact_type,
        git_ref=inputs.git_ref or default_git_ref(ctx.environ),
        custom_properties=parse_key_values(inputs.custom_property, "each --custom-property"),
        version_constraints={name: getattr(inputs, name) for name in VERSION_INPUTS if getattr(inputs, name)},
        url=inputs.url,
    )
    ctx.result.git_ref, ctx.result.platform = request.git_ref, "web"
    with tempfile.TemporaryDirectory(prefix="capawesome-bundle-") as scratch_name:
        scratch = Path(scratch_name)
        uploads: list[BundleUpload] = []
        if inputs.url:
            if inputs.path is not None:  # checksum and signature of the self-hosted file
                request.checksum, _ = sha256_of(inputs.path) if inputs.path.is_file() else (None, 0)
                if request.checksum and key is not None:
                    request.signature = sign_digest(key, request.checksum)
        elif inputs.artifact_type == "zip":
            uploads = [prepare_zip(ctx, inputs, key, scratch)]
        else:
            uploads = prepare_manifest(ctx, inputs, key, scratch)
        label = "bundle.zip" if inputs.artifact_type == "zip" else f"{len(uploads)} files"
        bundle = ctx.platform.publish_bundle(
            request, uploads, lambda done, total: ctx.reporter.progress(label, done, total)
        )
    shown = uploads[-1] if uploads else None  # a manifest bundle is shown by its manifest
    ctx.result.artifacts.append(
        ArtifactResult(
            id=bundle.id,
            type=inputs.artifact_type,
            path=str(inputs.path) if inputs.path else inputs.url,
            size=shown.size if shown else None,
            sha256=shown.checksum if shown else request.checksum,
        )
    )
    if ctx.dry_run:
        ctx.result.status = "succeeded"
        if inputs.channel:
            ctx.reporter.info(
                f"dry run: would deploy the bundle to {', '.join(inputs.channel)} at {inputs.rollout:g} %"
            )
        return
    build = ctx.platform.get_build(bundle.build_id) if bundle.build_id else Build(id="")
    ctx.record_build(build)
    ctx.reporter.info(f"Uploaded bundle {bundle.id} (build {build.number or build.id})")
    if inputs.channel:
        deploy_to_channels(ctx, build, inputs.channel, inputs.rollout, inputs.create_channel)
    ctx.result.status = "succeeded"


def needs(inputs: LiveUpdateInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    return [(Capability.LIVE_UPDATE, None), *inputs.channel_needs()]
