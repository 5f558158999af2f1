"""Capgo against a hostile API (tests/hostile.py), through the real CLI with `--provider capgo`.

- dotenv and outputs: a channel name, a server-sent bundle name or error message with shell syntax,
  workflow commands, sections and Markdown runs nothing and stays text in every report.
- paths: a Capgo Build link (`qr_download_link`, read from `GET /build/logs/{job}` once the build has
  ended) whatever its file name writes one clean file inside --output-dir; its host never gets our key.
- logs: the status's `error` text, and lines a build prints on Capgo's live log socket (the
  emulator's), add no workflow command, section and no escape sequence to the log.
- deadlines: --timeout ends a silent, trickling or Retry-After: 100 server with 124 within seconds,
  the hosted upload's internal routes and its PUT to a trickling storage host included, and a TUS
  server that never answers.
- unusable answers are 75 (a POST's says it may have taken effect), never 70, never a traceback;
  a 503 on a mutation is never retried, a 429 with Retry-After is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.ci.dotenv import single_line
from tests.conftest import CliResult, make_site, run_cli
from tests.hostile import APP_ID, TOKEN, Answer, Call, HostileServer, Json, Raw, Silent, Trickle
from tests.test_github import parse_outputs
from tests.test_hostile_api import error_line, ok_or_documented
from tests.test_hostile_deadlines import SLACK, one_error_line, timed
from tests.test_hostile_names import assert_clean, only_file
from tests.test_hostile_reports import (
    PAYLOAD,
    SHELL_PAYLOADS,
    assert_inert_markdown,
    dotenv_expected,
    github_foreign_lines,
    source_in,
)

BUNDLE_ROW = {"id": 11, "name": "1.0.0", "checksum": "ab" * 32}
JOB = "job-h1"
BINARY = b"PK\x03\x04" + bytes(2000)


class Capgo:
    """A HostileServer answering Capgo's routes with plausible defaults (its key taken raw, no Bearer):
    one bundle 1.0.0, a channel `production` whose stable bundle is 1.0.0 with a 10 % rollout of 1.1.0,
    a finished build whose log route sends a download link on `storage`. A test overrides the route
    or the field it attacks."""

    def __init__(self, api: HostileServer, storage: HostileServer) -> None:
        self.api = api
        self.storage = storage
        api.auth_scheme = None
        self.bundles: list[dict[str, Any]] = [dict(BUNDLE_ROW)]
        self.channel: dict[str, Any] = {
            "id": 5,
            "name": "production",
            "version": {"id": 11, "name": "1.0.0"},
            "rollout_version_info": {"id": 12, "name": "1.1.0"},
            "rolloutPercentageBps": 1000,
            "rolloutEnabled": True,
            "rolloutPausedAt": None,
        }
        self.status: dict[str, Any] = {"job_id": JOB, "status": "succeeded", "error": None}
        self.link = f"{storage.base_url}/download/outputs/app-release.apk?sig=abc"
        api.route("GET", "/bundle/", lambda: Json(self.bundles))
        api.route("GET", "/channel/", lambda: Json(self.channel))
        api.route("POST", "/channel/", Json({"status": "ok"}))
        api.route("GET", "/build/status", lambda: Json(self.status))
        api.route(
            "GET",
            f"/build/logs/{JOB}",
            lambda: sse({"type": "custom_msg", "kind": "qr_download_link", "data": {"url": self.link}}),
        )
        storage.route("GET", "/download/*", Raw(200, BINARY))  # a link whose file name is empty
        storage.route("GET", "/download/outputs/*", Raw(200, BINARY))

    def route(self, method: str, pattern: str, answer: Answer) -> None:
        self.api.route(method, pattern, answer)

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in self.api.env().items() if not key.startswith("CAPGO_")}
        env.update(CAPGO_TOKEN=TOKEN, CAPGO_BASE_URL=self.api.base_url, CAPGO_APP_ID=APP_ID, **extra)
        return env

    def requested(self, method: str, pattern: str) -> list[Any]:
        return self.api.requested(method, pattern)


def sse(*messages: dict[str, Any]) -> Raw:
    text = "".join(f"data: {json.dumps(message)}\n\n" for message in messages)
    return Raw(200, text.encode(), {"Content-Type": "text/event-stream"})


@pytest.fixture
def capgo() -> Iterator[Capgo]:
    with HostileServer() as api, HostileServer() as storage:
        yield Capgo(api, storage)


@pytest.fixture
def run(capgo: Capgo, tmp_path: Path) -> Any:
    """The real CLI with --provider capgo against `capgo`, in tmp_path, with `env` added."""

    def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        return run_cli(["--provider", "capgo", *args], env=capgo.env(**(env or {})), cwd=tmp_path, timeout=timeout)

    return cli


# PAYLOAD (workflow commands, a GitLab section end, Markdown and HTML) plus a mask and an output
# command, and shell syntax a sourced file would run.
HOSTILE = PAYLOAD + "\n::add-mask::INJECTED\n::set-output name=INJECTED::x\n$(touch pwned)`touch pwned`"


def rollout_of(capgo: Capgo, bundle: str, channel: str = "production") -> list[str]:
    """A rollout to 50 % of the channel's current target: `bundle` is the server's name for it."""
    capgo.channel.update(name=channel, rollout_version_info={"id": 12, "name": bundle})
    return ["rollout", "--channel", channel, "--percentage", "50"]


def failed_rollout(capgo: Capgo, message: str) -> list[str]:
    capgo.route("POST", "/channel/", Json({"error": "invalid_body", "message": message}, 400))
    return rollout_of(capgo, "1.1.0")


def failed_build(capgo: Capgo, message: str) -> list[str]:
    capgo.status.update(status="failed", error=message)
    return ["wait", "--build-id", JOB]


# -- dotenv, outputs, summary, log ------------------------------------------------------------------
@pytest.mark.parametrize("name", SHELL_PAYLOADS)
def test_a_sourced_dotenv_gives_back_hostile_channel_and_bundle_names_and_runs_nothing(
    capgo: Capgo, run: Any, tmp_path: Path, name: str
) -> None:
    result = run(*rollout_of(capgo, bundle=name, channel=name), "--json", "--ci", "local", "--dotenv", "capgo.env")
    assert result.code == 0, result.stderr
    expected = {**dotenv_expected(result.json), "CAPAWESOME_BUNDLE": single_line(name)}
    assert expected["CAPAWESOME_CHANNEL"] == single_line(name)
    for shell in ("bash", "dash"):
        assert source_in(shell, tmp_path / "capgo.env", list(expected)) == expected, shell
    assert not (tmp_path / "pwned").exists()


def test_a_sourced_dotenv_carries_a_hostile_error_message_and_runs_nothing(
    capgo: Capgo, run: Any, tmp_path: Path
) -> None:
    message = 'bad (rollout): $(touch${IFS}pwned) `touch pwned` it\'s "quoted" $HOME #x\nsecond line'
    result = run(
        *failed_rollout(capgo, message), "--json", "--ci", "bitbucket", env={"BITBUCKET_CLONE_DIR": str(tmp_path)}
    )
    ok_or_documented(result)
    expected = dotenv_expected(result.json)
    assert "$(touch${IFS}pwned)" in expected["CAPAWESOME_ERROR"]
    assert source_in("bash", tmp_path / "capawesome.env", list(expected)) == expected
    assert not (tmp_path / "pwned").exists()


SCENARIOS = {
    "bundle name": lambda capgo: rollout_of(capgo, HOSTILE),
    "error message": lambda capgo: failed_rollout(capgo, HOSTILE),
    "build error": lambda capgo: failed_build(capgo, HOSTILE),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_server_text_adds_no_github_command_and_stays_text_in_summary_and_outputs(
    capgo: Capgo, run: Any, tmp_path: Path, scenario: str
) -> None:
    env = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = run(*SCENARIOS[scenario](capgo), "--ci", "github", "--debug", "--json", env=env)
    ok_or_documented(result)
    assert github_foreign_lines(result.stderr) == [] and github_foreign_lines(result.stdout) == []
    assert_inert_markdown((tmp_path / "summary").read_text(), capgo.api.base_url)
    outputs = parse_outputs((tmp_path / "output").read_text())
    for name in ("bundle", "error", "channel"):
        assert "\n" not in outputs.get(name, "") and outputs.get(name, "").isprintable(), name
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_server_text_opens_or_closes_no_gitlab_section_and_sends_no_escape(
    capgo: Capgo, run: Any, tmp_path: Path, scenario: str
) -> None:
    result = run(*SCENARIOS[scenario](capgo), "--ci", "gitlab")
    assert result.code in (0, 1, 2) and "Traceback" not in result.stderr, result.stderr
    for text in (result.stderr, result.stdout):
        for match in re.finditer(r"section_(start|end):", text, re.IGNORECASE):
            assert text[match.start() - 4 : match.start()] == "\x1b[0K"
            assert re.match(r"section_(start|end):\d+:capawesome_logs_\d+", text[match.start() :])
        escapes = re.sub(r"\x1b\[0K|\x1b\[[0-9;]*m", "", text)
        assert "\x1b" not in escapes and "\x9b" not in escapes
    assert_inert_markdown((tmp_path / "capawesome-summary.md").read_text(), capgo.api.base_url)


# -- the Capgo Build link: file names, our key ------------------------------------------------------
@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("..%2F..%2Fx.apk", "x.apk"),
        ("%2Fetc%2Fx.apk", "x.apk"),  # absolute
        ("C:%5CWindows%5Cx.apk", "x.apk"),
        ("a%1Bb%E2%80%AEkpa.apk", "a_b_kpa.apk"),  # an escape and a bidi override, percent-encoded
        ("app\u202ekpa.apk", "app_kpa.apk"),  # a bidi override as is
        ("", f"{JOB}.apk"),
        ("CON.apk", f"build-{JOB}.apk"),
    ],
    ids=ascii,
)
def test_a_hostile_link_file_name_lands_inside_the_output_dir_under_a_clean_name(
    capgo: Capgo, run: Any, tmp_path: Path, file_name: str, expected: str
) -> None:
    capgo.link = f"{capgo.storage.base_url}/download/outputs/{file_name}?sig=abc"
    (tmp_path / "escaped").mkdir()
    result = run("download", "--build-id", JOB, "--output-dir", "out", "--json")
    assert result.code == 0, result.stderr
    written = only_file(tmp_path / "out")
    assert written.parent == tmp_path / "out" and written.name == expected
    assert_clean(written.name)
    assert list((tmp_path / "escaped").iterdir()) == [] and not Path("/etc/x.apk").exists()
    assert result.json["artifacts"][0]["path"] == str(Path("out") / expected)
    assert written.read_bytes() == BINARY


def test_the_link_host_never_receives_our_key(capgo: Capgo, run: Any) -> None:
    result = run("download", "--build-id", JOB, "--output-dir", "out")
    assert result.code == 0, result.stderr
    assert capgo.storage.requests, "the binary came from the link's host"
    for request in capgo.storage.requests:
        assert TOKEN not in f"{request.path} {request.query} {request.headers}"
        assert "authorization" not in {name.lower() for name in request.headers}
    assert all(request.headers.get("Authorization") == TOKEN for request in capgo.api.requests)


def test_a_link_on_the_api_host_does_not_get_our_key_either(capgo: Capgo, run: Any) -> None:
    capgo.link = f"{capgo.api.base_url}/download/app.apk"
    capgo.route("GET", "/download/app.apk", Raw(200, BINARY))
    result = run("download", "--build-id", JOB, "--output-dir", "out")
    assert result.code == 0, result.stderr
    [fetched] = capgo.requested("GET", "/download/app.apk")
    assert "Authorization" not in fetched.headers


# -- deadlines ----------------------------------------------------------------------------------------
SLOW_ANSWERS = {
    "silent": Silent(),
    "trickle": Trickle(interval=0.5),
    "429-retry-after-100": Json({"error": "too_many_requests"}, 429, {"Retry-After": "100"}),
    "503-retry-after-100": Json({"error": "unavailable"}, 503, {"Retry-After": "100"}),
}


@pytest.mark.parametrize("answer", list(SLOW_ANSWERS))
def test_wait_timeout_is_a_deadline_and_cancels_the_build(capgo: Capgo, run: Any, answer: str) -> None:
    capgo.route("GET", "/build/status", SLOW_ANSWERS[answer])
    capgo.route("POST", f"/build/cancel/{JOB}", Json({"job_id": JOB, "status": "cancelled"}))
    result, took = timed(run, "wait", "--build-id", JOB, "--timeout", "2s", "--json", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert "--timeout of 2 s reached" in one_error_line(result.stderr)
    [cancel] = capgo.requested("POST", f"/build/cancel/{JOB}")
    assert cancel.json() == {"app_id": APP_ID}


CHANNEL_READ = ("/channel/", ("rollout", "--channel", "production", "--percentage", "50"))
BUNDLE_READ = ("/bundle/", ("deploy", "--bundle", "1.0.0", "--channel", "production"))


@pytest.mark.parametrize(
    ("read", "answer"),
    [(CHANNEL_READ, answer) for answer in SLOW_ANSWERS]
    + [(BUNDLE_READ, answer) for answer in ("429-retry-after-100", "503-retry-after-100")],
    ids=lambda value: value if isinstance(value, str) else value[0].strip("/"),
)
def test_a_slow_channel_or_bundle_read_ends_at_the_timeout_with_124(
    capgo: Capgo, run: Any, read: tuple[str, tuple[str, ...]], answer: str
) -> None:
    route, argv = read
    capgo.route("GET", route, SLOW_ANSWERS[answer])
    result, took = timed(run, *argv, "--timeout", "2s", "--json", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert not capgo.requested("POST", "/channel/")


def test_a_429_with_retry_after_100_on_the_channel_change_ends_at_the_timeout(capgo: Capgo, run: Any) -> None:
    capgo.route("POST", "/channel/", SLOW_ANSWERS["429-retry-after-100"])
    result, took = timed(run, "rollout", "--channel", "production", "--percentage", "50", "--timeout", "2s", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert len(capgo.requested("POST", "/channel/")) == 1


# -- the hosted upload ----------------------------------------------------------------------------------
ANON = "anon-key-5f2c9d"


@pytest.fixture
def supabase(capgo: Capgo) -> Iterator[HostileServer]:
    """Capgo's Supabase (PostgREST, its anon key as Bearer) and every route of the hosted upload."""
    with HostileServer() as supa:
        supa.token = ANON
        capgo.route(
            "GET",
            "/private/config",
            Json({"supaHost": supa.base_url, "supaKey": ANON, "useNewFinalizeBundleUpload": True}),
        )
        capgo.route("GET", f"/app/{APP_ID}", Json({"app_id": APP_ID, "owner_org": "org-1"}))
        supa.route("POST", "/rest/v1/rpc/request_actor_user_id", Json("user-1"))
        supa.route("POST", "/rest/v1/rpc/exist_app_versions", Json(False))
        supa.route("POST", "/rest/v1/app_versions", Json([], 201))
        supa.route("POST", "/rest/v1/rpc/get_app_versions", Json(42))
        upload = f"{capgo.storage.base_url}/download/upload/bundle.zip?X-Amz-Signature=s"
        capgo.route("POST", "/files/upload_link", Json({"url": upload}))
        capgo.storage.route("PUT", "/download/upload/*", Raw(200))
        capgo.route("POST", "/private/finalize_bundle_upload", Json({"status": "ok"}))
        capgo.route("DELETE", "/private/delete_failed_version", Json({"status": "ok"}))
        yield supa


