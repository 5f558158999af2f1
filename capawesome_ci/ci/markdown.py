"""The job summary as GitHub-flavoured Markdown (GitHub step summary, GitLab summary file),
bounded in size: untrusted text is HTML-escaped and long logs are trimmed from the top."""

from __future__ import annotations

import html

from capawesome_ci.ci.reporter import clean_log_text
from capawesome_ci.ci.summary import SummarySection
from capawesome_ci.steps.result import StepResult

# GitHub drops a step summary above 1024 KiB; stay well below it.
SUMMARY_BUDGET_BYTES = 900 * 1024


def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _is_url(text: str) -> bool:
    return text.startswith(("https://", "http://")) and not any(c in text for c in " <>\"'")


def _value(text: str) -> str:
    return f"[{_cell(text)}]({text})" if _is_url(text) else _cell(text)


def render_section(section: SummarySection, log_lines: list[str] | None = None) -> str:
    parts = [f"### {_cell(section.title)}", ""]
    if section.fields:
        parts += ["| | |", "|---|---|"]
        parts += [f"| **{_cell(label)}** | {_value(value)} |" for label, value in section.fields]
        parts.append("")
    if section.table_rows:
        parts.append("| " + " | ".join(_cell(h) for h in section.table_header) + " |")
        parts.append("|" + "---|" * len(section.table_header))
        parts += ["| " + " | ".join(_value(str(c)) for c in row) + " |" for row in section.table_rows]
        parts.append("")
    if section.text:
        parts += [html.escape(section.text, quote=False), ""]
    lines = section.preformatted if log_lines is None else log_lines
    if lines:
        body = "\n".join(html.escape(clean_log_text(line, keep_colors=False), quote=False) for line in lines)
        parts += [f"<details><summary>{_cell(section.title)}</summary>", "", f"<pre>{body}</pre>", "", "</details>", ""]
    return "\n".join(parts)


def render_summary(result: StepResult, sections: list[SummarySection], budget: int = SUMMARY_BUDGET_BYTES) -> str:
    rendered = [render_section(section) for section in sections]
    if result.share:
        rendered.append(
            f'<a href="{html.escape(result.share.url)}"><img src="{html.escape(result.share.qr_code_url)}" '
            f'width="200" alt="QR code of the share link"></a>\n'
        )
    text = "\n".join(rendered)
    if len(text.encode()) <= budget:
        return text
    # Too big: keep the newest log lines that fit, then cut hard as a last resort.
    for index, section in enumerate(sections):
        if section.preformatted:
            others = len(text.encode()) - len(rendered[index].encode())
            keep = list(section.preformatted)
            while keep and others + len(render_section(section, keep).encode()) > budget:
                keep = keep[len(keep) // 4 + 1 :]
            note = f"… {len(section.preformatted) - len(keep)} earlier lines omitted"
            rendered[index] = render_section(section, [note, *keep])
    text = "\n".join(rendered)
    encoded = text.encode()
    if len(encoded) > budget:
        text = encoded[: budget - 100].decode(errors="ignore") + "\n\n… summary truncated\n"
    return text
