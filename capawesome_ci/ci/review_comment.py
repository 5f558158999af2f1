"""A sticky comment on the pull request (GitHub) or merge request (GitLab): one per marker, updated in
place on every run, so re-runs and matrices never pile up comments. Never fails the step: without
permission (fork PRs get a read-only token) it says so and moves on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from capawesome_ci import __version__
from capawesome_ci.ci.markdown import render_summary
from capawesome_ci.ci.summary import summary_sections
from capawesome_ci.result import StepResult
from capawesome_ci.text import one_log_line

MAX_BODY = 65_000  # GitHub's limit is 65 536 characters
PAGE_SIZE = 100


def marker(template: str | None, environ: dict[str, str], result: StepResult) -> str:
    """`{workflow}`, `{job}`, `{command}`, `{app_id}`, `{platform}`, `{channel}` keep matrix jobs apart."""
    values = {
        "workflow": environ.get("GITHUB_WORKFLOW") or environ.get("CI_PIPELINE_SOURCE", ""),
        "job": environ.get("GITHUB_JOB") or environ.get("CI_JOB_NAME", ""),
        "command": result.command,
        "app_id": result.app_id or "",
        "platform": result.platform or "",
        "channel": ",".join(d.channel for d in result.deployments if d.channel),
    }
    # Only these names are replaced: str.format would also read attributes ({app_id.__class__}) and
    # fail on any other brace.
    text = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group()), template or "{workflow}/{job}/{command}")
    # A channel name is the server's: no "--" may remain, or "--->" would end the HTML comment early.
    return f"<!-- capawesome-ci:{re.sub('-{2,}', '-', one_log_line(text))} -->"


def comment_body(tag: str, result: StepResult) -> str:
    body = f"{tag}\n{render_summary(result, summary_sections(result))}"
    return body if len(body) <= MAX_BODY else body[: MAX_BODY - 40] + "\n\n… (truncated, see the job summary)"


def _pull_request_number(environ: dict[str, str]) -> int | None:
    try:
        event = json.loads(Path(environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        number = event["pull_request"]["number"]
    except (KeyError, OSError, ValueError, TypeError):
        return None
    return number if isinstance(number, int) else None


def _upsert(
    client: httpx.Client, list_path: str, update_path: str, create_path: str, tag: str, body: str, method: str
) -> str:
    page = 1
    while True:
        response = client.get(list_path, params={"per_page": PAGE_SIZE, "page": page})
        response.raise_for_status()
        comments: list[dict[str, Any]] = response.json()
        for comment in comments:
            if tag in str(comment.get("body", "")):
                client.request(method, update_path.format(id=comment["id"]), json={"body": body}).raise_for_status()
                return "updated"
        if len(comments) < PAGE_SIZE:
            break
        page += 1
    client.post(create_path, json={"body": body}).raise_for_status()
    return "created"


def post_review_comment(
    kind: str,
    environ: dict[str, str],
    token: str | None,
    template: str | None,
    result: StepResult,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Returns a one-line notice of what happened; never raises for HTTP or permission problems."""
    if not token:
        return "no comment: pass a token with permission to comment (github-token / CAPAWESOME_GITLAB_TOKEN)"
    tag = marker(template, environ, result)
    body = comment_body(tag, result)
    headers = {"User-Agent": f"capawesome-ci/{__version__}", "Accept": "application/json"}
    if kind == "github":
        number = _pull_request_number(environ)
        if number is None:
            return "no comment: this run is not for a pull request"
        repo = environ.get("GITHUB_REPOSITORY", "")
        base = environ.get("GITHUB_API_URL", "https://api.github.com")
        headers["Authorization"] = f"Bearer {token}"
        paths = (
            f"/repos/{repo}/issues/{number}/comments",
            f"/repos/{repo}/issues/comments/{{id}}",
            f"/repos/{repo}/issues/{number}/comments",
            "PATCH",
        )
    elif kind == "gitlab":
        iid = environ.get("CI_MERGE_REQUEST_IID")
        if not iid:
            return "no note: this pipeline is not for a merge request"
        base = environ.get("CI_API_V4_URL", "")
        project = environ.get("CI_PROJECT_ID", "")
        headers["PRIVATE-TOKEN"] = token
        notes = f"/projects/{project}/merge_requests/{iid}/notes"
        paths = (notes, f"{notes}/{{id}}", notes, "PUT")
    else:
        return f"no comment: {kind} has no pull requests"
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30, transport=transport) as client:
            outcome = _upsert(client, paths[0], paths[1], paths[2], tag, body, paths[3])
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        if status in (401, 403, 404):
            return f"no comment: the token may not comment here (HTTP {status}; fork PRs get a read-only token)"
        return f"no comment: HTTP {status} from {kind}"
    except httpx.HTTPError as error:
        return f"no comment: {type(error).__name__}"
    return f"{'pull request comment' if kind == 'github' else 'merge request note'} {outcome}"
