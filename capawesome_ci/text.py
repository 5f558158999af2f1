"""Untrusted text made safe to show: in a terminal or CI log, as one line of a message."""

from __future__ import annotations

import re
import unicodedata

from capawesome_ci.errors import one_line

# CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks) and lone ESC + char.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_SGR = re.compile(r"\x1b\[[0-9;]*m")
# C0 controls but tab and newline, DEL, and the C1 controls (U+0080-U+009F: \x9b is an 8-bit CSI,
# \x85 a line break to some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# A remote line longer than this is cut: one line must not flood a CI log.
MAX_LINE_CHARS = 8192


def _bounded(text: str) -> str:
    """At most MAX_LINE_CHARS, and writable as UTF-8 whatever the source sent."""
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + " …[line truncated]"
    if not text.isascii():
        # Lone surrogates (JSON "\ud800") cannot be written to a UTF-8 stream: replace them.
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_log_text(text: str, keep_colors: bool) -> str:
    """Make untrusted text safe for a terminal or CI log: no cursor control, no lone ESC,
    no carriage returns that would overwrite earlier output; optionally keep colours."""
    text = _bounded(text)
    if keep_colors:
        kept: list[str] = []
        for piece in re.split(f"({_SGR.pattern})", text):
            kept.append(piece if _SGR.fullmatch(piece) else _CONTROL.sub("", _ANSI.sub("", piece)))
        return "".join(kept)
    return _CONTROL.sub("", _ANSI.sub("", text))


def _escape_invisible(match: re.Match[str]) -> str:
    char = match.group()
    return char.encode("unicode_escape").decode() if unicodedata.category(char) in ("Cc", "Cf") else char


def one_log_line(text: str) -> str:
    """One of our messages, which may quote server or user data, as exactly one harmless line: line
    breaks and control characters (C0, DEL, C1) shown escaped as error messages quote them, so the
    reader still sees what was sent but no terminal or CI log acts on it. Invisible format characters
    (zero-width, bidi overrides) are escaped too: culture-aware matching (the GitHub runner's .NET
    `IndexOf`) may ignore them, so "#\u200b#[error]" could still read as a command."""
    return _NON_ASCII.sub(_escape_invisible, one_line(_bounded(text)))
