"""Map HTTP failures (from the SDK or our own calls) to our errors and exit codes, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
from capawesome_cloud.exceptions import APIConnectionError, CapawesomeCloudError, exception_from_response

from capawesome_ci.cloud.methods import MUTATING_METHODS as MUTATING_METHODS  # cloud/answers.py reads it here
from capawesome_ci.cloud.paths import wire_path
from capawesome_ci.cloud.redirects import FOLLOWED_METHODS, redirect_target, same_origin
from capawesome_ci.cloud.retry import NOT_SENT_ERRORS
from capawesome_ci.errors import (
    AmbiguousMutationError,
    ApiError,
    AuthError,
    CiError,
    NotFoundError,
    TransientError,
    UnreachableError,
)

_MAX_MESSAGE = 300
# Reads what a platform's error body says (its message), for platforms other than Capawesome.
MessageOf = Callable[[httpx.Response], str]
# HTTP statuses a platform gives a meaning of its own (Peak: 409 → ConflictError, exit 6).
StatusErrors = Mapping[int, Callable[[str], CiError]]
# What to do after a change whose outcome is unknown (the platform's own console shows it).
CHECK_FIRST = "check the platform's console before running again"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _where(request: httpx.Request | None) -> tuple[str, str]:
    if request is None:
        return "", ""
    return request.method, wire_path(request.url)


def map_sdk_error(error: CapawesomeCloudError) -> CiError:
    """Turn an SDK error (HTTP status or transport failure) into a CiError with one clear line."""
    if isinstance(error, APIConnectionError):
        method, path = _where(error.request)
        cause = error.__cause__
        not_sent = isinstance(cause, NOT_SENT_ERRORS)
        detail = _one_line(str(cause) or type(cause).__name__) if cause else error.message
        if method in MUTATING_METHODS and not not_sent:
            return AmbiguousMutationError(
                f"{method} {path} lost its connection ({detail}); it was not retried because the "
                f"server may have acted on it: {CHECK_FIRST}"
            )
        return UnreachableError(f"{method} {path}: could not reach the API after retries ({detail})")
    response = error.response
    if response is not None and 300 <= response.status_code < 400:
        return map_redirect(response)
    method, path = _where(response.request if response is not None else None)
    return map_status(error.status or 0, method, path, error.message)


def map_redirect(response: httpx.Response) -> CiError:
    """A 3xx that cloud/redirects.py did not follow: say why, with the code that fits."""
    method, path = _where(response.request)
    where, status = f"{method} {path}", response.status_code
    target = redirect_target(response)
    if method in MUTATING_METHODS:
        return AmbiguousMutationError(
            f"{where}: the API answered with a redirect (HTTP {status}), which is never followed for a change; "
            f"the server may have acted on it: {CHECK_FIRST}"
        )
    if target is not None and not same_origin(target, response.request.url):
        origin = f"{target.scheme}://{target.netloc.decode('ascii', 'replace')}"
        return ApiError(
            f"{where}: the API redirected to another origin ({origin}), which is not followed so that the "
            "token stays with the API: check the base URL"
        )
    if method not in FOLLOWED_METHODS:
        return TransientError(f"{where}: the API answered with a redirect (HTTP {status}), not followed for a {method}")
    reason = "too many redirects" if target is not None else "a redirect without a usable Location"
    return TransientError(f"{where}: the API answered with {reason} (HTTP {status})")


def map_status(status: int, method: str, path: str, message: str) -> CiError:
    message = _one_line(message)
    where = f"{method} {path}".strip()
    if status in (401, 403):
        hint = "the token is missing, invalid or expired" if status == 401 else "the token lacks permission"
        return AuthError(
            f"{where}: HTTP {status}: {message} — {hint} for this app or action", token_refused=status == 401
        )
    if status == 404:
        return NotFoundError(f"{where}: {message}")
    if status == 429:
        return TransientError(f"{where}: rate limited (HTTP 429) after retries: {message}")
    if status >= 500:
        if method in MUTATING_METHODS:
            return AmbiguousMutationError(
                f"{where}: HTTP {status} ({message}); it was not retried because the server may have "
                f"acted on it: {CHECK_FIRST}"
            )
        return TransientError(f"{where}: HTTP {status} after retries: {message}")
    return ApiError(f"{where}: HTTP {status}: {message}")


def raise_for_response(
    response: httpx.Response, message_of: MessageOf | None = None, status_errors: StatusErrors | None = None
) -> None:
    """For our own calls: raise the mapped error of a non-2xx response (body read if streamed).
    `message_of` reads a platform's error body; without it, Capawesome's (through its SDK).
    `status_errors` maps the statuses the platform gives a meaning of its own (with `message_of`)."""
    if response.is_success:
        return
    if message_of is not None:
        try:
            response.read()
            message = message_of(response)
        except (httpx.RequestError, RecursionError, ValueError):  # cut short, undecodable, absurdly nested
            message = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            raise map_redirect(response)
        if status_errors and response.status_code in status_errors:
            where = f"{response.request.method} {wire_path(response.request.url)}"
            raise status_errors[response.status_code](f"{where}: HTTP {response.status_code}: {_one_line(message)}")
        raise map_status(response.status_code, response.request.method, wire_path(response.request.url), message)
    try:
        response.read()
        error = exception_from_response(response)
    except (httpx.RequestError, RecursionError):  # an error body cut short, undecodable or absurdly nested
        error = CapawesomeCloudError(f"HTTP {response.status_code}", status=response.status_code, response=response)
    raise map_sdk_error(error)


def map_transport_error(error: httpx.TransportError, request: httpx.Request) -> CiError:
    wrapped = APIConnectionError(str(error), request=request)
    wrapped.__cause__ = error
    return map_sdk_error(wrapped)
