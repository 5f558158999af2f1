"""The job summary's content, built once from a result; each CI renders it in its own format."""

from __future__ import annotations

from dataclasses import dataclass, field

from capawesome_ci.result import DeploymentResult, StepResult


class Url(str):
    """A URL we built ourselves (configured base URL + ids): the only values a Markdown summary links;
    any other text, a server's included, stays text."""


@dataclass
class SummarySection:
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    table_header: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    text: str | None = None
    # Long, untrusted text (log lines): shown folded where the CI can fold.
    preformatted: list[str] = field(default_factory=list)


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _status_with_raw(result: StepResult) -> str | None:
    """`failed (platform_resource_error)`: the platform's own word too, when it says more."""
    raw, status = result.job_status_raw, result.job_status
    return f"{status} ({raw})" if status and raw and raw != status else status


def _target(deployment: DeploymentResult) -> str:
    if deployment.channel and deployment.bundle:
        return f"channel {deployment.channel}: {deployment.bundle_role or 'bundle'} {deployment.bundle}"
    if deployment.channel:
        return f"channel {deployment.channel}"
    if deployment.destination:
        return f"destination {deployment.destination}"
    revision = f", revision {deployment.revision}" if deployment.revision is not None else ""
    return f"release {deployment.release or '?'}{revision}"


def summary_sections(result: StepResult) -> list[SummarySection]:
    sections: list[SummarySection] = []
    outcome = SummarySection(title=f"capawesome-ci {result.command}: {result.status}")
    for label, value in (
        ("App", result.app_id),
        ("Build", f"#{result.build_number}" if result.build_number else result.build_id),
        ("Platform", " / ".join(v for v in (result.platform, result.build_type) if v) or None),
        ("Git ref", result.git_ref),
        ("Job status", _status_with_raw(result)),
        ("Duration", f"{result.duration_seconds:.0f} s" if result.duration_seconds is not None else None),
        ("Console", Url(result.build_url) if result.build_url else None),
        ("Dry run", "yes, nothing was changed" if result.dry_run else None),
        ("Error", result.error),
    ):
        if value:
            outcome.fields.append((label, value))
    sections.append(outcome)
    if result.artifacts:
        sections.append(
            SummarySection(
                title="Artifacts",
                table_header=["File", "Type", "Size", "SHA-256"],
                table_rows=[[a.path or "-", a.type, human_size(a.size), a.sha256 or "-"] for a in result.artifacts],
            )
        )
    if result.deployments:
        sections.append(
            SummarySection(
                title="Deployments",
                table_header=["Target", "Rollout", "Status", "Deployment"],
                table_rows=[
                    [
                        _target(d),
                        f"{d.rollout_percentage:g} %" if d.rollout_percentage is not None else "-",
                        "unchanged (already active)" if d.noop else (d.job_status or "created"),
                        d.id,
                    ]
                    for d in result.deployments
                ],
            )
        )
    if result.share:
        sections.append(
            SummarySection(
                title="Share link",
                fields=[("Link", Url(result.share.url)), ("QR code", Url(result.share.qr_code_url))]
                + ([("Expires", result.share.expires_at)] if result.share.expires_at else []),
            )
        )
    if result.planned_requests:
        sections.append(
            SummarySection(
                title="Planned requests (dry run, not sent)",
                table_header=["Method", "Path"],
                table_rows=[[p.method, p.path] for p in result.planned_requests],
            )
        )
    if result.failed_parts:
        sections.append(
            SummarySection(
                title="Failed parts",
                table_header=["Part", "Status"],
                table_rows=[list(part.rpartition(": ")[::2]) for part in result.failed_parts],
            )
        )
    if result.failure_summary:
        sections.append(SummarySection(title="Failure summary", text=result.failure_summary))
    if result.log_tail and result.status not in ("succeeded", "started"):
        sections.append(SummarySection(title=f"Last {len(result.log_tail)} log lines", preformatted=result.log_tail))
    return sections
