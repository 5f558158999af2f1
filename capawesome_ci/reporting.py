"""What steps report through: the reporter protocol. Each CI (capawesome_ci/ci/) implements it, so
steps never import a CI module."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from capawesome_ci.result import StepResult


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
