"""How ids go into request paths, and how a path is shown: the one rule for every request we build."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from capawesome_ci.errors import InputError

# Ids the server sends are checked against the same rule in cloud/answers.py (exit 75 there), so
# an id refused here came from the user.
DOT_SEGMENTS = frozenset({"", ".", ".."})


def segment(value: str) -> str:
    """`value` as one path segment: `/`, `?`, `#`, `%` and the rest percent-encoded.

    Empty, `.` and `..` are refused rather than encoded: httpx drops dot segments and a server or
    proxy may decode `%2E%2E` and climb, so no encoding of them is safe to send.
    """
    if value in DOT_SEGMENTS:
        raise InputError(f"invalid id {value!r}: an id is never empty, '.' or '..'")
    return quote(value, safe="")


def wire_path(url: httpx.URL) -> str:
    """The path as it went over the wire, percent-encoding kept (`url.path` decodes `%2F`)."""
    return url.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
