"""The job summary as GitHub-flavoured Markdown (GitHub step summary, GitLab summary file, pull/merge
request comment), bounded in size.

Untrusted text (ids, build numbers, channel names, error and log text from the server) renders as
exactly that text and nothing else: every character that could start Markdown is backslash-escaped
(CommonMark allows it for any ASCII punctuation), so no link, image, emphasis, table cell break, raw
HTML or autolink can form; in HTML blocks it is HTML-escaped. Only URLs we built ourselves (`Url`)
become links, labelled with the URL itself.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from capawesome_ci.ci.summary import SummarySection, Url
from capawesome_ci.result import StepResult
from capawesome_ci.text import clean_log_text, one_log_line

# GitHub drops a step summary above 1024 KiB; stay well below it.
SUMMARY_BUDGET_BYTES = 900 * 1024
# The characters that start Markdown or HTML (emphasis, code, links, images, raw HTML, entities, table
# cells, strike-through, headings, issue references) and the two that start GitHub's bare autolinks
# (`https://…`, `www.…`): escaped, every other character is shown as it is, so summaries stay readable.
_ACTIVE = re.compile(r"[\\`*_\[\]<>|~&#!]|:(?=//)|(?<=www)\.", re.IGNORECASE)
# "@name" notifies people in a pull request comment; a zero-width space after "@" keeps it text.
_MENTION = re.compile(r"@(?=\w)")
# Characters a link destination keeps as they are; everything else is percent-encoded, so that
# neither `)`, `|`, `<`, quotes nor blanks can end the link, the table cell or the HTML attribute.
_URL_SAFE = "/:?#&=%~.-_!*,;@+$"


def _inline(text: str) -> str:
    """Untrusted text as inline Markdown that shows exactly it, on one line."""
    return _MENTION.sub("@\u200b", _ACTIVE.sub(lambda m: "\\" + m.group(), one_log_line(text)))


def _href(url: str) -> str | None:
    """`url` as a link destination, or None when it is not an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE)


def _value(text: str) -> str:
    href = _href(text) if isinstance(text, Url) else None
    return f"[{_inline(text)}]({href})" if href else _inline(text)


def _html(text: str) -> str:
    """Untrusted text inside an HTML block (no Markdown there): escaped; a leading `/` as an entity
    so that no line of a merge request note reads as a GitLab quick action (`/merge`)."""
    escaped = html.escape(text, quote=False)
    return "&#47;" + escaped[1:] if escaped.startswith("/") else escaped


def render_section(section: SummarySection, log_lines: list[str] | None = None) -> str:
    parts = [f"### {_inline(section.title)}", ""]
    if section.fields:
        parts += ["| | |", "|---|---|"]
        parts += [f"| **{_inline(label)}** | {_value(value)} |" for label, value in section.fields]
        parts.append("")
    if section.table_rows:
        parts.append("| " + " | ".join(_inline(h) for h in section.table_header) + " |")
        parts.append("|" + "---|" * len(section.table_header))
        parts += ["| " + " | ".join(_value(str(c)) for c in row) + " |" for row in section.table_rows]
        parts.append("")
    if section.text:
        # Leading blanks would make an indented code block, where escapes show.
        parts += ["\n".join(_inline(line.strip()) for line in section.text.splitlines()), ""]
    lines = section.preformatted if log_lines is None else log_lines
    if lines:
        body = "\n".join(_html(clean_log_text(line, keep_colors=False)) for line in lines)
        title = html.escape(one_log_line(section.title), quote=False)
        parts += [f"<details><summary>{title}</summary>", "", f"<pre>{body}</pre>", "", "</details>", ""]
    return "\n".join(parts)


def render_summary(result: StepResult, sections: list[SummarySection], budget: int = SUMMARY_BUDGET_BYTES) -> str:
    rendered = [render_section(section) for section in sections]
    share = result.share
    link, image = (_href(share.url), _href(share.qr_code_url)) if share else (None, None)
    if link and image:
        rendered.append(
            f'<a href="{html.escape(link)}"><img src="{html.escape(image)}" width="200" '
            'alt="QR code of the share link"></a>\n'
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
