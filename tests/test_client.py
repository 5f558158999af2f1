"""Unit tests of the Capawesome client (respx): token sources, error mapping, logs, downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from capawesome_ci.ci.local import LocalReporter
from capawesome_ci.cloud import retry
from capawesome_ci.cloud.capawesome import (
    CapawesomePlatform,
    console_url_for,
    from_api_fraction,
    to_api_fraction,
    unescape_log_payload,
)
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.errors import AuthError, ExitCode, InputError, LocalIOError, NotFoundError, TransientError
from capawesome_ci.platform import Artifact
from capawesome_ci.providers import get_provider
from capawesome_ci.result import StepResult
from capawesome_ci.runner import resolve_token
from capawesome_ci.settings import RunSettings
from capawesome_ci.steps.context import StepContext
from capawesome_ci.steps.download import stream_to_file

BASE = "https://api.test"
APP = "/v1/apps/app"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry.time, "sleep", lambda _: None)


@pytest.fixture
def platform() -> Iterator[CapawesomePlatform]:
    with make_http_client(BASE, "cap_secret_token") as http:
        yield CapawesomePlatform(http, "app")


CAPAWESOME = get_provider("capawesome")


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ({"token": " cap_flag \n"}, {"CAPAWESOME_CLOUD_TOKEN": "cap_env"}, "cap_flag"),
        ({}, {"CAPAWESOME_CLOUD_TOKEN": "cap_cloud\n", "CAPAWESOME_TOKEN": "cap_other"}, "cap_cloud"),
        ({}, {"CAPAWESOME_TOKEN": "  cap_other  "}, "cap_other"),
        ({}, {"CAPAWESOME_CLOUD_TOKEN": "   ", "CAPAWESOME_TOKEN": "cap_other"}, "cap_other"),
        ({}, {}, None),
    ],
)
def test_token_sources_in_order(given: dict[str, str], env: dict[str, str], expected: str | None) -> None:
    assert resolve_token(RunSettings(**given), CAPAWESOME, env) == expected


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("cap_from_file\n")
    assert resolve_token(RunSettings(token_file=str(path)), CAPAWESOME, {"CAPAWESOME_CLOUD_TOKEN": "cap_env"}) == (
        "cap_from_file"
    )
    with pytest.raises(InputError, match="--token-file"):
        resolve_token(RunSettings(token_file=str(tmp_path / "missing")), CAPAWESOME, {})


@pytest.mark.parametrize(
    ("code", "body", "error", "exit_code", "text"),
    [
        (401, {"message": "Unauthorized."}, AuthError, ExitCode.AUTH, "Unauthorized."),
        (403, {"error": "Forbidden"}, AuthError, ExitCode.AUTH, "Forbidden"),
        (404, {"message": "App not found."}, NotFoundError, ExitCode.NOT_FOUND, "App not found."),
        (
            400,
            {"error": {"issues": [{"path": ["platform"], "message": "Required"}]}},
            None,
            ExitCode.USAGE,
            "platform: Required",
        ),
        (422, {"error": [{"path": ["a", "b"], "message": "Bad"}]}, None, ExitCode.USAGE, "a.b: Bad"),
        (409, "<html><body>gateway</body></html>", None, ExitCode.USAGE, "HTTP 409"),
    ],
)
def test_error_mapping(
    platform: CapawesomePlatform, code: int, body: object, error: type[Exception] | None, exit_code: int, text: str
) -> None:
    response = httpx.Response(code, json=body) if not isinstance(body, str) else httpx.Response(code, text=body)
    with respx.mock(base_url=BASE) as mock:
        mock.get(APP).mock(return_value=response)
        with pytest.raises(error or Exception) as caught:
            platform.get_app()
    assert caught.value.exit_code == exit_code  # type: ignore[attr-defined]
    message = caught.value.message  # type: ignore[attr-defined]
    assert text in message
    assert "\n" not in message
    assert "cap_secret_token" not in message


def test_log_lines_are_read_from_an_offset_and_unescaped(platform: CapawesomePlatform) -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/jobs/j1/logs").mock(
            return_value=httpx.Response(
                200, json=[{"jobId": "j1", "number": 4, "payload": "\\x1b[32mok\\x1b[0m\\tdone", "timestamp": "t"}]
            )
        )
        lines = platform.read_log_lines("j1", offset=3)
    assert route.calls.last.request.url.params["offset"] == "3"
    assert lines[0].number == 4
    assert lines[0].text == "\x1b[32mok\x1b[0m\tdone"


def test_unescape_variants() -> None:
    assert unescape_log_payload("a\\033[1mb\\u001b[0m\\nc") == "a\x1b[1mb\x1b[0m\nc"


def test_rollout_unit_conversion_round_trips() -> None:
    assert to_api_fraction(25) == 0.25
    assert to_api_fraction(12.5) == 0.125
    assert from_api_fraction(0.333333) == pytest.approx(33.3333)
    assert to_api_fraction(None) is None


def test_console_url() -> None:
    assert console_url_for("https://api.cloud.capawesome.io") == "https://console.cloud.capawesome.io"
    assert console_url_for("https://api.cloud.capawesome.eu/") == "https://console.cloud.capawesome.eu"
    assert console_url_for("http://127.0.0.1:8080") == "http://127.0.0.1:8080/console"


class BrokenStream(httpx.SyncByteStream):
    """Sends `good` bytes, then the connection drops."""

    def __init__(self, good: bytes) -> None:
        self.good = good

    def __iter__(self) -> Iterator[bytes]:
        yield self.good
        raise httpx.ReadError("connection reset by peer")


def _ctx(platform: CapawesomePlatform) -> StepContext:
    return StepContext(
        platform=platform, reporter=LocalReporter(), result=StepResult(command="download"), sleep=lambda _: None
    )


def test_download_resumes_with_range_after_a_reset(platform: CapawesomePlatform, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    artifact = Artifact(id="a1", build_id="b1", type="apk", status="ready", size=len(data))
    path = f"{APP}/builds/b1/artifacts/a1/download"
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(path).mock(
            side_effect=[
                httpx.Response(200, headers={"Content-Length": str(len(data))}, stream=BrokenStream(data[:300_000])),
                httpx.Response(
                    206,
                    headers={"Content-Range": f"bytes 300000-{len(data) - 1}/{len(data)}"},
                    content=data[300_000:],
                ),
            ]
        )
        size, digest = stream_to_file(_ctx(platform), artifact, tmp_path / "app.apk")
    assert route.calls[1].request.headers["Range"] == "bytes=300000-"
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "app.apk").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["app.apk"]


def test_download_restarts_when_range_is_ignored(platform: CapawesomePlatform, tmp_path: Path) -> None:
    data = b"x" * 100_000
    artifact = Artifact(id="a1", build_id="b1", type="apk", status="ready", size=len(data))
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"{APP}/builds/b1/artifacts/a1/download").mock(
            side_effect=[
                httpx.Response(200, stream=BrokenStream(data[:10])),
                httpx.Response(200, content=data),
            ]
        )
        size, digest = stream_to_file(_ctx(platform), artifact, tmp_path / "app.apk")
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())


def test_failed_download_leaves_nothing_behind(platform: CapawesomePlatform, tmp_path: Path) -> None:
    artifact = Artifact(id="a1", build_id="b1", type="apk", status="ready", size=1000)
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"{APP}/builds/b1/artifacts/a1/download").mock(
            side_effect=lambda request: httpx.Response(200, stream=BrokenStream(b"x" * 10))
        )
        with pytest.raises(TransientError, match="4 attempts in a row without progress"):
            stream_to_file(_ctx(platform), artifact, tmp_path / "app.apk")
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_an_error_not_a_file(platform: CapawesomePlatform, tmp_path: Path) -> None:
    artifact = Artifact(id="a1", build_id="b1", type="apk", status="ready", size=50)
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"{APP}/builds/b1/artifacts/a1/download").mock(return_value=httpx.Response(200, content=b"short"))
        with pytest.raises(LocalIOError):
            stream_to_file(_ctx(platform), artifact, tmp_path / "app.apk")
    assert list(tmp_path.iterdir()) == []
