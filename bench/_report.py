"""What a benchmark hands back (a Section: tables, targets, notes) and how it becomes Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """One goal of the issue and whether this run met it (None: not measured in this run)."""

    goal: str  # e.g. "`--version` ≤ 0.10 s"
    measured: str  # e.g. "0.04 s"
    met: bool | None
    tracked_only: bool = False  # the issue sets no target; the figure is reported to follow it

    @property
    def verdict(self) -> str:
        if self.tracked_only:
            return "tracked (no target)"
        if self.met is None:
            return "not measured"
        return "met" if self.met else "**missed**"


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""

    def markdown(self) -> str:
        lines = [f"*{self.caption}*", ""] if self.caption else []
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "---|" * len(self.header))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    title: str
    method: str  # how it was measured, in a sentence or three
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the whole benchmark did not run
    seconds: float = 0.0  # how long the benchmark took, for the run budget

    def markdown(self) -> str:
        parts = [f"## {self.title}", "", self.method]
        if self.skipped:
            parts += ["", f"**Skipped:** {self.skipped}"]
        for table in self.tables:
            parts += ["", table.markdown()]
        if self.targets:
            parts += ["", targets_table(self.targets).markdown()]
        if self.notes:
            parts += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(parts)


def targets_table(targets: Sequence[Target]) -> Table:
    return Table(["target", "measured", "verdict"], [[t.goal, t.measured, t.verdict] for t in targets])


def skipped_section(title: str, method: str, reason: str) -> Section:
    return Section(title, method, skipped=reason, targets=[])
