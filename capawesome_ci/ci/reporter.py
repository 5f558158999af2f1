"""The reporter interface the steps talk to, and the sanitising every implementation shares."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from capawesome_ci.errors import one_line

if TYPE_CHECKING:
    from capawesome_ci.steps.result import StepResult


class LogSink(Protocol):
    def line(self, text: str) -> None:
        """One line of untrusted remote log text (already unescaped by the platform)."""


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def warning(self, message: str, title: str | None = None) -> None: ...
    def error(self, message: str, title: str | None = None) -> None: ...
    def debug(self, message: str) -> None: ...
    def mask(self, secret: str) -> None:
        """Never show `secret` (nor any of its lines) anywhere from now on."""

    def log_group(self, title: str) -> AbstractContextManager[LogSink]: ...
    def progress(self, label: str, done: int, total: int | None) -> None: ...
    def publish(self, result: StepResult) -> None:
        """Emit the outputs and the summary of a finished (or failed) step."""


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


# Shorter pieces are not masked: a 5-letter passphrase such as "wrong" would turn every such word of
# every message into *** (and show where it occurs). 8 is also GitLab's minimum for a masked variable.
# Tokens and key lines are far longer, so they are always masked.
MIN_SECRET_CHARS = 8


class SecretRedactor:
    """Replaces every registered secret (and each line of a multi-line one) with ***."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> Iterator[str]:
        """Register `secret`; yields the pieces newly registered (for platform mask commands)."""
        pieces = [secret.strip(), *(line.strip() for line in secret.splitlines())]
        for piece in pieces:
            # PEM armour lines (-----BEGIN PRIVATE KEY-----) are public text, not part of the secret.
            armour = "\n" not in piece and piece.startswith("-----") and piece.endswith("-----")
            if len(piece) >= MIN_SECRET_CHARS and not armour and piece not in self._secrets:
                self._secrets.append(piece)
                yield piece
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text
