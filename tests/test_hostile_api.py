"""The cloud layer against a hostile API: answers we cannot use, ids that try to rewrite paths, redirects.

- Every 2xx answer is read through one boundary (cloud/answers.py): garbage is exit 75 (for a change,
  with a message that it may have taken effect), never 70 and never a traceback. A fuzz sends each
  route the CI path reads a set of hostile bodies and wrong-typed fields and runs the real CLI.
- Every id that goes into a path, from the user or from the server, is percent-encoded by one
  function (cloud/paths.py); `.`, `..` and empty ids are refused (2 from the user, 75 from the server).
- Reads follow same-origin redirects (bounded); the token never goes to another origin; a redirected
  change is not re-sent.
"""

from __future__ import annotations

import fnmatch
import os
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from capawesome_ci.cloud.answers import list_answer, object_answer
from capawesome_ci.cloud.capawesome import CapawesomePlatform
from capawesome_ci.cloud.paths import segment
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.errors import AmbiguousMutationError, InputError, TransientError
from tests.hostile import APP_ID, Answer, HostileServer, Json, Raw

APP = f"/v1/apps/{APP_ID}"
DOCUMENTED_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 75, 124}

# The commands of the CI path, each short enough to fuzz (a garbage job answer ends at --timeout).
COMMANDS: dict[str, tuple[str, ...]] = {
    "wait": ("wait", "--build-id", "build-1", "--timeout", "1s"),
    "download": ("download", "--build-id", "build-1", "--output-dir", "out"),
    "deploy": ("deploy", "--build-id", "build-1", "--channel", "production", "--rollout", "50"),
    "rollout": ("rollout", "--channel", "production", "--percentage", "50"),
    "build": ("build", "--platform", "android", "--timeout", "1s"),
}


