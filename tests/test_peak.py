"""The Peak Press adapter against mocked answers (respx): what goes on the wire (paths with peak-sdk's
trailing slashes, bodies, the raw token) and how answers and errors are read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from capawesome_ci.cli import main
from capawesome_ci.cloud.peak import PeakPlatform, base_url_from_stage, connect
from capawesome_ci.errors import ConflictError, ExitCode, InputError, NotFoundError, TransientError
from capawesome_ci.platform import FAILED, RUNNING, SUCCEEDED, ReleaseRequest
from capawesome_ci.providers import Connection

BASE = "https://press.test.peak.ai"
TOKEN = "peak-token-0123456789"
DEPLOYMENT_ID = "11111111-2222-4333-8444-555555555555"


def deployment(status: str = "deployed", overall: str | None = None, **latest: Any) -> dict[str, Any]:
    return {
        "id": DEPLOYMENT_ID,
        "kind": "app",
        "metadata": {"name": "forecast", "status": overall or status},
        "spec": {"id": "spec-1", "release": {"version": "1.4.2"}},
        "latestRevision": {"revision": 3, "status": status, "release": {"version": "1.4.2"}, "blocks": [], **latest},
    }


@pytest.fixture
def peak() -> Iterator[PeakPlatform]:
    with connect(Connection(base_url=BASE, token=TOKEN, app_id="")) as platform:
        yield platform


def test_a_deployment_is_created_as_peak_sdk_sends_it_with_the_raw_token(peak: PeakPlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/apps/deployments/").respond(201, json={"id": DEPLOYMENT_ID})
        request = ReleaseRequest(
            version="1.4.2", notes="CI", spec_id="spec-1", parameters={"api": {"run": {"region": "eu"}}}
        )
        created = peak.create_release_deployment("forecast", request)
    sent = route.calls[0].request
    assert sent.headers["Authorization"] == TOKEN  # raw, no "Bearer"
    assert json.loads(sent.content) == {
        "metadata": {"name": "forecast", "summary": "Deployed from CI by capawesome-ci"},
        "parameters": {"api": {"run": {"region": "eu"}}},
        "revision": {"notes": "CI"},
        "spec": {"id": "spec-1", "release": {"version": "1.4.2"}},
    }
    assert (created.id, created.revision, created.release) == (DEPLOYMENT_ID, 1, "1.4.2")


def test_a_revision_goes_to_the_deployment_and_its_number_is_read(peak: PeakPlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post(f"/v1/apps/deployments/{DEPLOYMENT_ID}/revisions").respond(
            201, json={"id": DEPLOYMENT_ID, "revision": 4}
        )
        revision = peak.create_revision(DEPLOYMENT_ID, ReleaseRequest(version="1.3.0", notes="rollback"))
    assert json.loads(route.calls[0].request.content) == {
        "release": {"version": "1.3.0"},
        "revision": {"notes": "rollback"},
        "parameters": {},
    }
    assert (revision.revision, revision.release) == (4, "1.3.0")


def test_a_deployment_is_found_by_its_exact_name_across_pages(peak: PeakPlatform) -> None:
    other = {**deployment(), "id": "other", "metadata": {"name": "forecast-old", "status": "deployed"}}
    with respx.mock(base_url=BASE) as mock:
        pages = mock.get("/v1/apps/deployments/").mock(
            side_effect=[
                httpx.Response(200, json={"deployments": [other], "pageCount": 2}),
                httpx.Response(200, json={"deployments": [deployment()], "pageCount": 2}),
            ]
        )
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(200, json=deployment())
        found = peak.find_release_deployment("forecast")
    assert found is not None and found.id == DEPLOYMENT_ID and found.revision == 3
    assert [call.request.url.params["pageNumber"] for call in pages.calls] == ["1", "2"]
    assert pages.calls[0].request.url.params["name"] == "forecast"
    assert pages.calls[0].request.url.params["pageSize"] == "100"


def test_a_name_that_is_not_there_is_none_and_an_unknown_id_too(peak: PeakPlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/apps/deployments/").respond(200, json={"deployments": [], "pageCount": 0})
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(404, json={"message": "Deployment not found"})
        assert peak.find_release_deployment("forecast") is None
        assert peak.find_release_deployment(DEPLOYMENT_ID) is None


@pytest.mark.parametrize(
    ("revision", "overall", "status"),
    [
        ("deploying", None, RUNNING),
        ("deployed", None, SUCCEEDED),
        ("failed", None, FAILED),
        ("platform_resource_error", None, FAILED),
        ("rollback_complete", None, FAILED),
        ("failed", "warning", FAILED),  # only the deployment says warning
        ("failed", "redeploying", RUNNING),  # only the deployment says redeploying
        ("something_new", None, RUNNING),  # a status Peak adds later is waited out
    ],
)
def test_the_latest_revision_status_is_normalised_and_the_raw_word_kept(
    peak: PeakPlatform, revision: str, overall: str | None, status: str
) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(200, json=deployment(revision, overall))
        job = peak.get_job(DEPLOYMENT_ID)
    assert job.status == status and job.raw_status == (overall or revision)


def test_failed_blocks_are_the_failed_parts(peak: PeakPlatform) -> None:
    blocks = [{"name": "ingest", "status": "deployed"}, {"name": "api", "status": "platform_resource_error"}]
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(200, json=deployment("failed", blocks=blocks))
        job = peak.get_job(DEPLOYMENT_ID)
    assert job.failed_parts == ["block api: platform_resource_error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"json": {"message": "Revision 2 is still deploying"}}, "Revision 2 is still deploying"),
        ({"text": "conflict: deployment busy"}, "conflict: deployment busy"),
    ],
)
def test_a_conflict_is_exit_6_with_the_servers_reason(peak: PeakPlatform, body: dict[str, Any], message: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post(f"/v1/apps/deployments/{DEPLOYMENT_ID}/redeploy").respond(409, **body)
        with pytest.raises(ConflictError) as caught:
            peak.redeploy(DEPLOYMENT_ID)
    assert caught.value.exit_code == ExitCode.JOB_REJECTED == 6
    assert message in caught.value.message and "HTTP 409" in caught.value.message


def test_a_missing_release_is_not_found(peak: PeakPlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/v1/apps/deployments/").respond(404, json={"message": "Release 9.9.9 not found"})
        with pytest.raises(NotFoundError, match=r"Release 9\.9\.9 not found"):
            peak.create_release_deployment("x", ReleaseRequest(version="9.9.9", notes="n", spec_id="s"))


@pytest.mark.parametrize(
    "answer",
    [
        {"id": DEPLOYMENT_ID, "latestRevision": []},
        {"id": DEPLOYMENT_ID, "latestRevision": {"status": 7}},
        {"id": DEPLOYMENT_ID, "latestRevision": {"status": "failed", "blocks": {"api": "failed"}}},
        {"id": DEPLOYMENT_ID, "latestRevision": {"status": "deployed", "revision": "3"}},
        {"id": DEPLOYMENT_ID, "metadata": {}},
        [],
    ],
)
def test_an_unusable_answer_is_transient_never_a_crash(peak: PeakPlatform, answer: Any) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(200, json=answer)
        with pytest.raises(TransientError):
            peak.get_release_deployment(DEPLOYMENT_ID)
            peak.get_job(DEPLOYMENT_ID)


def test_a_list_whose_page_count_keeps_growing_is_bounded(peak: PeakPlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/apps/deployments/").respond(200, json={"deployments": [], "pageCount": 10**6})
        with pytest.raises(TransientError, match="longer than"):
            peak.find_release_deployment("forecast")


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "https://press.peak.ai"),
        ({"STAGE": "prod"}, "https://press.peak.ai"),
        ({"PEAK__STAGE": "beta", "STAGE": "test"}, "https://press.beta.peak.ai"),
        ({"STAGE": "latest"}, "https://press.dev.peak.ai"),
    ],
)
def test_the_host_comes_from_the_stage_as_peak_sdk_builds_it(environ: dict[str, str], url: str) -> None:
    assert base_url_from_stage(environ) == url


def test_an_unknown_stage_is_an_input_error() -> None:
    with pytest.raises(InputError, match="PEAK__STAGE"):
        base_url_from_stage({"PEAK__STAGE": "staging"})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.fixture
def peak_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "CAPAWESOME_CI_PROVIDER", "PEAK_AUTH_TOKEN", "API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_KEY", TOKEN)  # peak-sdk's second choice
    monkeypatch.setenv("PEAK__STAGE", "test")


def test_the_cli_reads_api_key_and_the_stage_and_a_malformed_answer_is_75(
    peak_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/apps/deployments/").respond(200, json={"deployments": "nope", "pageCount": 1})
        code, result, err = run(capsys, "--provider", "peak", "wait", "--deployment-id", "forecast")
    assert code == 75, err
    assert "a string in 'deployments' where a list was expected" in result["error"]
    assert TOKEN not in err + json.dumps(result)


def test_a_deploy_whose_release_is_deployed_already_sends_nothing(
    peak_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/apps/deployments/").respond(200, json={"deployments": [deployment()], "pageCount": 1})
        mock.get(f"/v1/apps/deployments/{DEPLOYMENT_ID}").respond(200, json=deployment())
        code, result, err = run(
            capsys, "--provider", "peak", "deploy", "--deployment", "forecast", "--release", "1.4.2"
        )
        assert code == 0, err
        assert [call.request.method for call in mock.calls] == ["GET", "GET"]
    assert result["noop"] is True and result["deployments"][0]["noop"] is True
    assert result["jobStatusRaw"] == "deployed" and result["deployments"][0]["revision"] == 3
