"""The reporter interface the steps talk to, and the sanitising every implementation shares."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

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
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A remote line longer than this is cut: one line must not flood a CI log.
MAX_LINE_CHARS = 8192


def clean_log_text(text: str, keep_colors: bool) -> str:
    """Make untrusted text safe for a terminal or CI log: no cursor control, no lone ESC,
    no carriage returns that would overwrite earlier output; optionally keep colours."""
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + " …[line truncated]"
    if not text.isascii():
        # Lone surrogates (JSON "\ud800") cannot be written to a UTF-8 stream: replace them.
        text = text.encode("utf-8", "replace").decode("utf-8")
    if keep_colors:
        kept: list[str] = []
        for piece in re.split(f"({_SGR.pattern})", text):
            kept.append(piece if _SGR.fullmatch(piece) else _CONTROL.sub("", _ANSI.sub("", piece)))
        return "".join(kept)
    return _CONTROL.sub("", _ANSI.sub("", text))


class SecretRedactor:
    """Replaces every registered secret (and each line of a multi-line one) with ***."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> Iterator[str]:
        """Register `secret`; yields the pieces newly registered (for platform mask commands)."""
        pieces = [secret.strip(), *(line.strip() for line in secret.splitlines())]
        for piece in pieces:
            if len(piece) >= 4 and piece not in self._secrets:
                self._secrets.append(piece)
                yield piece
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text
