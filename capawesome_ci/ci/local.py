"""The local reporter: human text on stderr; on stdout either a short result or, with --json,
exactly one JSON document."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from capawesome_ci.ci.reporter import LogSink, SecretRedactor, clean_log_text
from capawesome_ci.ci.summary import SummarySection, summary_sections
from capawesome_ci.steps.result import StepResult


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class RemoteLogSink:
    def __init__(self, reporter: LocalReporter) -> None:
        self._reporter = reporter

    def line(self, text: str) -> None:
        self._reporter.remote_line(text)


class LocalReporter:
    def __init__(
        self,
        json_output: bool = False,
        debug: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        dotenv_path: str | None = None,
        summary_path: str | None = None,
    ) -> None:
        self.json_output = json_output
        # Optional report files: a dotenv of the outputs and the Markdown job summary.
        self.dotenv_path = dotenv_path
        self.summary_path = summary_path
        self.debug_enabled = debug
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.tty = _is_tty(self.stderr)
        self.colors = self.tty and "NO_COLOR" not in os.environ
        self.redact = SecretRedactor()
        self._progress_shown_at = 0.0
        self._progress_open = False

    # -- text ---------------------------------------------------------------------------------
    def _write_err(self, text: str) -> None:
        self._end_progress()
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()

    def remote_line(self, text: str) -> None:
        """One line of the cloud job's log: untrusted, so cleaned for the medium first."""
        self._write_err("  │ " + clean_log_text(text, keep_colors=self.colors))

    def info(self, message: str) -> None:
        self._write_err(message)

    def warning(self, message: str, title: str | None = None) -> None:
        self._write_err(f"warning: {title + ': ' if title else ''}{message}")

    def error(self, message: str, title: str | None = None) -> None:
        self._write_err(f"error: {title + ': ' if title else ''}{message}")

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self._write_err(f"debug: {message}")

    def mask(self, secret: str) -> None:
        for _ in self.redact.add(secret):
            pass

    @contextmanager
    def log_group(self, title: str) -> Iterator[LogSink]:
        self._write_err(f"┌ {title}")
        try:
            yield RemoteLogSink(self)
        finally:
            self._write_err("└")

    def progress(self, label: str, done: int, total: int | None) -> None:
        # A progress bar only where a person watches; CI logs would fill with carriage returns.
        if not self.tty:
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._progress_shown_at < 0.1:
            return
        self._progress_shown_at = now
        if total:
            text = f"\r{label}: {done * 100 // total:3d}% ({done >> 20}/{total >> 20} MiB)"
        else:
            text = f"\r{label}: {done >> 20} MiB"
        self.stderr.write(self.redact(text))
        self.stderr.flush()
        self._progress_open = not finished
        if finished:
            self.stderr.write("\n")

    def _end_progress(self) -> None:
        if self._progress_open:
            self.stderr.write("\n")
            self._progress_open = False

    # -- result -------------------------------------------------------------------------------
    def publish(self, result: StepResult) -> None:
        self.write_report_files(result)
        self.print_result(result)

    def write_report_files(self, result: StepResult) -> None:
        if self.dotenv_path:
            from capawesome_ci.ci.dotenv import dotenv_values, format_dotenv

            values = {key: self.redact(value) for key, value in dotenv_values(result).items()}
            Path(self.dotenv_path).write_text(format_dotenv(values), encoding="utf-8")
        if self.summary_path:
            from capawesome_ci.ci.markdown import render_summary

            summary = self.redact(render_summary(result, summary_sections(result)))
            Path(self.summary_path).write_text(summary + "\n", encoding="utf-8")

    def print_result(self, result: StepResult) -> None:
        if self.json_output:
            self.stdout.write(self.redact(json.dumps(result.to_json_dict(), indent=2)) + "\n")
            self.stdout.flush()
            return
        if result.status == "error" and not (result.build_id or result.job_id or result.deployments):
            return  # nothing happened: the one error line on stderr says it all
        lines: list[str] = []
        for section in summary_sections(result):
            lines.extend(render_text_section(section))
        self.stdout.write(self.redact("\n".join(lines)) + "\n")
        self.stdout.flush()


def render_text_section(section: SummarySection) -> list[str]:
    lines = ["", section.title]
    width = max((len(label) for label, _ in section.fields), default=0)
    lines.extend(f"  {label.ljust(width)}  {value}" for label, value in section.fields)
    if section.table_rows:
        columns = list(zip(section.table_header, *section.table_rows, strict=True))
        widths = [max(len(str(cell)) for cell in column) for column in columns]
        for row in [section.table_header, *section.table_rows]:
            lines.append("  " + "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if section.text:
        lines.extend("  " + line for line in section.text.splitlines())
    lines.extend("  │ " + clean_log_text(line, keep_colors=False) for line in section.preformatted)
    return lines
