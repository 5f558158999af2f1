"""What the Capwrapper steps share: no app id, picking a build, following it, deploying it to a store."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from capawesome_ci.errors import InputError, JobEndedError
from capawesome_ci.platform import Build
from capawesome_ci.result import DeploymentResult
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.inputs import WaitOptions, parse_key_values
from capawesome_ci.steps.wait import follow_job

# semver.org's grammar, as Capwrapper requires (a leading `v` is what tags carry: it is dropped).
SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# Reverse DNS, as app stores take it: com.example.app.
BUNDLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_-]*)+")
PERMISSION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
Store = Literal["google-play", "app-store"]
# Body keys of POST /deploys that --deploy-field may not replace.
DEPLOY_KEYS = ("buildId", "store")


def version_from_tag(environ: dict[str, str]) -> str | None:
    """The CI's tag (GitHub on a tag push, GitLab, Bitbucket) when it is a semver, without a leading v."""
    candidates = [environ.get("CI_COMMIT_TAG"), environ.get("BITBUCKET_TAG")]
    if environ.get("GITHUB_REF_TYPE") == "tag" or environ.get("GITHUB_REF", "").startswith("refs/tags/"):
        candidates.insert(0, environ.get("GITHUB_REF_NAME"))
    for tag in candidates:
        version = (tag or "").strip().removeprefix("v")
        if SEMVER.fullmatch(version):
            return version
    return None


class NoAppId(BaseModel):
    """Capwrapper has no app id: the neutral steps' `require_app_id` asks for none, and one given is refused."""

    @field_validator("app_id", check_fields=False)
    @classmethod
    def _no_app_id(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("Capwrapper has no app id: builds belong to the API key")
        return value

    def require_app_id(self) -> str:
        return ""


class BundleSelector(BaseModel):
    bundle_id: str | None = Field(
        default=None,
        description="Bundle id whose newest build to use (instead of --build-id)",
        json_schema_extra={"metavar": "ID"},
    )

    @field_validator("bundle_id")
    @classmethod
    def _bundle_id(cls, value: str | None) -> str | None:
        if value is not None and not BUNDLE_ID.fullmatch(value):
            raise ValueError(f"must be a reverse-DNS id like com.example.app, got {value!r}")
        return value

    def check_one_selector(self, given: list[str]) -> None:
        if len([name for name in given if getattr(self, name, None)]) != 1:
            raise InputError(
                lambda name: f"give exactly one of {', '.join(name(selector) for selector in given)}", field=given[0]
            )


def resolve_build(ctx: StepContext, build_id: str | None, bundle_id: str | None) -> Build:
    build = ctx.platform.get_build(build_id) if build_id else ctx.platform.find_newest_build(bundle_id or "")
    ctx.record_build(build)
    return build


def follow_build(ctx: StepContext, build: Build, options: WaitOptions) -> None:
    """Follow the build (it is its own job); a failure's `error` becomes the summary's failure section."""
    try:
        follow_job(ctx, build.id, f"{ctx.title} build {build.id}", options)
    except JobEndedError:
        ctx.result.failure_summary = ctx.result.job_status_message
        raise


class DeployFields(BaseModel):
    destination: Store | None = Field(default=None, description="Store to deploy the build to")
    deploy_field: list[str] = Field(
        default_factory=list,
        description="Extra POST /deploys body field KEY=VALUE (its shape is an assumption: see README)",
        json_schema_extra={"metavar": "KEY=VALUE"},
    )

    @field_validator("deploy_field", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        keys = parse_key_values(items, "each --deploy-field")
        taken = [key for key in DEPLOY_KEYS if key in keys]
        if taken:
            raise ValueError(f"{taken[0]} is set from the build and --destination, not by a field")
        return items

    def deploy_fields(self) -> dict[str, str]:
        return parse_key_values(self.deploy_field, "each --deploy-field")


def deploy_to_store(ctx: StepContext, build: Build, store: str, fields: dict[str, str]) -> None:
    destination = ctx.platform.find_destination(store)
    if destination is None:  # the model allows the two stores only; a platform without one says so
        raise InputError(f"{store} is not a store of {ctx.title}", field="destination")
    deployment = ctx.platform.create_deployment(build.id, destination=replace(destination, options=fields))
    ctx.result.deployments.append(DeploymentResult(id=deployment.id, destination=store))
    ctx.reporter.info(f"{'Would deploy' if ctx.dry_run else 'Deployed'} build {build.id} to {store}")
