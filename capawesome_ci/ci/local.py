"""The local reporter: human text on stderr; on stdout either a short result or, with --json,
exactly one JSON document."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from capawesome_ci.ci.dotenv import DotenvStyle
from capawesome_ci.ci.summary import SummarySection, summary_sections
from capawesome_ci.errors import ExitCode
from capawesome_ci.redact import SecretRedactor
from capawesome_ci.reporting import LogSink
from capawesome_ci.result import StepResult
from capawesome_ci.text import clean_log_text, one_log_line


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
    # The dotenv file is for `source` (Bitbucket, local): shell-quoted. GitLab's report differs.
    dotenv_style: DotenvStyle = "shell"

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
    # Every message goes through `neutral`: steps quote server and user data (build numbers, ids,
    # channel names, error texts) freely, and this is the one place that makes it harmless.
    def defuse(self, line: str) -> str:
        """What this medium would act on in a line that is already one harmless line of text;
        nothing locally, workflow commands on GitHub, section markers on GitLab."""
        return line

    def neutral(self, text: str) -> str:
        return self.defuse(one_log_line(text))

    def _write_err(self, text: str) -> None:
        self._end_progress()
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()

    def _say(self, message: str) -> None:
        self._write_err(self.neutral(message))

    def remote_line(self, text: str) -> None:
        """One line of the cloud job's log: untrusted, so cleaned for the medium first."""
        self._write_err("  │ " + clean_log_text(text, keep_colors=self.colors))

    def info(self, message: str) -> None:
        self._say(message)

    def warning(self, message: str, title: str | None = None) -> None:
        self._say(f"warning: {title + ': ' if title else ''}{message}")

    def error(self, message: str, title: str | None = None) -> None:
        self._say(f"error: {title + ': ' if title else ''}{message}")

    def debug(self, message: str) -> None:
        # A traceback stays readable: one neutral line per line.
        if self.debug_enabled:
            for line in message.splitlines() or [""]:
                self._say(f"debug: {line}")

    def mask(self, secret: str) -> None:
        self.redact.register(secret)

    @contextmanager
    def log_group(self, title: str) -> Iterator[LogSink]:
        self._write_err(f"┌ {self.neutral(title)}")
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
        label = self.neutral(label)
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

    def write_report(self, result: StepResult, what: str, path: str, text: str, append: bool = False) -> None:
        """Write one report file. A failure is one error line naming the file and exit code 8 (the
        step's own failure code wins), never a traceback, and never the end of the other reports:
        those written after it carry the new exit code."""
        try:
            # errors="replace": whatever a server sent, the file is written.
            with open(path, "a" if append else "w", encoding="utf-8", errors="replace") as handle:
                handle.write(text)
        except OSError as error:
            message = f"cannot write {what} {path}: {error.strerror or error}"
            self.error(message)
            if result.exit_code == ExitCode.OK:
                result.exit_code = int(ExitCode.IO)
                result.error = message

    def write_report_files(self, result: StepResult) -> None:
        # Summaries first, machine-read files last: a failure shows in the files written after it.
        if self.summary_path:
            from capawesome_ci.ci.markdown import render_summary

            summary = self.redact(render_summary(result, summary_sections(result)))
            self.write_report(result, "the summary", self.summary_path, summary + "\n")
        if self.dotenv_path:
            from capawesome_ci.ci.dotenv import dotenv_values, format_dotenv

            values = {key: self.redact(value) for key, value in dotenv_values(result).items()}
            self.write_report(result, "the dotenv report", self.dotenv_path, format_dotenv(values, self.dotenv_style))

    def json_text(self, text: str) -> str:
        """The JSON result as printed on stdout (a CI log too); the same document everywhere."""
        return text

    def print_result(self, result: StepResult) -> None:
        if self.json_output:
            self.stdout.write(self.json_text(self.redact(json.dumps(result.to_json_dict(), indent=2))) + "\n")
            self.stdout.flush()
            return
        if result.status == "error" and not (result.build_id or result.job_id or result.deployments):
            return  # nothing happened: the one error line on stderr says it all
        lines: list[str] = []
        for section in summary_sections(result):
            lines.extend(render_text_section(section))
        self.stdout.write(self.redact("\n".join(self.defuse(line) for line in lines)) + "\n")
        self.stdout.flush()


def render_text_section(section: SummarySection) -> list[str]:
    """Plain text; every value one harmless line (the caller defuses what its medium acts on)."""
    lines = ["", one_log_line(section.title)]
    width = max((len(label) for label, _ in section.fields), default=0)
    lines.extend(f"  {label.ljust(width)}  {one_log_line(value)}" for label, value in section.fields)
    if section.table_rows:
        rows = [[one_log_line(str(cell)) for cell in row] for row in [section.table_header, *section.table_rows]]
        widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if section.text:
        lines.extend("  " + one_log_line(line) for line in section.text.splitlines())
    lines.extend("  │ " + clean_log_text(line, keep_colors=False) for line in section.preformatted)
    return lines