def ok_or_documented(result: Any) -> None:
    """Never an internal error or a traceback; stdout is one JSON object with the same exit code."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert result.code in DOCUMENTED_CODES, result.stderr
    assert result.json["exitCode"] == result.code, result.stdout


def error_line(result: Any) -> str:
    ok_or_documented(result)
    lines: list[str] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- 1. malformed 2xx answers ----------------------------------------------------------------------
def test_a_rollout_percentage_that_is_not_a_number_is_75(hostile: Any, hostile_cli: Any) -> None:
    hostile.deployment["rolloutPercentage"] = "abc"
    result = hostile_cli(*COMMANDS["rollout"], "--json")
    assert result.code == 75
    line = error_line(result)
    assert f"GET {APP}/channels/channel-1" in line and "'rolloutPercentage'" in line
    assert "taken effect" not in line  # a read changed nothing
    assert not hostile.requested("PATCH", "*")


@pytest.mark.parametrize("percentage", [1.5, -0.1, 1e308, True])
def test_a_rollout_fraction_outside_0_to_1_is_75(hostile: Any, hostile_cli: Any, percentage: object) -> None:
    hostile.deployment["rolloutPercentage"] = percentage
    assert hostile_cli(*COMMANDS["rollout"], "--json").code == 75


def zip_of(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.html", "<html></html>")
        archive.writestr("blob.bin", os.urandom(size))
    return path


@pytest.mark.parametrize(
    ("size", "route", "answer", "says"),
    [
        (1024, ("POST", f"{APP}/bundles/*/files"), Json({}), "no 'id'"),
        (1024, ("POST", f"{APP}/bundles/*/files"), Json({"id": ["file-1"]}), "a list in 'id'"),
        (1024, ("POST", f"{APP}/bundles"), Json([{"id": "bundle-1"}]), "a list where an object"),
        (11 * 1024 * 1024, ("PUT", f"{APP}/bundles/*/files/*/upload"), Json({"partNumber": 1}), "no 'etag'"),
        (11 * 1024 * 1024, ("POST", f"{APP}/bundles/*/files/*/upload"), Json({}), "no 'uploadId'"),
    ],
    ids=["file-without-id", "file-id-list", "bundle-list", "part-without-etag", "mpu-without-upload-id"],
)
def test_an_unusable_bundle_answer_is_75(
    hostile: Any, hostile_cli: Any, tmp_path: Path, size: int, route: tuple[str, str], answer: Answer, says: str
) -> None:
    hostile.route("POST", f"{APP}/bundles", Json({"id": "bundle-1", "appBuildId": "build-1"}, 201))
    hostile.route("POST", f"{APP}/bundles/*/files", Json({"id": "file-1"}, 201))
    hostile.route("POST", f"{APP}/bundles/*/files/*/upload", Json({"uploadId": "upload-1"}))
    hostile.route("PUT", f"{APP}/bundles/*/files/*/upload", Json({"etag": '"e"', "partNumber": 1}))
    hostile.route("PATCH", f"{APP}/bundles/*", Json({"id": "bundle-1", "appBuildId": "build-1"}))
    hostile.route(*route, answer)
    zip_of(tmp_path / "bundle.zip", size)
    result = hostile_cli("live-update", "--path", "bundle.zip", "--json")
    assert result.code == 75
    line = error_line(result)
    assert says in line
    # A POST may have created something; a PUT of a part is idempotent and says nothing of the kind.
    assert ("taken effect" in line) == (route[0] == "POST")


# The routes the CI path reads, with the commands that read them and the object a field fuzz mutates.
ROUTES: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", APP, ("build",)),
    ("POST", f"{APP}/builds", ("build",)),
    ("GET", f"{APP}/builds/*", ("wait", "download", "deploy")),
    ("GET", "/v1/jobs/*", ("wait", "build")),
    ("GET", "/v1/jobs/*/logs", ("wait", "build")),
    ("GET", f"{APP}/builds/*/artifacts", ("download",)),
    ("GET", f"{APP}/channels", ("deploy", "rollout")),
    ("GET", f"{APP}/channels/*", ("deploy", "rollout")),
    ("POST", f"{APP}/deployments", ("deploy",)),
    ("PATCH", f"{APP}/deployments/*", ("rollout",)),
]

HOSTILE_ANSWERS: dict[str, Answer] = {
    "empty": Raw(200, b""),
    "null": Raw(200, b"null"),
    "object": Json({}),
    "list": Json([]),
    "string": Json("x"),
    "1e999": Raw(200, b"1e999"),
    "NaN": Raw(200, b'{"id": NaN, "rolloutPercentage": NaN}'),
    "huge-int": Raw(200, b"9" * 5000),
    "deep": Raw(200, b"[" * 100_000),
    "nested-garbage": Json({"id": {"id": [None, {"id": []}]}, "status": [[{}]], "number": {"n": 1}}),
    "list-of-garbage": Json([1, "x", None, [], {"id": 7}]),
    "bad-utf8": Raw(200, b'{"id": "\xff\xfe", "status": "succeeded"}'),
    "not-json": Raw(200, b"<html><body>Bad gateway</body></html>"),
    "bad-gzip": Raw(200, b"not gzip", {"Content-Encoding": "gzip"}),
    "error-deep": Raw(404, b"[" * 100_000),
    "error-bad-utf8": Raw(400, b'{"message": "\xff"}'),
    "redirect-without-location": Raw(307, b""),
    "redirect-to-bad-url": Raw(302, b"", {"Location": "http://[::1"}),
}


def rotate(cases: list[tuple[str, str, tuple[str, ...]]], count: int) -> list[tuple[str, str, str, int]]:
    """(method, pattern, command, index) for `count` indexes per route, the commands that read the
    route taking turns: every command meets every route, and each case costs one CLI run."""
    return [
        (method, pattern, commands[index % len(commands)], index)
        for method, pattern, commands in cases
        for index in range(count)
    ]


@pytest.mark.parametrize(
    ("method", "pattern", "command", "index"),
    [
        pytest.param(*case, id=f"{case[0]} {case[1]} {case[2]} {list(HOSTILE_ANSWERS)[case[3]]}")
        for case in rotate(ROUTES, len(HOSTILE_ANSWERS))
    ],
)
def test_fuzz_hostile_bodies_never_exit_70(
    hostile: Any, hostile_cli: Any, method: str, pattern: str, command: str, index: int
) -> None:
    hostile.route(method, pattern, list(HOSTILE_ANSWERS.values())[index])
    ok_or_documented(hostile_cli(*COMMANDS[command], "--json"))


def default_object(server: HostileServer, pattern: str) -> dict[str, Any]:
    """The object a route answers with by default (an item, for a list)."""
    objects = {
        APP: {"id": APP_ID, "name": "Hostile"},
        f"{APP}/builds": server.build,
        f"{APP}/builds/*": server.build,
        "/v1/jobs/*": {**server.job, "totalTimeInSeconds": 12},
        "/v1/jobs/*/logs": {"number": 1, "payload": "Building"},
        f"{APP}/builds/*/artifacts": server.artifact,
        f"{APP}/channels": server.channel,
        f"{APP}/channels/*": {**server.channel, "appDeployment": server.deployment},
        f"{APP}/deployments": server.deployment,
        f"{APP}/deployments/*": server.deployment,
    }
    return dict(objects[pattern])


def wrong_values(value: Any) -> list[Any]:
    """Another type than the field's own (a number far too big for one), and nested garbage."""
    other = 123456789012345678901234567890 if isinstance(value, str) else "abc"
    return [other, {"a": [None, [value]]}]


