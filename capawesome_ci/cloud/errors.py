"""Map HTTP failures of our calls to our errors and exit codes, in one place.

Capawesome's error bodies are read here, the way its official SDK reads them (`capawesome_message`),
without importing the SDK: every command would pay its import (about 25 ms) for a body it rarely sees."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

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


def map_transport_error(error: httpx.TransportError, request: httpx.Request) -> CiError:
    """A request that got no answer: retried already where that was safe (cloud/retry.py)."""
    method, path = _where(request)
    detail = _one_line(str(error) or type(error).__name__)
    if method in MUTATING_METHODS and not isinstance(error, NOT_SENT_ERRORS):
        return AmbiguousMutationError(
            f"{method} {path} lost its connection ({detail}); it was not retried because the "
            f"server may have acted on it: {CHECK_FIRST}"
        )
    return UnreachableError(f"{method} {path}: could not reach the API after retries ({detail})")


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
    `message_of` reads a platform's error body; without it, Capawesome's (`capawesome_message`).
    `status_errors` maps the statuses the platform gives a meaning of its own (Peak's 409)."""
    if response.is_success:
        return
    try:
        response.read()
        message = (message_of or capawesome_message)(response)
    except (httpx.RequestError, RecursionError, ValueError):  # cut short, undecodable, absurdly nested
        message = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        raise map_redirect(response)
    if status_errors and response.status_code in status_errors:
        where = f"{response.request.method} {wire_path(response.request.url)}"
        raise status_errors[response.status_code](f"{where}: HTTP {response.status_code}: {_one_line(message)}")
    raise map_status(response.status_code, response.request.method, wire_path(response.request.url), message)


def capawesome_message(response: httpx.Response) -> str:
    """What a Capawesome error body says, as its official SDK reads it (`exception_from_response`):
    the JSON body's message or validation issues, else a plain-text body (not an HTML page), else
    the status line."""
    try:
        message = _message_from_body(response.json())
    except ValueError:
        text = (response.text or "").strip()
        message = text if text and not text.startswith("<") else None  # a gateway's HTML page is noise
    return message or f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _message_from_body(body: Any) -> str | None:
    """`"…"`, `{"message": "…"}`, `{"error": "…"}`, `{"error": [{"path": [...], "message": "…"}]}` or
    `{"error": {"issues": [...]}}` (the API's validation layer)."""
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, str) and message:
        return message
    errors = body.get("error")
    if isinstance(errors, str) and errors:
        return errors
    if isinstance(errors, dict):
        errors = errors.get("issues")
    if not isinstance(errors, list):
        return None
    parts = []
    for item in errors:
        text = item.get("message") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text:
            continue
        path = item.get("path")
        if isinstance(path, list) and path:
            text = f"{'.'.join(str(segment) for segment in path)}: {text}"
        parts.append(text)
    return "; ".join(parts) or None
