"""The one place an API answer is read.

Every 2xx body goes through `read_answer` and every field through a `Record` getter that checks its
type. Whatever we cannot use — a body that is not JSON or not UTF-8, NaN or 1e999, a list where an
object belongs, a number as a string, a missing or `..` id — becomes one error with a documented
code: 75 (TransientError) for a read, and for a POST/PATCH the AmbiguousMutationError, whose message
says the change may have taken effect. Never a KeyError or ValidationError that surfaces as exit 70.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx

from capawesome_ci.cloud.errors import CHECK_FIRST, MUTATING_METHODS
from capawesome_ci.cloud.paths import DOT_SEGMENTS, wire_path
from capawesome_ci.errors import AmbiguousMutationError, TransientError

# Ids go into paths, outputs and logs: printable, no whitespace, bounded (real ids are UUIDs).
_ID = re.compile(r"[^\x00-\x20\x7f-\x9f]{1,256}")
MAX_INTEGER = 2**63 - 1


def unusable(method: str, path: str, detail: str) -> TransientError:
    where = f"{method} {path}"
    if method in MUTATING_METHODS:
        return AmbiguousMutationError(
            f"{where}: the API answered with {detail}; the change may have taken effect: {CHECK_FIRST}"
        )
    return TransientError(f"{where}: the API answered with {detail}")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: Python reads it as inf, which no field can hold
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # Python's json would accept NaN and Infinity


def read_answer(response: httpx.Response, *, lenient_text: bool = False) -> Any:
    """The decoded body of a 2xx answer (None when empty). `lenient_text` replaces invalid UTF-8
    instead of refusing the body: for log pages, whose text is shown, never acted on."""
    method, path = response.request.method, wire_path(response.request.url)
    content = response.content
    if not content.strip():
        return None
    try:
        text = content.decode("utf-8", "replace" if lenient_text else "strict")
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise unusable(method, path, "a body that is not UTF-8") from None
    except (ValueError, RecursionError):  # RecursionError: `[[[[…` nested deeper than Python recurses
        raise unusable(method, path, "a body that is not JSON") from None


def object_answer(response: httpx.Response, *, empty: bool = False) -> Record:
    """The answer as one JSON object; `empty` allows a body-less answer (an empty record)."""
    value = read_answer(response)
    if value is None and empty:
        value = {}
    return Record.of(value, response.request.method, wire_path(response.request.url))


def list_answer(response: httpx.Response, *, lenient_text: bool = False) -> list[Record]:
    """The answer as a JSON list of objects (`{"data": [...]}` is not one)."""
    method, path = response.request.method, wire_path(response.request.url)
    value = read_answer(response, lenient_text=lenient_text)
    if not isinstance(value, list):
        raise unusable(method, path, f"{_kind(value)} where a list was expected")
    return [Record.of(item, method, path) for item in value]


class Record:
    """One JSON object of an answer. Each getter returns the field or None when it is absent or
    null, and raises the `unusable` error when it holds something else."""

    def __init__(self, data: dict[str, Any], method: str, path: str) -> None:
        self._data = data
        self.method = method
        self.path = path

    @classmethod
    def of(cls, value: Any, method: str, path: str) -> Record:
        if not isinstance(value, dict):
            raise unusable(method, path, f"{_kind(value)} where an object was expected")
        return cls(value, method, path)

    def unusable(self, detail: str) -> TransientError:
        return unusable(self.method, self.path, detail)

    def _wrong(self, key: str, expected: str) -> TransientError:
        return self.unusable(f"{_kind(self._data[key])} in {key!r} where {expected} was expected")

    def text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(key, "a string")

    def token(self, key: str) -> str:
        """A required, non-empty string (an upload id, an etag)."""
        value = self.text(key)
        if not value:
            raise self.unusable(f"no {key!r}")
        return value

    def maybe_id(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and (value in DOT_SEGMENTS or not _ID.fullmatch(value)):
            raise self.unusable(f"an unusable {key!r} (empty, '.', '..', blanks or over 256 characters)")
        return value

    def id(self, key: str) -> str:
        value = self.maybe_id(key)
        if value is None:
            raise self.unusable(f"no {key!r}")
        return value

    def integer(self, key: str) -> int | None:
        """A whole number from 0 to 2^63-1 (a byte count, a line number)."""
        value = self._data.get(key)
        if value is None or (type(value) is int and 0 <= value <= MAX_INTEGER):
            return value
        raise self._wrong(key, "a whole number from 0 to 2^63-1")

    def number(self, key: str, maximum: float = float(MAX_INTEGER)) -> float | None:
        """A number from 0 to `maximum` (floats are finite already: see `_finite`)."""
        value = self._data.get(key)
        if value is None:
            return None
        if type(value) in (int, float) and 0 <= value <= maximum:
            return float(value)
        raise self._wrong(key, f"a number from 0 to {maximum:g}")

    def record(self, key: str) -> Record | None:
        value = self._data.get(key)
        return None if value is None else Record.of(value, self.method, self.path)

    def records(self, key: str) -> list[Record]:
        """A list of objects (none when absent or null)."""
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return [Record.of(item, self.method, self.path) for item in value]