def live_update(run: Any, tmp_path: Path, *args: str, **kwargs: Any) -> tuple[CliResult, float]:
    make_site(tmp_path / "dist")
    return timed(run, "live-update", "--path", "dist", "--bundle", "2.0.0", "--channel", "production", *args, **kwargs)


def test_the_hosted_upload_goes_through_on_the_hostile_server(
    capgo: Capgo, supabase: HostileServer, run: Any, tmp_path: Path
) -> None:
    result, _ = live_update(run, tmp_path, "--json")
    assert result.code == 0, result.stderr
    [put] = capgo.storage.requested("PUT", "/download/upload/*")
    assert "authorization" not in {name.lower() for name in put.headers} and TOKEN not in str(put.headers)
    assert capgo.requested("POST", "/channel/")[0].json()["version"] == "2.0.0"


def test_the_upload_put_to_a_trickling_storage_host_ends_at_the_timeout(
    capgo: Capgo, supabase: HostileServer, run: Any, tmp_path: Path
) -> None:
    capgo.storage.route("PUT", "/download/upload/*", SLOW_ANSWERS["trickle"])
    result, took = live_update(run, tmp_path, "--timeout", "2s", "--json", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert capgo.storage.requested("PUT", "/download/upload/*")
    assert not capgo.requested("POST", "/channel/")


@pytest.mark.parametrize(
    ("where", "method", "route"),
    [
        ("api", "GET", "/private/config"),
        ("supabase", "POST", "/rest/v1/rpc/exist_app_versions"),
        ("supabase", "POST", "/rest/v1/app_versions"),
        ("api", "POST", "/files/upload_link"),
    ],
)
def test_a_silent_internal_route_of_the_upload_ends_at_the_timeout(
    capgo: Capgo, supabase: HostileServer, run: Any, tmp_path: Path, where: str, method: str, route: str
) -> None:
    (capgo.api if where == "api" else supabase).route(method, route, Silent())
    result, took = live_update(run, tmp_path, "--timeout", "2s", "--json", timeout=30)
    assert result.code == 124, result.stderr
    assert took < 2 + SLACK, took
    assert not capgo.requested("POST", "/channel/")


# -- unusable answers ---------------------------------------------------------------------------------
ROLLOUT = ("rollout", "--channel", "production", "--percentage", "50")
DEPLOY = ("deploy", "--bundle", "9.9.9", "--channel", "production")
DOWNLOAD = ("download", "--build-id", JOB, "--output-dir", "out")
FULL_PAGE = [{**BUNDLE_ROW, "id": n, "name": f"1.0.{n}"} for n in range(50)]


@pytest.mark.parametrize(
    ("argv", "route", "answer"),
    [
        (ROLLOUT, "/channel/", Raw(200, b"<html>not json</html>")),
        (ROLLOUT, "/channel/", Json("production")),  # a bare string where an object is expected
        (ROLLOUT, "/channel/", Json([{"id": 5, "name": "production"}])),
        (ROLLOUT, "/channel/", Json({"id": 5, "name": "production", "rolloutPercentageBps": "50%"})),
        (ROLLOUT, "/channel/", Json({"id": "5; drop", "name": "production"})),
        (ROLLOUT, "/channel/", Json({"id": 5, "name": "staging"})),  # another channel than asked for
        (DEPLOY, "/bundle/", Json({"data": []})),
        (DEPLOY, "/bundle/", Json("1.0.0")),
        (DEPLOY, "/bundle/", Json([{"id": 1, "name": 100}])),
        (DEPLOY, "/bundle/", Json(FULL_PAGE)),  # the same full page forever
        (DOWNLOAD, "/build/status", Raw(200, b"\xff\xfe")),
        (DOWNLOAD, "/build/status", Json({"job_id": JOB, "status": 5})),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else value if isinstance(value, str) else "",
)
def test_an_unusable_read_is_75_and_changes_nothing(
    capgo: Capgo, run: Any, argv: tuple[str, ...], route: str, answer: Answer
) -> None:
    capgo.route("GET", route, answer)
    result = run(*argv, "--json")
    assert result.code == 75, result.stderr
    line = error_line(result)
    assert f"GET {route}" in line and "taken effect" not in line
    assert not capgo.requested("POST", "*/")


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "file:///etc/passwd", "ftp://127.0.0.1/x.apk", "http://a/\x1b"]
)
def test_a_link_that_is_not_http_is_75_and_nothing_is_fetched(
    capgo: Capgo, run: Any, tmp_path: Path, link: str
) -> None:
    capgo.link = link
    result = run(*DOWNLOAD, "--json")
    assert result.code == 75, result.stderr
    assert "not an http(s) URL" in error_line(result)
    assert capgo.storage.requests == [] and not any((tmp_path / "out").glob("*"))


