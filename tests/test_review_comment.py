"""Sticky pull/merge request comments (respx): found by marker and updated, created once, skipped
without permission or outside a pull request — never failing the step."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from capawesome_ci.ci.review_comment import marker, post_review_comment
from capawesome_ci.cli import main
from capawesome_ci.result import StepResult
from capawesome_ci.sandbox import Sandbox

RESULT = StepResult(command="build", status="succeeded", build_number="7", platform="android")
API = "https://api.github.example"


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}}))
    return {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_API_URL": API,
        "GITHUB_WORKFLOW": "ci",
        "GITHUB_JOB": "android",
    }


def test_marker_keeps_matrix_jobs_apart(github_env: dict[str, str]) -> None:
    assert marker(None, github_env, RESULT) == "<!-- capawesome-ci:ci/android/build -->"
    assert marker("{job}/{platform}", github_env, RESULT) == "<!-- capawesome-ci:android/android -->"


def test_creates_once_then_updates_in_place(github_env: dict[str, str]) -> None:
    comments: list[dict[str, object]] = [{"id": 1, "body": "unrelated"}]

    def listing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=comments)

    def create(request: httpx.Request) -> httpx.Response:
        comments.append({"id": 2, "body": json.loads(request.content)["body"]})
        return httpx.Response(201, json=comments[-1])

    with respx.mock(base_url=API) as mock:
        mock.get("/repos/acme/app/issues/12/comments").mock(side_effect=listing)
        created = mock.post("/repos/acme/app/issues/12/comments").mock(side_effect=create)
        updated = mock.patch("/repos/acme/app/issues/comments/2").mock(return_value=httpx.Response(200, json={}))
        assert post_review_comment("github", github_env, "ghs_token", None, RESULT) == "pull request comment created"
        assert post_review_comment("github", github_env, "ghs_token", None, RESULT) == "pull request comment updated"
    assert created.call_count == 1 and updated.call_count == 1
    assert "<!-- capawesome-ci:ci/android/build -->" in json.loads(updated.calls.last.request.content)["body"]
    assert created.calls.last.request.headers["Authorization"] == "Bearer ghs_token"


def test_read_only_tokens_and_non_pr_runs_are_skipped(github_env: dict[str, str], tmp_path: Path) -> None:
    with respx.mock(base_url=API) as mock:
        mock.get("/repos/acme/app/issues/12/comments").mock(return_value=httpx.Response(403, json={}))
        assert "fork PRs get a read-only token" in post_review_comment("github", github_env, "t", None, RESULT)
    push = tmp_path / "push.json"
    push.write_text("{}")
    assert "not for a pull request" in post_review_comment(
        "github", {**github_env, "GITHUB_EVENT_PATH": str(push)}, "t", None, RESULT
    )
    assert "pass a token" in post_review_comment("github", github_env, None, None, RESULT)


def test_gitlab_merge_request_note() -> None:
    environ = {"CI_API_V4_URL": "https://gitlab.example/api/v4", "CI_PROJECT_ID": "5", "CI_MERGE_REQUEST_IID": "3"}
    with respx.mock(base_url="https://gitlab.example/api/v4") as mock:
        mock.get("/projects/5/merge_requests/3/notes").mock(return_value=httpx.Response(200, json=[]))
        note = mock.post("/projects/5/merge_requests/3/notes").mock(return_value=httpx.Response(201, json={}))
        assert post_review_comment("gitlab", environ, "glpat", None, RESULT) == "merge request note created"
    assert note.calls.last.request.headers["PRIVATE-TOKEN"] == "glpat"
    assert "no note" in post_review_comment("gitlab", {}, "glpat", None, RESULT)


def test_cli_comment_flag(
    sandbox: Sandbox, github_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {
        **github_env,
        "GITHUB_TOKEN": "ghs_secret_value",
        "CAPAWESOME_CLOUD_TOKEN": sandbox.token,
        "CAPAWESOME_CLOUD_BASE_URL": sandbox.base_url,
        "CAPAWESOME_APP_ID": sandbox.app_id,
    }.items():
        monkeypatch.setenv(key, value)
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.get(f"{API}/repos/acme/app/issues/12/comments").mock(return_value=httpx.Response(200, json=[]))
        created = mock.post(f"{API}/repos/acme/app/issues/12/comments").mock(return_value=httpx.Response(201, json={}))
        code = main(["--ci", "github", "--comment", "rollout", "--channel", "production", "--percentage", "5"])
    err = capsys.readouterr().err
    assert code == 4  # no deployment on the channel: the comment still reports the failure
    assert created.call_count == 1
    assert "pull request comment created" in err
    shown = [line for line in err.splitlines() if not line.startswith("::add-mask::")]
    assert not any("ghs_secret_value" in line for line in shown)
