"""The retry policy, as a table: which failures are retried for which methods, and how often.

Every row goes through the real client stack (RetryingTransport under httpx), mocked with respx.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from capawesome_ci.cloud import retry
from capawesome_ci.cloud.capawesome import CapawesomePlatform
from capawesome_ci.cloud.transport import make_http_client
from capawesome_ci.errors import AmbiguousMutationError, ApiError, ExitCode, NotFoundError, TransientError
from capawesome_ci.platform import BuildRequest

BASE = "https://api.test"
RETRIES = retry.RetryPolicy().retries


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    return slept


def ok() -> httpx.Response:
    return httpx.Response(200, json={"id": "x"})


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"message": f"status {code}"}, headers=headers)


# method, sequence of outcomes (a Response or an exception), calls expected, error expected (or None)
TABLE = [
    ("GET", [status(500), ok()], 2, None),
    ("GET", [status(502), status(503), status(504), ok()], 4, None),
    ("PUT", [status(502), ok()], 2, None),
    ("DELETE", [status(504), ok()], 2, None),
    ("HEAD", [status(503), ok()], 2, None),
    ("GET", [status(503)] * (RETRIES + 1), RETRIES + 1, TransientError),
    ("POST", [status(500), ok()], 1, AmbiguousMutationError),
    ("POST", [status(503), ok()], 1, AmbiguousMutationError),
    ("PATCH", [status(502), ok()], 1, AmbiguousMutationError),
    ("POST", [status(429, **{"Retry-After": "2"}), ok()], 2, None),
    ("PATCH", [status(429), ok()], 2, None),
    ("GET", [status(429), status(429), ok()], 3, None),
    ("GET", [httpx.ReadTimeout("slow"), ok()], 2, None),
    ("PUT", [httpx.RemoteProtocolError("reset"), ok()], 2, None),
    ("POST", [httpx.ReadTimeout("slow"), ok()], 1, AmbiguousMutationError),
    ("PATCH", [httpx.RemoteProtocolError("reset"), ok()], 1, AmbiguousMutationError),
    ("POST", [httpx.ConnectError("refused"), ok()], 2, None),  # nothing was sent: safe
    ("GET", [status(404)], 1, NotFoundError),
    ("POST", [status(400)], 1, ApiError),
    ("GET", [status(429, **{"Retry-After": "3600"}), ok()], 1, TransientError),  # too long to wait
]


@pytest.mark.parametrize(("method", "outcomes", "calls", "error"), TABLE)
def test_retry_table(method: str, outcomes: list[object], calls: int, error: type[Exception] | None) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.route(method=method, path="/v1/thing").mock(side_effect=outcomes)
        with make_http_client(BASE, "cap_token") as http:
            platform = CapawesomePlatform(http, "app")
            if error is None:
                platform.api.request(method, "/v1/thing")
            else:
                with pytest.raises(error):
                    platform.api.request(method, "/v1/thing")
    assert route.call_count == calls


def test_retry_after_seconds_and_http_date_are_honoured(no_sleep: list[float]) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v1/a").mock(side_effect=[status(429, **{"Retry-After": "7"}), ok()])
        mock.get("/v1/b").mock(side_effect=[status(503, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), ok()])
        with make_http_client(BASE, "t") as http:
            http.get("/v1/a")
            http.get("/v1/b")
    assert no_sleep[0] >= 7
    assert no_sleep[1] < 1  # a date in the past: no extra wait beyond the backoff


def test_parse_retry_after() -> None:
    assert retry.parse_retry_after("12") == 12
    assert retry.parse_retry_after(" 1.5 ") == 1.5
    assert retry.parse_retry_after("nonsense") is None
    assert retry.parse_retry_after(None) is None
    future = retry.parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert future is not None and future > 1e9


def test_sdk_calls_share_the_policy_and_never_repeat_a_post() -> None:
    """The official SDK is given our client with max_retries=0: one policy, no double retries."""
    with respx.mock(base_url=BASE) as mock:
        create = mock.post("/v1/apps/app/builds").mock(return_value=status(502))
        get = mock.get("/v1/apps/app/builds/b1").mock(side_effect=[status(503), status(503), ok()])
        with make_http_client(BASE, "t") as http:
            platform = CapawesomePlatform(http, "app")
            with pytest.raises(AmbiguousMutationError) as caught:
                platform.create_build(BuildRequest(platform="android"))
            assert platform.get_build("b1").id == "x"
    assert create.call_count == 1
    assert get.call_count == 3
    assert caught.value.exit_code == ExitCode.TRANSIENT
    assert "not retried" in caught.value.message


def test_every_request_carries_our_user_agent_and_the_token() -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v1/apps/app").mock(return_value=httpx.Response(200, json={"id": "app"}))
        with make_http_client(BASE, "cap_secret") as http:
            CapawesomePlatform(http, "app").get_app()
    request = route.calls.last.request
    assert request.headers["User-Agent"].startswith("capawesome-ci/")
    assert request.headers["Authorization"] == "Bearer cap_secret"
