"""Peak Press (data/AI app deployments) behind the platform-neutral interface of `platform.py`.

A thin client over the endpoints `peak-sdk` 1.29.0 uses (`peak/press/apps.py`, `peak/session.py`):
the same paths and trailing slashes, bodies and answer keys, with our shared client (timeouts, the
retry policy that never retries a POST on 5xx, dry run, deadline) instead of the SDK's session, which
calls the network when made, sends telemetry with the caller's token and pins old libraries.

A Peak "job" is a deployment's latest revision: `get_job(deployment_id)` describes the deployment
and normalises the status of its latest revision (`JOB_STATUS`), keeping the raw word and the blocks
that failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from capawesome_ci.cloud.answers import Record, unusable
from capawesome_ci.cloud.api import MAX_PAGES, Api
from capawesome_ci.cloud.paths import segment
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.errors import ConflictError, InputError, NotFoundError
from capawesome_ci.platform import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    CloudPlatform,
    Job,
    ReleaseDeployment,
    ReleaseRequest,
)
from capawesome_ci.providers import Connection

DEPLOYMENTS = "/v1/apps/deployments"
PAGE_SIZE = 100
STAGES = ("dev", "latest", "test", "beta", "prod", "parvati")  # peak-sdk's `Stage`
# What a deployment summary says when we create one (metadata.summary is required).
SUMMARY = "Deployed from CI by capawesome-ci"

# Peak's deployment and revision statuses in the normalised vocabulary. `warning` (some blocks
# failed) is a failure here; the step lets it pass with --allow-warning. A status Peak adds later
# counts as still running, so it is waited out to the deadline rather than misread.
JOB_STATUS = {
    "deploying": RUNNING,
    "redeploying": RUNNING,
    "deployed": SUCCEEDED,
    "failed": FAILED,
    "platform_resource_error": FAILED,
    "rollback": FAILED,
    "rollback_complete": FAILED,
    "rollback_failed": FAILED,
    "warning": FAILED,
    "deleting": FAILED,
    "delete_failed": FAILED,
    "superseded": FAILED,
}
# Only the deployment reports these (a revision's statuses have neither): they win over the revision's.
DEPLOYMENT_ONLY_STATUSES = frozenset({"redeploying", "warning"})
# Peak's ids are UUIDs; anything else given as --deployment is a name only.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def base_url_from_stage(environ: dict[str, str]) -> str:
    """https://press.{stage}.peak.ai with the stage of $PEAK__STAGE or $STAGE (peak-sdk's
    `get_base_domain`): prod is https://press.peak.ai and latest is dev."""
    for name in ("PEAK__STAGE", "STAGE"):
        stage = environ.get(name, "").strip()
        if stage:
            break
    else:
        return "https://press.peak.ai"
    if stage not in STAGES:
        raise InputError(f"invalid {name}: expected one of {', '.join(STAGES)}, got {stage!r}")
    if stage == "prod":
        return "https://press.peak.ai"
    return f"https://press.{'dev' if stage == 'latest' else stage}.peak.ai"


def peak_message(response: httpx.Response) -> str:
    """What a Peak error says: its body is JSON or text (peak-sdk passes either on as is)."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "title"):
            if isinstance(body.get(key), str) and body[key].strip():
                return str(body[key])
    if isinstance(body, str) and body.strip():
        return body
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@contextmanager
def connect(connection: Connection) -> Iterator[PeakPlatform]:
    """The adapter's entry point (providers.py names it): the token goes raw in Authorization."""
    with make_http_client(
        connection.base_url,
        connection.token,
        dry_run_recorder=connection.dry_run_recorder,
        debug=connection.debug,
        auth_scheme=None,
    ) as http:
        yield PeakPlatform(http, connection.app_id)


