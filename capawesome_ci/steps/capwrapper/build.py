"""build on Capwrapper: wrap a live web app into a binary, follow it, then download and deploy it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.platform import PENDING, BuildRequest, Capability
from capawesome_ci.steps.capwrapper.common import (
    BUNDLE_ID,
    PERMISSION,
    SEMVER,
    DeployFields,
    NoAppId,
    deploy_to_store,
    follow_build,
    version_from_tag,
)
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.download import download_artifacts
from capawesome_ci.steps.inputs import WaitOptions, parse_artifact_types, split_list


class BuildInputs(NoAppId, DeployFields, WaitOptions):
    url: str = Field(description="The live https web app to wrap", json_schema_extra={"metavar": "URL"})
    app_name: str = Field(description="App name shown on the device", json_schema_extra={"metavar": "NAME"})
    bundle_id: str = Field(
        description="Reverse-DNS bundle id, e.g. com.example.app", json_schema_extra={"metavar": "ID"}
    )
    version: str | None = Field(
        default=None,
        description="Semver version, higher than the last build's (default: the CI's tag when it is one)",
        json_schema_extra={"metavar": "SEMVER"},
    )
    permission: list[str] = Field(
        default_factory=list,
        description="Device permission the app asks for (camera, gps, notifications, …)",
        json_schema_extra={"metavar": "NAME"},
    )
    wait: bool = Field(default=True, description="Wait for the build to finish (--no-wait returns at once)")
    download: list[str] = Field(
        default_factory=list,
        description="After success, download the binary (apk, aab or ipa; 'all' for whatever it is)",
        json_schema_extra={"metavar": "TYPES"},
    )
    output_dir: Path = Field(
        default=Path("."), description="Folder for the downloaded binary", json_schema_extra={"metavar": "DIR"}
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https://[^\s/?#@]+(?:[/?#]\S*)?", value):
            raise ValueError(f"must be a public https:// URL, got {value!r}")
        return value

    @field_validator("bundle_id")
    @classmethod
    def _bundle_id(cls, value: str) -> str:
        if not BUNDLE_ID.fullmatch(value):
            raise ValueError(f"must be a reverse-DNS id like com.example.app, got {value!r}")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not SEMVER.fullmatch(value.removeprefix("v")):
            raise ValueError(f"must be a semantic version like 1.4.2, got {value!r}")
        return None if value is None else value.removeprefix("v")

    @field_validator("permission", mode="before")
    @classmethod
    def _permissions(cls, value: Any) -> list[str]:
        items = split_list(value)
        wrong = [item for item in items if not PERMISSION.fullmatch(item)]
        if wrong:
            raise ValueError(f"must be a permission name like camera, got {wrong[0]!r}")
        return list(dict.fromkeys(items))

    @field_validator("download", mode="before")
    @classmethod
    def _download(cls, value: Any) -> list[str]:
        items = split_list(value)
        return ["all"] if [item.lower() for item in items] == ["all"] else parse_artifact_types(items)

    @model_validator(mode="after")
    def _consistent(self) -> BuildInputs:
        if not self.wait and (self.download or self.destination):
            chained = "download" if self.download else "destination"
            raise InputError("it needs the build to finish; wait for it", field=chained)
        return self

    def options(self, version: str) -> dict[str, str]:
        """The build's fields for the adapter (`BuildRequest.options`); permissions comma-joined."""
        given = {"url": self.url, "app_name": self.app_name, "bundle_id": self.bundle_id, "version": version}
        return {**given, "permissions": ",".join(self.permission)}


def run(inputs: BuildInputs, ctx: StepContext) -> None:
    version = inputs.version or version_from_tag(ctx.environ)
    if version is None:
        raise InputError("and the CI's tag (if any) is not a semantic version", field="version", problem="missing")
    build = ctx.platform.create_build(BuildRequest(platform="", options=inputs.options(version)))
    if ctx.dry_run:
        ctx.result.status = "succeeded"
        return
    ctx.record_build(build)
    ctx.reporter.info(f"Started {ctx.title} build {build.id} of {inputs.bundle_id} {version}")
    if not inputs.wait:
        ctx.result.status, ctx.result.job_status = "started", PENDING
        return
    follow_build(ctx, build, inputs)
    ctx.reporter.info(f"Build {build.id} succeeded")
    if inputs.download:
        download_artifacts(ctx, build, [] if inputs.download == ["all"] else inputs.download, inputs.output_dir)
    if inputs.destination:
        deploy_to_store(ctx, build, inputs.destination, inputs.deploy_fields())
    ctx.result.status = "succeeded"


def needs(inputs: BuildInputs) -> list[tuple[Capability, str | None]]:
    needed: list[tuple[Capability, str | None]] = [(Capability.BUILD, None)]
    for capability, name, wanted in (
        (Capability.WAIT, "wait", inputs.wait),
        (Capability.DOWNLOAD, "download", bool(inputs.download)),
        (Capability.DESTINATIONS, "destination", bool(inputs.destination)),
    ):
        if wanted:
            needed.append((capability, name))
    return needed
