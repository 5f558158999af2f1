"""The time a step must end by, seen by every request it sends.

A `--timeout` is a deadline, not a polling budget: it bounds connects, reads, retries, Retry-After
sleeps and downloads alike. The step opens a `deadline_scope`; the HTTP transport (cloud/retry.py)
and the body reader cap every wait by what is left and raise `DeadlineExceeded` once it has passed,
so no server, silent or trickling, can hold a step past its deadline. A context variable carries it,
so the SDK's calls, which know nothing of deadlines, are bounded like ours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from capawesome_ci.errors import LocalTimeoutError

# A cancel sent once the step stopped (its deadline passed, a signal came) gets this long of its own.
CANCEL_GRACE_SECONDS = 5.0


class DeadlineExceeded(LocalTimeoutError):
    """A request or a sleep reached the current deadline (exit 124 unless the step says more)."""


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() seconds; math.inf for none
    what: str  # for messages: "--timeout of 90 s", "the cancel grace of 5 s"

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def cap(self, seconds: float | None) -> float:
        """`seconds` (None: no limit of its own), never beyond the deadline, never negative."""
        left = max(0.0, self.remaining())
        return left if seconds is None else min(seconds, left)

    def check(self, doing: str) -> None:
        if self.expired:
            raise DeadlineExceeded(f"{self.what} reached while {doing}")

    def check_sleep(self, seconds: float, before: str) -> None:
        """Raise now rather than sleep `seconds` past the deadline."""
        if seconds >= self.remaining():
            raise DeadlineExceeded(f"{self.what} would pass before {before} (in {seconds:.1f} s)")


NO_DEADLINE = Deadline(math.inf, "no deadline")
_current: ContextVar[Deadline] = ContextVar("capawesome_ci_deadline", default=NO_DEADLINE)


def timeout_label(seconds: float) -> str:
    return f"--timeout of {seconds:g} s"


def current_deadline() -> Deadline:
    return _current.get()


@contextmanager
def deadline_scope(seconds: float | None, what: str, *, replace: bool = False) -> Iterator[Deadline]:
    """Everything inside ends within `seconds` (None: no new bound). Nested scopes only shorten the
    deadline, unless `replace`: a cancel sent after the step's deadline needs a grace of its own."""
    outer = _current.get()
    at = math.inf if seconds is None else time.monotonic() + seconds
    deadline = Deadline(at, what) if replace or at < outer.at else outer
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