def test_an_unusable_answer_to_the_channel_change_says_it_may_have_taken_effect(capgo: Capgo, run: Any) -> None:
    capgo.route("POST", "/channel/", Raw(200, b"<html>Bad gateway</html>"))
    result = run(*ROLLOUT, "--json")
    assert result.code == 75, result.stderr
    assert "POST /channel/" in (line := error_line(result)) and "may have taken effect" in line
    assert len(capgo.requested("POST", "/channel/")) == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:x", "//storage.example/x", "http://a\x1bb/x"])
def test_an_upload_link_that_is_not_http_is_75_and_the_half_created_bundle_is_deleted(
    capgo: Capgo, supabase: HostileServer, run: Any, tmp_path: Path, url: str
) -> None:
    capgo.route("POST", "/files/upload_link", Json({"url": url}))
    result, _ = live_update(run, tmp_path, "--json")
    assert result.code == 75, result.stderr
    line = error_line(result)
    assert "POST /files/upload_link" in line and "may have taken effect" in line
    assert "was deleted" in line and len(capgo.requested("DELETE", "/private/delete_failed_version")) == 1
    assert capgo.storage.requests == [] and not capgo.requested("POST", "/channel/")


def test_a_tus_location_on_another_host_than_announced_is_75_and_gets_nothing(
    capgo: Capgo, run: Any, tmp_path: Path
) -> None:
    (tmp_path / "app" / "android").mkdir(parents=True)
    (tmp_path / "app" / "android" / "build.gradle").write_text("apply plugin: 'com.android.application'\n")
    (tmp_path / "app" / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    upload = f"{capgo.api.base_url}/files/upload/{JOB}"
    capgo.route("POST", "/build/request", Json({"job_id": JOB, "upload_url": upload, "status": "pending"}))
    elsewhere = {"Location": f"{capgo.storage.base_url}/download/upload/x", "Tus-Resumable": "1.0.0"}
    capgo.route("POST", f"/files/upload/{JOB}", Raw(201, b"", elsewhere))
    result = run("build", "--platform", "android", "--path", "app", "--timeout", "20s", "--json")
    assert result.code == 75, result.stderr
    assert "an upload Location on another origin" in error_line(result)
    assert capgo.storage.requests == [] and not capgo.requested("POST", "/build/start/*")


# -- never a duplicated change --------------------------------------------------------------------------
def test_a_503_on_the_channel_change_is_not_retried(capgo: Capgo, run: Any) -> None:
    capgo.route("POST", "/channel/", Json({"error": "unavailable"}, 503))
    result = run(*ROLLOUT, "--json")
    assert result.code == 75, result.stderr
    assert "not retried" in error_line(result)
    assert len(capgo.requested("POST", "/channel/")) == 1


def test_a_503_on_registering_a_bundle_is_not_retried(capgo: Capgo, run: Any) -> None:
    capgo.route("POST", "/bundle/", Json({"error": "unavailable"}, 503))
    url = "https://cdn.example/bundle-2.0.0.zip"
    result = run("live-update", "--url", url, "--checksum", "ab" * 32, "--bundle", "2.0.0", "--json")
    assert result.code == 75, result.stderr
    assert "not retried" in error_line(result)
    assert len(capgo.requested("POST", "/bundle/")) == 1


def test_a_429_with_retry_after_on_the_channel_change_is_retried(capgo: Capgo, run: Any) -> None:
    answers = iter([Json({"error": "too_many_requests"}, 429, {"Retry-After": "1"}), Json({"status": "ok"})])
    capgo.route("POST", "/channel/", Call(lambda _: next(answers)))
    result, took = timed(run, *ROLLOUT, "--json")
    assert result.code == 0, result.stderr
    assert len(capgo.requested("POST", "/channel/")) == 2 and took >= 1


# -- the live log socket --------------------------------------------------------------------------
def capgo_free_env() -> dict[str, str]:
    """This process's environment without what would point the CLI elsewhere or at a CI service."""
    skip = ("CAPAWESOME_", "CAPGO_", "GITHUB_", "GITLAB_", "BITBUCKET_", "CI")
    return {key: value for key, value in os.environ.items() if not key.startswith(skip)} | {"PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_live_build_log_lines_add_no_command_section_or_escape(tmp_path: Path, ci: str) -> None:
    """What a build's own tools print reaches us through Capgo's log socket (the emulator's: the
    hostile server speaks no WebSocket) and is printed as inert text."""
    from capawesome_ci.sandbox.capgo.builds import BuildConfig
    from capawesome_ci.sandbox.capgo.start import CapgoEmulator

    project = tmp_path / "app"
    (project / "android").mkdir(parents=True)
    (project / "package.json").write_text("{}")
    lines = (*HOSTILE.splitlines(), "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07", "\x9b31mcsi")
    config = BuildConfig(run_seconds=0.5, queue_seconds=0.1, log_lines=2, extra_log=lines)
    with CapgoEmulator(build_config=config) as emulator:
        env = {
            "CAPGO_TOKEN": emulator.token,
            "CAPGO_BASE_URL": emulator.base_url,
            "CAPGO_APP_ID": emulator.config.app_id,
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        }
        result = run_cli(
            ["--provider", "capgo", "--ci", ci, "build", "--platform", "android", "--path", str(project)],
            env={**capgo_free_env(), **env},
            cwd=tmp_path,
            timeout=60,
        )
    assert result.code == 0, result.stderr
    assert "INJECTED" in result.stderr  # the lines were printed, as text
    if ci == "github":
        assert github_foreign_lines(result.stderr) == [] and github_foreign_lines(result.stdout) == []
    else:
        for match in re.finditer(r"section_(start|end):", result.stderr, re.IGNORECASE):
            assert re.match(r"section_(start|end):\d+:capawesome_logs_\d+", result.stderr[match.start() :])
    escapes = re.sub(r"\x1b\[0K|\x1b\[[0-9;]*m", "", result.stderr)
    assert "\x1b" not in escapes and "\x9b" not in escapes and "\x07" not in escapes


@pytest.mark.parametrize("stage", ["creation", "bytes"])
def test_a_silent_tus_server_ends_the_build_at_its_timeout(capgo: Capgo, run: Any, tmp_path: Path, stage: str) -> None:
    """tuspy sets no timeouts: the deadline still bounds the upload, whichever request goes unanswered."""
    (tmp_path / "app" / "android").mkdir(parents=True)
    (tmp_path / "app" / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    upload = f"{capgo.api.base_url}/files/upload/{JOB}"
    capgo.route("POST", "/build/request", Json({"job_id": JOB, "upload_url": upload, "status": "pending"}))
    if stage == "creation":
        capgo.route("POST", f"/files/upload/{JOB}", Silent())
    else:
        created = {"Location": f"{upload}/u1", "Tus-Resumable": "1.0.0"}
        capgo.route("POST", f"/files/upload/{JOB}", Raw(201, b"", created))
        capgo.route("PATCH", f"/files/upload/{JOB}/u1", Silent())
    result, took = timed(run, "build", "--platform", "android", "--path", "app", "--timeout", "3s", "--json")
    assert result.code == 124, result.stderr
    assert took < 3 + SLACK + 5  # the cancel of the unstarted build request has a grace of its own
    assert not capgo.requested("POST", "/build/start/*")