def field_cases() -> list[tuple[str, str, str, str, int]]:
    """(route, command, field, wrong value) for every field of each route's default object."""
    with HostileServer() as server:
        cases = []
        for method, pattern, commands in ROUTES:
            variants = [(field, index) for field in default_object(server, pattern) for index in range(2)]
            for turn, (field, index) in enumerate(variants):
                cases.append((method, pattern, commands[turn % len(commands)], field, index))
        return cases


@pytest.mark.parametrize(("method", "pattern", "command", "field", "index"), field_cases())
def test_fuzz_wrong_typed_fields_never_exit_70(
    hostile: Any, hostile_cli: Any, method: str, pattern: str, command: str, field: str, index: int
) -> None:
    body = default_object(hostile, pattern)
    body[field] = wrong_values(body[field])[index]
    is_list = pattern in (f"{APP}/builds/*/artifacts", f"{APP}/channels", "/v1/jobs/*/logs")
    hostile.route(method, pattern, Json([body] if is_list else body))
    ok_or_documented(hostile_cli(*COMMANDS[command], "--json"))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_fuzzed_routes_are_every_route_each_command_reads(hostile: Any, hostile_cli: Any, command: str) -> None:
    result = hostile_cli(*COMMANDS[command], "--json")
    assert result.code == 0, result.stderr
    fuzzed = {(m, p) for m, p, commands in ROUTES if command in commands}
    for request in hostile.requests:
        if "/download" in request.path or (request.method == "PATCH" and request.path.startswith("/v1/jobs/")):
            continue  # artifact bytes are not an answer; the cancel is never reached in a clean run
        depth = request.path.count("/")
        matches = {(m, p) for m, p in fuzzed if m == request.method and p.count("/") == depth}
        assert any(fnmatch.fnmatchcase(request.path, p) for _, p in matches), (request.method, request.path)


# -- 2. ids in paths ---------------------------------------------------------------------------------
def test_a_job_id_cannot_climb_out_of_its_path(hostile: Any, hostile_cli: Any) -> None:
    result = hostile_cli("wait", "--job-id", "../../v1/apps/app1", "--json")
    assert result.code == 0, result.stderr
    assert [r.path for r in hostile.requests] == [
        "/v1/jobs/..%2F..%2Fv1%2Fapps%2Fapp1",
        "/v1/jobs/..%2F..%2Fv1%2Fapps%2Fapp1/logs",
    ]


@pytest.mark.parametrize("job_id", [".", ".."])
def test_a_dot_job_id_from_the_user_is_refused_with_2(hostile: Any, hostile_cli: Any, job_id: str) -> None:
    result = hostile_cli("wait", "--job-id", job_id, "--json")
    assert result.code == 2
    assert "invalid --job-id" in error_line(result)
    assert hostile.requests == []


