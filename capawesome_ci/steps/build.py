"""build: trigger a native or web build, follow it, then optionally download, deploy and share."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from capawesome_ci.errors import InputError
from capawesome_ci.platform import PENDING, BuildRequest, Capability
from capawesome_ci.result import ShareResult
from capawesome_ci.steps.bundle import zip_entries
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.deploy import check_channels, deploy_to_channels, deploy_to_destination
from capawesome_ci.steps.download import download_artifacts
from capawesome_ci.steps.inputs import (
    BUILD_TYPES,
    DeployOptions,
    Stack,
    StepInputs,
    WaitOptions,
    parse_artifact_types,
    parse_dotenv,
    parse_key_values,
    parse_whole_number,
    split_list,
)
from capawesome_ci.steps.sources import check_excludes, check_source_folder, write_source_zip
from capawesome_ci.steps.wait import follow_job


class BuildInputs(StepInputs, DeployOptions, WaitOptions):
    platform: Literal["android", "ios", "web"] = Field(description="What to build: android, ios or web")
    type: str | None = Field(
        default=None,
        description="Build type: android debug|release; ios simulator|development|ad-hoc|app-store|enterprise",
    )
    git_ref: str | None = Field(
        default=None,
        description="Branch, tag or commit to build (default: the CI's commit, when one is known)",
        json_schema_extra={"metavar": "REF"},
    )
    path: Path | None = Field(
        default=None,
        description="Build from local sources instead of a git ref: the project folder (zipped, "
        ".gitignore honoured) or a source .zip",
        json_schema_extra={"metavar": "PATH"},
    )
    url: str | None = Field(
        default=None, description="Build from a source .zip served at this https:// URL instead of a git ref"
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Leave files matching this .gitignore-style pattern out of the --path folder's zip",
        json_schema_extra={"metavar": "PATTERN"},
    )
    certificate: str | None = Field(default=None, description="Signing certificate name")
    environment: str | None = Field(default=None, description="Environment name")
    configuration: str | None = Field(default=None, description="Build configuration name")
    stack: Stack | None = Field(default=None, description="iOS build stack")
    var: list[str] = Field(
        default_factory=list,
        description="Ad-hoc environment variable KEY=VALUE for the build",
        json_schema_extra={"metavar": "KEY=VALUE"},
    )
    var_file: Path | None = Field(
        default=None,
        description="Dotenv file of ad-hoc environment variables",
        json_schema_extra={"metavar": "FILE"},
    )
    wait: bool = Field(default=True, description="Wait for the build to finish (--no-wait returns at once)")
    download: list[str] = Field(
        default_factory=list,
        description="After success, download these artifact types (e.g. apk,aab; 'all' for every ready one)",
        json_schema_extra={"metavar": "TYPES"},
    )
    output_dir: Path = Field(
        default=Path("."), description="Folder for downloaded artifacts", json_schema_extra={"metavar": "DIR"}
    )
    share: bool = Field(default=False, description="After success, create a share link (and QR code) for testers")
    share_expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Days until the share link expires",
        json_schema_extra={"metavar": "DAYS"},
    )

    @field_validator("var", mode="before")
    @classmethod
    def _vars(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        parse_key_values(items, "each --var")
        return items

    @field_validator("exclude", mode="before")
    @classmethod
    def _excludes(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        return [str(item).strip() for item in items if str(item).strip()]

    @field_validator("share_expires_in_days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> int | None:
        return None if value is None else parse_whole_number(value)

    @field_validator("download", mode="before")
    @classmethod
    def _download(cls, value: Any) -> list[str]:
        items = split_list(value)
        if [item.lower() for item in items] == ["all"]:
            return ["all"]
        return parse_artifact_types(items)

    @model_validator(mode="after")
    def _consistent(self) -> BuildInputs:
        self.variables()  # fail now, before any request, on an unreadable --var-file
        self._check_source()
        allowed = BUILD_TYPES[self.platform]
        if self.type is not None and self.type not in allowed:
            expected = ", ".join(allowed) if allowed else "no type for web builds"
            raise InputError(f"{self.type!r} does not fit platform {self.platform} (expected {expected})", field="type")
        if self.platform == "web" and self.destination:
            raise InputError("a web build deploys to channels, not to a destination", field="destination")
        if self.platform != "web" and self.channel:
            raise InputError(
                lambda name: f"channels take web builds (live updates); use {name('destination')} for native builds",
                field="channel",
            )
        if not self.wait:
            chained = [
                flag
                for flag, on in (
                    ("download", bool(self.download)),
                    ("destination", bool(self.destination)),
                    ("share", self.share),
                    ("rollout", self.channel and self.rollout != 100),
                )
                if on
            ]
            if chained:
                raise InputError("it needs the build to finish; wait for it", field=chained[0])
        return self

    def _check_source(self) -> None:
        """--path or --url instead of --git-ref (the API takes one or the other), like the official CLI."""
        given = [name for name, value in (("path", self.path), ("url", self.url)) if value is not None]
        if len(given) == 2:
            raise InputError(lambda name: f"give {name('path')} or {name('url')}, not both", field="url")
        if given and self.git_ref:
            raise InputError(lambda name: f"it builds from {name(given[0])}, not from a git ref", field="git_ref")
        if self.url is not None and not self.url.startswith("https://"):
            raise InputError("a source zip must be served over https://", field="url")
        if self.exclude and (self.path is None or not self.path.is_dir()):
            raise InputError(lambda name: f"it only applies to a {name('path')} folder", field="exclude")
        check_excludes(self.exclude)
        if self.path is None:
            return
        if self.path.is_dir():
            check_source_folder(self.path)
        elif self.path.is_file() and self.path.suffix.lower() == ".zip":
            zip_entries(self.path)  # uploaded unchanged: it must at least be a zip
        elif self.path.exists():
            raise InputError(f"{self.path} must be a folder or a .zip file", field="path")
        else:
            raise InputError(f"{self.path} does not exist", field="path")

    def platform_options(self) -> dict[str, str]:
        """What only Capawesome Cloud takes: passed through to the platform as names."""
        given = {
            "certificate": self.certificate,
            "environment": self.environment,
            "configuration": self.configuration,
            "stack": self.stack,
        }
        return {key: value for key, value in given.items() if value}

    def secret_options(self, options: dict[str, str]) -> list[str]:
        """The values of `platform_options()` that must never show (masked in every CI log)."""
        return []

    def variables(self) -> dict[str, str]:
        """--var wins over the same key in --var-file."""
        return {**(parse_dotenv(self.var_file) if self.var_file else {}), **parse_key_values(self.var, "each --var")}


def default_git_ref(environ: dict[str, str]) -> str | None:
    """The commit the CI is building: GitHub (the PR head, not the merge commit), GitLab, Bitbucket."""
    if environ.get("GITHUB_ACTIONS") == "true":
        if environ.get("GITHUB_EVENT_NAME", "").startswith("pull_request") and environ.get("GITHUB_EVENT_PATH"):
            try:
                event = json.loads(Path(environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
                head = event["pull_request"]["head"]["sha"]
                if isinstance(head, str) and head:
                    return head
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return environ.get("GITHUB_SHA") or None
    for name in ("CI_COMMIT_SHA", "BITBUCKET_COMMIT"):
        if environ.get(name):
            return environ[name]
    return None


def run(inputs: BuildInputs, ctx: StepContext) -> None:
    inputs.require_app_id()
    from_sources = inputs.path is not None or inputs.url is not None
    git_ref = None if from_sources else inputs.git_ref or default_git_ref(ctx.environ)
    options = inputs.platform_options()
    for secret in inputs.secret_options(options):
        ctx.reporter.mask(secret)
    request = BuildRequest(
        platform=inputs.platform,
        type=inputs.type,
        git_ref=git_ref,
        source_url=inputs.url,
        variables=inputs.variables(),
        options=options,
        # Without waiting we cannot deploy ourselves: let the platform deploy the web build.
        channels=inputs.channel if not inputs.wait else [],
    )
    ctx.result.platform, ctx.result.build_type, ctx.result.git_ref = inputs.platform, inputs.type, git_ref
    with tempfile.TemporaryDirectory(prefix="capawesome-source-") as scratch:
        if inputs.path is not None:
            # Zipped before any request: a refused symlink or a lost file sends nothing.
            request.source = _source_zip(ctx, inputs.path, inputs.exclude, Path(scratch))
            request.source_progress = lambda done, total: ctx.reporter.progress("source.zip", done, total)
        if ctx.dry_run:
            ctx.platform.get_app()  # a real read: token and app id are checked even in a dry run
        if inputs.wait:
            check_channels(ctx, inputs.channel, inputs.create_channel)  # before a build that takes minutes
        build = ctx.platform.create_build(request)
    if ctx.dry_run:  # the build is only planned: there is nothing to follow
        _plan_follow_ups(ctx, inputs)
        ctx.result.status = "succeeded"
        return
    ctx.record_build(build)
    # Platforms without build numbers (Capgo) name a build by its id.
    label = f"#{build.number}" if build.number else build.id
    ctx.reporter.info(f"Started {inputs.platform} build {label}" + (f" ({build.url})" if build.url else ""))
    if not inputs.wait or not build.job_id:
        ctx.result.status = "started"
        ctx.result.job_status = PENDING
        return
    follow_job(ctx, build.job_id, f"{ctx.title} build {label} logs", inputs)
    ctx.reporter.info(f"Build {label} succeeded")
    if inputs.download:
        types = [] if inputs.download == ["all"] else inputs.download
        download_artifacts(ctx, build, types, inputs.output_dir)
    if inputs.channel:
        deploy_to_channels(ctx, build, inputs.channel, inputs.rollout, inputs.create_channel)
    if inputs.destination:
        deploy_to_destination(ctx, build, inputs, inputs)
    if inputs.share:
        share = ctx.platform.create_share(build.id, inputs.share_expires_in_days)
        ctx.result.share = ShareResult(
            id=share.id, url=share.url, qr_code_url=share.qr_code_url, expires_at=share.expires_at
        )
        ctx.reporter.info(f"Share link: {share.url}")
    ctx.result.status = "succeeded"


def _source_zip(ctx: StepContext, path: Path, excludes: list[str], scratch: Path) -> Path:
    """A folder zipped into `scratch`; a .zip as it is."""
    if not path.is_dir():
        return path
    archive = scratch / "source.zip"
    count = write_source_zip(path, archive, excludes, ctx.reporter.warning)
    ctx.reporter.info(f"Zipped {count} files of {path} ({archive.stat().st_size} bytes)")
    return archive


def _plan_follow_ups(ctx: StepContext, inputs: BuildInputs) -> None:
    """In a dry run the build does not exist, so say what would follow instead of doing it."""
    after = []
    if inputs.wait:
        after.append("wait for the job")
    if inputs.download:
        after.append(f"download {', '.join(inputs.download)} into {inputs.output_dir}")
    if inputs.channel and inputs.wait:
        after.append(f"deploy to channel(s) {', '.join(inputs.channel)} at {inputs.rollout:g} %")
    if inputs.destination:
        after.append(f"deploy to destination {inputs.destination}")
    if inputs.share:
        after.append("create a share link")
    if after:
        ctx.reporter.info("dry run: after the build succeeds, would " + "; ".join(after))


def needs(inputs: BuildInputs) -> list[tuple[Capability, str | None]]:
    """What the platform must be able to do for these inputs (checked before any request)."""
    needed: list[tuple[Capability, str | None]] = [(Capability.BUILD, None)]
    for capability, field_name, wanted in (
        (Capability.BUILD_SOURCES, "path", inputs.path is not None),
        (Capability.BUILD_SOURCES, "url", inputs.url is not None),
        (Capability.WAIT, "wait", inputs.wait),
        (Capability.DOWNLOAD, "download", bool(inputs.download)),
        (Capability.CHANNELS, "channel", bool(inputs.channel)),
        (Capability.ROLLOUT, "rollout", bool(inputs.channel) and inputs.rollout != 100),
        (Capability.DESTINATIONS, "destination", bool(inputs.destination)),
        (Capability.SHARE, "share", inputs.share),
        (Capability.FAILURE_SUMMARY, "failure_summary", inputs.failure_summary),
    ):
        if wanted:
            needed.append((capability, field_name))
    return needed
