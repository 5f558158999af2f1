"""GitHub Actions: workflow commands, step outputs, the job summary, and workspace ownership.

Implements the documented protocol (docs.github.com "Workflow commands"; actions/toolkit
`command.ts`, `file-command.ts`) directly: masks before anything else is printed, remote logs
inside ::stop-commands:: so a log line can never run a command, a fresh delimiter per output value.
Outside that block every line we print is defused: the runner (actions/runner `ActionCommand`) acts on
a line starting with `::` once leading blanks are trimmed, and on the legacy `##[name]` form anywhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capawesome_ci.ci.local import LocalReporter, RemoteLogSink
from capawesome_ci.ci.markdown import render_summary
from capawesome_ci.ci.summary import summary_sections
from capawesome_ci.reporting import LogSink
from capawesome_ci.result import StepResult
from capawesome_ci.text import one_log_line

# GitHub keeps at most 10 error and 10 warning annotations per step.
MAX_ANNOTATIONS = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str | None) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def defuse_commands(line: str) -> str:
    """A line the runner will not read as a workflow command (one line already: see one_log_line)."""
    line = line.replace("##[", "## [")
    return ": :" + line.lstrip()[2:] if line.lstrip().startswith("::") else line


def format_output(name: str, value: str) -> str:
    """One `name<<DELIMITER` block; the delimiter is random so a value cannot end it early."""
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in name or delimiter in value:  # astronomically unlikely, but never write it
        raise ValueError(f"output {name!r} contains its delimiter")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def result_outputs(result: StepResult) -> dict[str, str]:
    """The step outputs (names of ci-conventions.md table 4.2) plus the whole result as JSON."""
    import json

    first = result.deployments[0] if result.deployments else None

    def lines(values: list[str]) -> str:
        # A later step may echo an output: each value is one harmless line (lists: one per line).
        return "\n".join(one_log_line(value) for value in values)

    outputs = {
        "status": result.status,
        "exit-code": str(result.exit_code),
        "error": lines([result.error or ""]),
        "build-id": lines([result.build_id or ""]),
        "build-number": lines([result.build_number or ""]),
        "build-url": lines([result.build_url or ""]),
        "job-id": lines([result.job_id or ""]),
        "job-status": lines([result.job_status or ""]),
        "job-status-raw": lines([result.job_status_raw or ""]),
        "artifact-paths": lines([a.path or "" for a in result.artifacts]),
        "artifact-sha256": lines([a.sha256 or "" for a in result.artifacts]),
        "share-url": lines([result.share.url if result.share else ""]),
        "share-qr-code-url": lines([result.share.qr_code_url if result.share else ""]),
        "share-expires-at": lines([(result.share.expires_at or "") if result.share else ""]),
        "deployment-ids": lines([d.id for d in result.deployments]),
        "channel": lines([d.channel for d in result.deployments if d.channel]),
        "rollout-percentage": f"{first.rollout_percentage:g}" if first and first.rollout_percentage is not None else "",
        "release": lines([(first.release or "") if first else ""]),
        "revision": str(first.revision) if first and first.revision is not None else "",
        "bundle": lines([(first.bundle or "") if first else ""]),
        "bundle-role": lines([(first.bundle_role or "") if first else ""]),
        "rollout-bps": str(first.rollout_percentage_bps) if first and first.rollout_percentage_bps is not None else "",
        "failure-summary": lines((result.failure_summary or "").splitlines()),
        "result": json.dumps(result.to_json_dict(), separators=(",", ":")),
    }
    return outputs


class GitHubReporter(LocalReporter):
    def __init__(self, environ: dict[str, str], *, debug: bool = False, **options: Any) -> None:
        super().__init__(debug=debug or environ.get("RUNNER_DEBUG") == "1", **options)
        self.environ = environ
        # Runner logs are not a TTY but render ANSI colours.
        self.colors = "NO_COLOR" not in environ
        self._annotations = {"error": 0, "warning": 0}

    def _command(self, line: str) -> None:
        # Workflow commands are read from both streams; stderr keeps stdout free for --json.
        self._write_err(line)

    def mask(self, secret: str) -> None:
        for piece in self.redact.add(secret):
            self.stderr.write(command("add-mask", piece) + "\n")
        self.stderr.flush()

    def defuse(self, line: str) -> str:
        return defuse_commands(line)

    def json_text(self, text: str) -> str:
        # `\u005b` is `[` to any JSON reader, but "##[" on stdout would be a legacy command.
        return text.replace("##[", "##\\u005b")

    def debug(self, message: str) -> None:
        # One command; its data may span lines (%0A), each of them neutral.
        self._command(command("debug", "\n".join(self.neutral(line) for line in message.splitlines())))

    def _annotate(self, kind: str, message: str, title: str | None) -> None:
        self._annotations[kind] += 1
        if self._annotations[kind] <= MAX_ANNOTATIONS:
            self._command(command(kind, self.neutral(message), title=self.neutral(title) if title else None))
        else:
            self._say(f"{kind}: {message}")

    def warning(self, message: str, title: str | None = None) -> None:
        self._annotate("warning", message, title)

    def error(self, message: str, title: str | None = None) -> None:
        self._annotate("error", message, title or "capawesome-ci")

    @contextmanager
    def log_group(self, title: str) -> Iterator[LogSink]:
        token = uuid.uuid4().hex
        self._command(command("group", self.neutral(title)))
        self._command(f"::stop-commands::{token}")
        try:
            yield RemoteLogSink(self)
        finally:
            self._command(f"::{token}::")
            self._command("::endgroup::")

    def write_report_files(self, result: StepResult) -> None:
        if self.environ.get("GITHUB_STEP_SUMMARY"):
            summary = self.redact(render_summary(result, summary_sections(result)))
            self.write_report(result, "$GITHUB_STEP_SUMMARY", self.environ["GITHUB_STEP_SUMMARY"], summary + "\n", True)
        super().write_report_files(result)
        if self.environ.get("GITHUB_OUTPUT"):
            blocks = "".join(format_output(name, self.redact(value)) for name, value in result_outputs(result).items())
            self.write_report(result, "$GITHUB_OUTPUT", self.environ["GITHUB_OUTPUT"], blocks, append=True)
        self._give_files_to_workspace_owner(result)

    def _give_files_to_workspace_owner(self, result: StepResult) -> None:
        """A container action runs as root; later steps run as the runner user and must be able
        to move or delete what we wrote."""
        workspace = self.environ.get("GITHUB_WORKSPACE")
        if not workspace or not hasattr(os, "chown") or os.geteuid() != 0:
            return
        root = Path(workspace).resolve()
        try:
            owner = root.stat()
        except OSError:
            return
        for artifact in result.artifacts:
            if not artifact.path:
                continue
            path = (Path.cwd() / artifact.path).resolve()
            while path != root and root in path.parents:
                try:
                    os.chown(path, owner.st_uid, owner.st_gid)
                except OSError:
                    break
                path = path.parent