def test_an_app_id_with_a_slash_stays_one_segment(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("GET", "/v1/apps/*/builds/*", Json(hostile.build))
    result = hostile_cli("wait", "--build-id", "b?x=1#y", "--json", env={"CAPAWESOME_APP_ID": "a/../b"})
    assert result.code == 0, result.stderr
    assert hostile.requests[0].path == "/v1/apps/a%2F..%2Fb/builds/b%3Fx%3D1%23y"


SERVER_IDS = "x/../../v1/apps/app1?admin=1"
SERVER_ID_WIRE = "x%2F..%2F..%2Fv1%2Fapps%2Fapp1%3Fadmin%3D1"


@pytest.mark.parametrize(
    ("owner", "field", "command", "method", "expected"),
    [
        ("build", "jobId", "wait", "GET", f"/v1/jobs/{SERVER_ID_WIRE}"),
        ("deployment", "id", "rollout", "PATCH", f"{APP}/deployments/{SERVER_ID_WIRE}"),
        ("artifact", "id", "download", "GET", f"{APP}/builds/build-1/artifacts/{SERVER_ID_WIRE}/download"),
        ("channel", "id", "rollout", "GET", f"{APP}/channels/{SERVER_ID_WIRE}"),
    ],
)
def test_server_supplied_ids_are_encoded(
    hostile: Any, hostile_cli: Any, owner: str, field: str, command: str, method: str, expected: str
) -> None:
    getattr(hostile, owner)[field] = SERVER_IDS
    result = hostile_cli(*COMMANDS[command], "--json")
    ok_or_documented(result)
    assert expected in [r.path for r in hostile.requests if r.method == method]
    assert not [r for r in hostile.requests if r.path.startswith("/v1/apps/app1")]


@pytest.mark.parametrize("bad", ["..", ".", "", "has space", "x" * 257, "tab\there"])
def test_an_unusable_id_from_the_server_is_75_and_never_sent(hostile: Any, hostile_cli: Any, bad: str) -> None:
    hostile.build["jobId"] = bad
    result = hostile_cli(*COMMANDS["wait"], "--json")
    assert result.code == 75
    assert "'jobId'" in error_line(result)
    assert not hostile.requested("GET", "/v1/jobs/*")
    assert [r.path for r in hostile.requests] == [f"{APP}/builds/build-1"]


def test_the_path_rule() -> None:
    assert segment("a/b?c#d%e f") == "a%2Fb%3Fc%23d%25e%20f"
    assert segment("..x") == "..x"
    for bad in ("", ".", ".."):
        with pytest.raises(InputError):
            segment(bad)


# -- 3. redirects, shapes, wording, logs -------------------------------------------------------------
def test_a_read_follows_a_same_origin_redirect(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("GET", f"{APP}/builds/*", Raw(307, b"", {"Location": f"{APP}/moved/build-1"}))
    hostile.route("GET", f"{APP}/moved/*", Json(hostile.build))
    result = hostile_cli(*COMMANDS["wait"], "--json")
    assert result.code == 0, result.stderr
    moved = hostile.requested("GET", f"{APP}/moved/*")
    assert len(moved) == 1 and moved[0].headers["Authorization"] == f"Bearer {hostile.token}"


def test_a_redirect_loop_is_bounded_and_75(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("GET", f"{APP}/builds/*", Raw(302, b"", {"Location": f"{APP}/builds/build-1"}))
    result = hostile_cli(*COMMANDS["wait"], "--json")
    assert result.code == 75
    assert "too many redirects" in error_line(result)
    assert len(hostile.requested("GET", f"{APP}/builds/*")) == 1 + 5


def test_a_cross_origin_redirect_of_an_api_call_is_not_followed(hostile: Any, hostile_cli: Any) -> None:
    with HostileServer() as elsewhere:
        hostile.route("GET", f"{APP}/builds/*", Raw(307, b"", {"Location": f"{elsewhere.base_url}{APP}/builds/b"}))
        result = hostile_cli(*COMMANDS["wait"], "--json")
    assert result.code == 2
    assert "another origin" in error_line(result) and "base URL" in error_line(result)
    assert elsewhere.requests == []


def test_a_download_redirected_to_storage_never_carries_the_token(
    hostile: Any, hostile_cli: Any, tmp_path: Path
) -> None:
    with HostileServer() as storage:
        storage.route("GET", "/storage/download/*", Raw(200, hostile.artifact_bytes))
        location = f"{storage.base_url}/storage/download/app.apk"
        hostile.route("GET", f"{APP}/builds/*/artifacts/*/download", Raw(302, b"", {"Location": location}))
        result = hostile_cli(*COMMANDS["download"], "--json")
    assert result.code == 0, result.stderr
    assert len(storage.requests) == 1
    assert "authorization" not in {name.lower() for name in storage.requests[0].headers}
    assert hostile.token not in str(storage.requests[0].headers)


def test_a_redirected_change_is_not_sent_again(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("PATCH", f"{APP}/deployments/*", Raw(307, b"", {"Location": f"{APP}/deployments/other"}))
    result = hostile_cli(*COMMANDS["rollout"], "--json")
    assert result.code == 75
    line = error_line(result)
    assert "never followed for a change" in line and "console" in line
    assert [r.path for r in hostile.requested("PATCH", "*")] == [f"{APP}/deployments/deployment-1"]


def test_artifacts_wrapped_in_an_object_are_75_not_4(hostile: Any, hostile_cli: Any) -> None:
    hostile.route("GET", f"{APP}/builds/*/artifacts", Json({"data": [hostile.artifact]}))
    result = hostile_cli(*COMMANDS["download"], "--json")
    assert result.code == 75
    assert "an object where a list was expected" in error_line(result)


@pytest.mark.parametrize(
    ("method", "pattern", "command", "may_have_acted"),
    [
        ("GET", f"{APP}/builds/*", "wait", False),
        ("GET", f"{APP}/channels/*", "rollout", False),
        ("POST", f"{APP}/deployments", "deploy", True),
        ("PATCH", f"{APP}/deployments/*", "rollout", True),
    ],
)
def test_only_a_change_says_it_may_have_taken_effect(
    hostile: Any, hostile_cli: Any, method: str, pattern: str, command: str, may_have_acted: bool
) -> None:
    hostile.route(method, pattern, Raw(200, b"<html>502 Bad Gateway</html>"))
    result = hostile_cli(*COMMANDS[command], "--json")
    assert result.code == 75
    line = error_line(result)
    assert "not JSON" in line
    assert ("may have taken effect" in line) == may_have_acted


def test_a_log_page_with_invalid_utf8_keeps_its_lines(hostile: Any, hostile_cli: Any) -> None:
    page = b'[{"number": 1, "payload": "caf\xe9 au lait"}, {"number": 2, "payload": "Done \xff"}]'
    hostile.route("GET", "/v1/jobs/*/logs", Raw(200, page, {"Content-Type": "application/json"}))
    result = hostile_cli("wait", "--build-id", "build-1", "--json")
    assert result.code == 0, result.stderr
    assert "caf\ufffd au lait" in result.stderr and "Done \ufffd" in result.stderr


# -- the boundary itself (respx) ---------------------------------------------------------------------
def answer(body: bytes, method: str = "GET") -> httpx.Response:
    return httpx.Response(200, content=body, request=httpx.Request(method, "https://api.test/v1/x%2Fy"))


@pytest.mark.parametrize(
    "body", [b"NaN", b"-Infinity", b"1e999", b"[" * 100_000, b"9" * 5000, b'"\xff"', b"{", b"\xef\xbb\xbf{}"]
)
def test_bodies_json_cannot_hold_are_unusable(body: bytes) -> None:
    with pytest.raises(TransientError) as caught:
        object_answer(answer(body))
    assert not isinstance(caught.value, AmbiguousMutationError)
    assert caught.value.message.startswith("GET /v1/x%2Fy: the API answered with")
    with pytest.raises(AmbiguousMutationError, match="may have taken effect"):
        object_answer(answer(body, "POST"))


def test_typed_fields() -> None:
    record = object_answer(answer(b'{"n": 3, "b": true, "f": 0.5, "big": 1e300, "s": "7", "id": "a/b"}'))
    assert record.integer("n") == 3 and record.number("f", maximum=1) == 0.5 and record.id("id") == "a/b"
    assert record.text("missing") is None and record.maybe_id("missing") is None
    for getter, key in [
        (record.integer, "b"),
        (record.integer, "s"),
        (record.integer, "f"),
        (record.text, "n"),
        (record.id, "n"),
        (record.id, "missing"),
        (record.token, "missing"),
    ]:
        with pytest.raises(TransientError):
            getter(key)
    with pytest.raises(TransientError):
        record.number("big", maximum=1)
    with pytest.raises(TransientError, match="an object where a list was expected"):
        list_answer(answer(b'{"data": []}'))


def test_sdk_style_paths_are_never_built_from_raw_ids() -> None:
    """Every id goes through `segment`, including the ones the official SDK would have formatted raw."""
    with respx.mock(base_url="https://api.test") as mock:
        route = mock.route(method="GET").mock(return_value=httpx.Response(200, json={"id": "d", "status": "queued"}))
        with make_http_client("https://api.test", "t") as http:
            platform = CapawesomePlatform(http, "my/app")
            platform.get_job("j/1")
            platform.get_deployment("d?x")
    assert [call.request.url.raw_path for call in route.calls] == [
        b"/v1/jobs/j%2F1",
        b"/v1/apps/my%2Fapp/deployments/d%3Fx",
    ]
