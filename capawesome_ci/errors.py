"""Exit codes and the errors that carry them.

The exit codes are a published, stable contract (README "Exit codes"): CI users branch on them
(`allow_failure: {exit_codes: [5]}`, `retry: {exit_codes: [75]}`). Every error the tool raises on
purpose is a `CiError` with a one-line message; the CLI turns it into that line and the code.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

from capawesome_ci.naming import FLAGS, Naming


class ExitCode(enum.IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    JOB_CANCELED = 5
    JOB_REJECTED = 6
    JOB_TIMED_OUT = 7
    IO = 8
    TRANSIENT = 75
    LOCAL_TIMEOUT = 124
    SIGINT = 130
    SIGTERM = 143


# The terminal job statuses that end a step unsuccessfully, and the code each maps to.
JOB_STATUS_EXIT_CODES: dict[str, ExitCode] = {
    "succeeded": ExitCode.OK,
    "failed": ExitCode.JOB_FAILED,
    "canceled": ExitCode.JOB_CANCELED,
    "rejected": ExitCode.JOB_REJECTED,
    "timed_out": ExitCode.JOB_TIMED_OUT,
}


_LINE_BREAKING = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """Escape control characters and line separators, whatever the input a message quotes contains."""
    return _LINE_BREAKING.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


# A message that names other inputs: given how the front end names them, the text.
Mentions = Callable[[Callable[[str], str]], str]


class CiError(Exception):
    """An expected failure: one line for the user and the exit code to leave with.

    An input error carries its `field` (a model field name such as `rollout`) and the front end
    names it its own way (`--rollout`, `input rollout`, `variable ROLLOUT`); a message that mentions
    other inputs is a function of how they are named (`lambda name: f"... {name('channel')} ..."`).
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self,
        message: str | Mentions,
        exit_code: ExitCode | None = None,
        *,
        field: str | None = None,
        problem: str = "invalid",
    ) -> None:
        self._text = message
        self.field = field
        self.problem = problem  # "invalid" or "missing"
        self._notes: list[str] = []
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.message)

    def render(self, naming: Naming = FLAGS) -> str:
        text = self._text(naming.name) if callable(self._text) else self._text
        if self.field is not None:
            text = f"{self.problem} {naming.label(self.field)}" + (f": {text}" if text else "")
        return one_line(text + "".join(self._notes))

    @property
    def message(self) -> str:
        return self.render()

    def append(self, note: str) -> None:
        """Add to the message what the caller knows and the raiser did not (e.g. what already exists)."""
        self._notes.append(note)


class InputError(CiError):
    """Bad or missing input; the message names the input."""

    exit_code = ExitCode.USAGE


class AuthError(CiError):
    exit_code = ExitCode.AUTH

    def __init__(self, message: str, *, token_refused: bool = False) -> None:
        super().__init__(message)
        self.token_refused = token_refused  # 401: the front end says where the token comes from


class NotFoundError(CiError):
    exit_code = ExitCode.NOT_FOUND


class ApiError(CiError):
    """The API refused a request (4xx other than 401/403/404/429): not worth retrying as is."""

    exit_code = ExitCode.USAGE


class ConflictError(CiError):
    """The platform refused a change that conflicts with the state of its target (Peak: HTTP 409,
    e.g. a deployment that is still deploying): the remote side rejected it, as a rejected job is."""

    exit_code = ExitCode.JOB_REJECTED


class TransientError(CiError):
    """Network trouble, 5xx or 429 that outlived the retry policy: running again is safe."""

    exit_code = ExitCode.TRANSIENT


class UnreachableError(TransientError):
    """The API could not be reached at all (refused, unresolvable, timed out) after retries."""


class AmbiguousMutationError(TransientError):
    """A POST/PATCH whose outcome is unknown (5xx or lost connection): it was NOT retried,
    because the server may have acted on it. The message says what to check."""


class LocalIOError(CiError):
    exit_code = ExitCode.IO


class JobEndedError(CiError):
    """The remote job reached a terminal status other than `succeeded`."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message, JOB_STATUS_EXIT_CODES.get(status, ExitCode.JOB_FAILED))
        self.status = status


class LocalTimeoutError(CiError):
    exit_code = ExitCode.LOCAL_TIMEOUT


class Interrupted(BaseException):
    """Raised in the main thread by the SIGINT/SIGTERM handlers.

    A BaseException so that no `except Exception` on the way up swallows it; the step that owns a
    running cloud job cancels it, then the CLI exits 130/143.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        # "POST /v1/apps/…/builds" when a mutation had been sent and its answer had not come.
        self.in_flight: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        import signal

        return ExitCode.SIGINT if self.signum == signal.SIGINT else ExitCode.SIGTERM
