"""GitLab CI: collapsible log sections, a dotenv report of the outputs, the summary as a Markdown file.

GitLab has no runtime masking and no output channel: outputs go to `capawesome.env` (declare it as
`artifacts: reports: dotenv:`; written in GitLab's own dialect, see capawesome_ci.ci.dotenv) and the
summary to `capawesome-summary.md` (keep it as an artifact).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from capawesome_ci.ci.dotenv import DotenvStyle
from capawesome_ci.ci.local import LocalReporter, RemoteLogSink
from capawesome_ci.reporting import LogSink
from capawesome_ci.text import clean_log_text

DEFAULT_DOTENV = "capawesome.env"
DEFAULT_SUMMARY = "capawesome-summary.md"
_SECTION_MARKER = re.compile(r"section_(start|end):", re.IGNORECASE)
_sections = itertools.count(1)


def defuse_sections(text: str) -> str:
    """No section marker named in text we print (GitLab also needs ESC around one; belt and braces)."""
    return _SECTION_MARKER.sub(lambda m: f"section_{m.group(1)} :", text)


def neutralise(text: str) -> str:
    """Remote text can neither carry escape codes other than colours nor name a section marker."""
    return defuse_sections(clean_log_text(text, keep_colors=True))


def section_start(name: str, title: str) -> str:
    """`title` must already be neutral (GitLabReporter.neutral)."""
    return f"\x1b[0Ksection_start:{int(time.time())}:{name}[collapsed=true]\r\x1b[0K{title}"


def section_end(name: str) -> str:
    return f"\x1b[0Ksection_end:{int(time.time())}:{name}\r\x1b[0K"


class GitLabReporter(LocalReporter):
    dotenv_style: DotenvStyle = "gitlab"

    def __init__(self, *, dotenv_path: str | None = None, summary_path: str | None = None, **options: Any) -> None:
        super().__init__(
            dotenv_path=dotenv_path or DEFAULT_DOTENV, summary_path=summary_path or DEFAULT_SUMMARY, **options
        )
        self.colors = True  # GitLab renders ANSI colours in job logs

    def defuse(self, line: str) -> str:
        return defuse_sections(line)

    def remote_line(self, text: str) -> None:
        self._write_err(neutralise(text))

    @contextmanager
    def log_group(self, title: str) -> Iterator[LogSink]:
        name = f"capawesome_logs_{next(_sections)}"
        self._write_err(section_start(name, self.neutral(title)))
        try:
            yield RemoteLogSink(self)
        finally:
            self._write_err(section_end(name))
