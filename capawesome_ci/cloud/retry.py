"""The one retry policy of every request we send, as an httpx transport.

Rules (tested as a table in tests/test_retry_policy.py):
- 429 is retried for every method: the server refused the request before acting on it.
- 5xx, timeouts and dropped connections are retried only for idempotent methods
  (GET, HEAD, OPTIONS, PUT, DELETE). A POST or PATCH is never retried on them, because the
  server may already have created the build, deployment or channel (the official CLI sends a
  failing POST four times).
- A connection that could not be *established* is retried for every method: nothing was sent.
- `Retry-After` (seconds or HTTP date) is honoured; otherwise exponential backoff with jitter.
- The step's deadline (capawesome_ci/deadline.py) bounds it all: every connect, read and write
  waits at most what is left, a retry that would sleep past it is not made, and a body that
  trickles in is cut off when it passes (`DeadlineExceeded`, exit 124).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from capawesome_ci.cloud.methods import IDEMPOTENT_METHODS
from capawesome_ci.deadline import Deadline, DeadlineExceeded, current_deadline
from capawesome_ci.errors import Interrupted

RETRY_STATUSES_IDEMPOTENT = frozenset({500, 502, 503, 504})
RETRY_STATUSES_ANY_METHOD = frozenset({429})
# A request extension: the caller resumes after a read that timed out (a download's stall rule), so
# the transport retrying it too would multiply the wait.
RESUMED_BY_CALLER = "capawesome_ci.resumed_by_caller"
# Failures that happen before a single byte of the request left this machine.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    # A Retry-After longer than this is not waited for: the error is reported instead (exit 75).
    max_retry_after: float = 120.0

    def should_retry_status(self, method: str, status: int) -> bool:
        if status in RETRY_STATUSES_ANY_METHOD:
            return True
        return method.upper() in IDEMPOTENT_METHODS and status in RETRY_STATUSES_IDEMPOTENT

    def should_retry_error(self, method: str, error: Exception) -> bool:
        if isinstance(error, NOT_SENT_ERRORS):
            return True
        return method.upper() in IDEMPOTENT_METHODS and isinstance(error, httpx.TransportError)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.backoff_cap, self.backoff_base * float(1 << attempt)) * (1 + random.uniform(0, 0.2))
        return backoff if retry_after is None else max(backoff, retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110: delay-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, float((when - datetime.now(timezone.utc)).total_seconds()))


class RetryingTransport(httpx.BaseTransport):
    """Wraps the real transport; everything above it (SDK and our own calls) inherits the policy."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        on_retry: Callable[[httpx.Request, str, float], None] | None = None,
    ) -> None:
        self._inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._on_retry = on_retry

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = current_deadline()
        attempt = 0
        while True:
            _bound_timeouts(request, deadline)
            try:
                response = self._inner.handle_request(request)
            except Interrupted as interrupt:
                if request.method not in IDEMPOTENT_METHODS:
                    interrupt.in_flight = f"{request.method} {request.url.path}"
                raise
            except httpx.TransportError as error:
                if isinstance(error, httpx.TimeoutException) and deadline.expired:
                    raise _exceeded(deadline, request) from None
                resumed = isinstance(error, httpx.ReadTimeout) and request.extensions.get(RESUMED_BY_CALLER)
                if (
                    resumed
                    or attempt >= self.policy.retries
                    or not self.policy.should_retry_error(request.method, error)
                ):
                    raise
                self._wait(request, type(error).__name__, self.policy.delay(attempt), deadline)
                attempt += 1
                continue
            if attempt < self.policy.retries and self.policy.should_retry_status(request.method, response.status_code):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is None or retry_after <= self.policy.max_retry_after:
                    response.close()
                    delay = self.policy.delay(attempt, retry_after)
                    self._wait(request, f"HTTP {response.status_code}", delay, deadline)
                    attempt += 1
                    continue
            if deadline.at != float("inf") and isinstance(response.stream, httpx.SyncByteStream):
                response.stream = _DeadlineStream(response.stream, deadline, request)
            return response

    def _wait(self, request: httpx.Request, reason: str, delay: float, deadline: Deadline) -> None:
        deadline.check_sleep(delay, f"{request.method} {request.url.path} could be retried ({reason})")
        if self._on_retry is not None:
            self._on_retry(request, reason, delay)
        (self._sleep or time.sleep)(delay)

    def close(self) -> None:
        self._inner.close()


def _exceeded(deadline: Deadline, request: httpx.Request) -> DeadlineExceeded:
    return DeadlineExceeded(f"{deadline.what} reached during {request.method} {request.url.path}")


def _bound_timeouts(request: httpx.Request, deadline: Deadline) -> None:
    """Cap this attempt's connect/read/write/pool timeouts by what is left of the deadline."""
    if deadline.at == float("inf"):
        return
    if deadline.expired:
        raise _exceeded(deadline, request)
    timeouts = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        name: max(0.001, deadline.cap(timeouts.get(name))) for name in ("connect", "read", "write", "pool")
    }


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that stops at the deadline, however slowly the server sends it."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: Deadline, request: httpx.Request) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                if self._deadline.expired:
                    raise _exceeded(self._deadline, self._request)
                yield chunk
        except httpx.TimeoutException:
            if self._deadline.expired:
                raise _exceeded(self._deadline, self._request) from None
            raise

    def close(self) -> None:
        self._inner.close()