class PeakPlatform(CloudPlatform):
    provider = "peak"

    def __init__(self, http: httpx.Client, tenant: str = "") -> None:
        self.http = http
        self.app_id = tenant  # Peak has no apps: the tenant is what the token already names
        self.api = Api(http, message_of=peak_message, status_errors={409: ConflictError})

    # -- reading answers ----------------------------------------------------------------------
    @staticmethod
    def _job(deployment: Record, deployment_id: str) -> Job:
        latest = deployment.record("latestRevision")
        metadata = deployment.record("metadata")
        overall = metadata.text("status") if metadata is not None else None
        raw = latest.text("status") if latest is not None else None
        if overall in DEPLOYMENT_ONLY_STATUSES or raw is None:
            raw = overall
        if not raw:
            raise deployment.unusable("no status of the deployment or of its latest revision")
        failed = []
        for block in latest.records("blocks") if latest is not None else []:
            status = block.text("status") or "unknown"
            if JOB_STATUS.get(status) == FAILED:
                failed.append(f"block {block.text('name') or block.maybe_id('id') or '?'}: {status}")
        return Job(
            id=deployment_id,
            status=JOB_STATUS.get(raw, RUNNING),
            raw_status=raw,
            status_message=f"{len(failed)} block(s) did not deploy" if failed else None,
            failed_parts=failed,
        )

    def _deployment(self, item: Record, known_id: str | None = None) -> ReleaseDeployment:
        deployment_id = item.maybe_id("id") or known_id
        if deployment_id is None:
            raise item.unusable("no 'id'")
        latest = item.record("latestRevision")
        metadata = item.record("metadata")
        spec = item.record("spec")
        release = latest.record("release") if latest is not None else None
        if release is None and spec is not None:
            release = spec.record("release")
        has_status = latest is not None or (metadata is not None and metadata.text("status"))
        return ReleaseDeployment(
            id=deployment_id,
            name=metadata.text("name") if metadata is not None else None,
            revision=latest.integer("revision") if latest is not None else None,
            release=release.text("version") if release is not None else None,
            job=self._job(item, deployment_id) if has_status else None,
        )

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[Record]:
        """Every item of a Peak list (`pageSize`/`pageNumber`, answers `{key: […], "pageCount": N}`);
        bounded, so a server that keeps raising `pageCount` cannot loop us."""
        page_number, page_count = 1, 1
        while page_number <= page_count:
            if page_number > MAX_PAGES:
                raise unusable("GET", path, f"a list longer than {MAX_PAGES} pages")
            page = self.api.object("GET", path, params={**params, "pageSize": PAGE_SIZE, "pageNumber": page_number})
            yield from page.records(key)
            page_count = page.integer("pageCount") or 0
            page_number += 1

    # -- deployments --------------------------------------------------------------------------
    def get_release_deployment(self, deployment_id: str) -> ReleaseDeployment:
        item = self.api.object("GET", f"{DEPLOYMENTS}/{segment(deployment_id)}")
        return self._deployment(item, deployment_id)

    def find_release_deployment(self, name_or_id: str) -> ReleaseDeployment | None:
        # `name` filters by prefix: the exact name is picked here.
        for item in self._pages(f"{DEPLOYMENTS}/", "deployments", {"name": name_or_id}):
            metadata = item.record("metadata")
            if metadata is not None and metadata.text("name") == name_or_id:
                found = self._deployment(item)
                # A list entry may leave out the blocks: the latest revision is read in full.
                return self.get_release_deployment(found.id)
        if not _UUID.fullmatch(name_or_id):
            return None
        try:
            return self.get_release_deployment(name_or_id)
        except NotFoundError:
            return None

    def create_release_deployment(self, name: str, request: ReleaseRequest) -> ReleaseDeployment:
        if not request.spec_id:
            raise InputError(f"deployment {name!r} does not exist yet: its spec is needed", field="spec_id")
        # Keys as peak-sdk's `create_deployment` documents them.
        body: dict[str, Any] = {
            "metadata": {"name": name, "summary": SUMMARY},
            "parameters": request.parameters,
            "revision": {"notes": request.notes},
            "spec": {"id": request.spec_id, "release": {"version": request.version}},
        }
        created = self.api.object("POST", f"{DEPLOYMENTS}/", json=body)
        return ReleaseDeployment(id=created.id("id"), name=name, revision=1, release=request.version)

    def create_revision(self, deployment_id: str, request: ReleaseRequest) -> ReleaseDeployment:
        body: dict[str, Any] = {
            "release": {"version": request.version},
            "revision": {"notes": request.notes},
            "parameters": request.parameters,
        }
        created = self.api.object("POST", f"{DEPLOYMENTS}/{segment(deployment_id)}/revisions", json=body)
        return ReleaseDeployment(
            id=created.maybe_id("id") or deployment_id,
            revision=created.integer("revision"),
            release=request.version,
        )

    def redeploy(self, deployment_id: str) -> ReleaseDeployment:
        answer = self.api.object("POST", f"{DEPLOYMENTS}/{segment(deployment_id)}/redeploy", empty=True)
        return self._deployment(answer, deployment_id)

    def get_job(self, job_id: str) -> Job:
        # An answer without a status to wait on is unusable (75), as any other malformed answer.
        return self._job(self.api.object("GET", f"{DEPLOYMENTS}/{segment(job_id)}"), job_id)
