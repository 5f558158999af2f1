"""Capwrapper against a hostile API (tests/hostile.py): a downloadUrl on another host never gets the
token, odd names stay inside the output folder, unusable answers are 75 (never 70)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_cli
from tests.hostile import TOKEN, HostileServer, Json, Raw

BUILD = {"id": "bld_h", "status": "success", "platform": "android", "bundleId": "com.example.app", "version": "1.0.0"}
BINARY = b"PK\x03\x04" + bytes(2000)


@pytest.fixture
def api() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def storage() -> Iterator[HostileServer]:
    """Another host: the route carries `/download` so the hostile server serves it without a token."""
    with HostileServer() as server:
        yield server


def cw(api: HostileServer, tmp_path: Path, *args: str) -> CliResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPAWESOME_", "CAPWRAPPER_", "GITHUB_", "CI"))}
    env.update(CAPWRAPPER_API_KEY=TOKEN, CAPWRAPPER_BASE_URL=api.base_url + "/v1", PYTHONUNBUFFERED="1")
    return run_cli(["--json", "--provider", "capwrapper", *args], env=env, cwd=tmp_path)


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="../../etc/passwd.apk"', "passwd.apk"),
        ("attachment; filename*=UTF-8''app%E2%80%AEgpj.apk", "app_gpj.apk"),  # a bidi override
        ('attachment; filename="CON.apk"', "build-bld_h.apk"),  # the download step's own fallback
        (None, "com.example.app-1.0.0.apk"),
    ],
)
def test_a_download_url_on_another_host_never_gets_the_token_and_odd_names_stay_inside(
    api: HostileServer, storage: HostileServer, tmp_path: Path, disposition: str | None, expected: str
) -> None:
    url = f"{storage.base_url}/download/bin?sig=1"
    api.route("GET", "/v1/builds/*", Json({**BUILD, "downloadUrl": url}))
    headers = {"Content-Disposition": disposition} if disposition else {}
    storage.route("GET", "/download/bin", Raw(200, BINARY, headers))
    result = cw(api, tmp_path, "download", "--build-id", "bld_h", "--output-dir", "out")
    assert result.code == 0, result.stderr
    assert [path.name for path in (tmp_path / "out").iterdir()] == [expected]
    assert storage.requests, "the binary came from the other host"
    for request in storage.requests:
        assert TOKEN not in str(request.headers)
        assert "authorization" not in {name.lower() for name in request.headers}
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in api.requests)


def test_a_download_url_on_the_api_host_does_not_get_the_token_either(api: HostileServer, tmp_path: Path) -> None:
    api.route("GET", "/v1/builds/*", Json({**BUILD, "downloadUrl": f"{api.base_url}/download/x"}))
    api.route("GET", "/download/x", Raw(200, BINARY))
    result = cw(api, tmp_path, "download", "--build-id", "bld_h")
    assert result.code == 0, result.stderr
    assert all("Authorization" not in r.headers for r in api.requested("GET", "/download/x"))


@pytest.mark.parametrize(
    ("argv", "route", "answer"),
    [
        (["wait", "--build-id", "bld_h", "--timeout", "20s"], ("GET", "/v1/builds/*"), Raw(200, b"{not json")),
        (["wait", "--build-id", "bld_h", "--timeout", "20s"], ("GET", "/v1/builds/*"), Json({**BUILD, "status": 5})),
        (["download", "--build-id", "bld_h"], ("GET", "/v1/builds/*"), Json({**BUILD, "downloadUrl": "javascript:x"})),
        (["download", "--bundle-id", "com.example.app"], ("GET", "/v1/builds"), Json({"data": "nope"})),
        (
            ["build", "--url", "https://a.example", "--app-name", "A", "--bundle-id", "a.b", "--version", "1.0.0"],
            ("POST", "/v1/builds"),
            Json([BUILD], 201),
        ),
    ],
)
def test_unusable_answers_are_75_never_70(
    api: HostileServer, tmp_path: Path, argv: list[str], route: tuple[str, str], answer: Raw
) -> None:
    api.route(*route, answer)
    result = cw(api, tmp_path, *argv)
    assert result.code == 75, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_build_stuck_in_building_hits_the_timeout_with_124(api: HostileServer, tmp_path: Path) -> None:
    api.route("GET", "/v1/builds/*", Json({**BUILD, "status": "building"}))
    result = cw(api, tmp_path, "wait", "--build-id", "bld_h", "--timeout", "2s")
    assert result.code == 124, result.stderr
    assert "keeps running" in result.json["error"]
    assert not api.requested("PATCH", "*") and not api.requested("DELETE", "*")  # no cancel exists
