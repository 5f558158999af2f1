"""Run the reliability tests and write their figures into README.md's Reliability table.

    .venv/bin/python tests/reliability_report.py

Fault scenarios (tests/test_faults.py, tests/test_cancellation.py), secret canaries (tests/test_secrets.py)
and fuzzed inputs (tests/test_fuzz_inputs.py) count what they did (tests/reliability.py); this adds it up.
Every case of the hostile-server suites (tests/test_hostile_*.py, against tests/hostile.py) is one row
of the hostile block: tried, and held (passed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_faults.py", "tests/test_cancellation.py", "tests/test_secrets.py", "tests/test_fuzz_inputs.py"]
HOSTILE = {
    "tests/test_hostile_deadlines.py": "deadlines: silent, trickling and throttling servers, slow cancels, signals",
    "tests/test_hostile_api.py": "answers: malformed 2xx bodies, ids in paths, redirects",
    "tests/test_hostile_names.py": "names and files: artifact names and types, bundles, numbers",
    "tests/test_hostile_reports.py": "reports: dotenv, workflow commands, sections, summaries, report files",
    "tests/test_capgo_hostile.py": "Capgo: reports, link names, deadlines, unusable answers, no repeated change",
}
START, END = "<!-- generated: reliability -->", "<!-- end of generated reliability -->"


def main() -> int:
    hostile = [name for name in HOSTILE if (ROOT / name).exists()]
    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder, "junit.xml")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-n",
                "2",
                "-p",
                "no:cacheprovider",
                f"--junitxml={junit}",
                *TESTS,
                *hostile,
            ],
            cwd=ROOT,
            env={**os.environ, "RELIABILITY_COUNTS": folder},
        )
        totals: Counter[str] = Counter()
        for path in Path(folder).glob("*.json"):
            totals.update(json.loads(path.read_text()))
        tried, held = hostile_cases(junit)
    rows = [
        ("Fault scenarios run (5xx, 429, resets, broken bodies, signals)", totals["fault scenarios run"]),
        ("Fault scenarios survived as specified", totals["fault scenarios survived"]),
        ("Mutations duplicated (must be 0)", totals["mutations duplicated"]),
        ("Commands run with a canary token and key", totals["canary runs"]),
        ("Canary hits in any output (must be 0)", totals["canary hits"]),
        ("Fuzzed inputs tried (all: exit 2, one line)", totals["fuzzed inputs tried"]),
    ]
    table = "\n".join(
        [
            START,
            "",
            "| Check | Result |",
            "|---|---|",
            *(f"| {label} | {value} |" for label, value in rows),
            "",
            "Against a hostile server of our own (`tests/hostile.py`: every field, status and timing is the "
            "attacker's):",
            "",
            "| Hostile cases | Tried | Held |",
            "|---|---|---|",
            *(f"| {HOSTILE[name]} | {tried[name]} | {held[name]} |" for name in hostile),
            f"| **all** | {sum(tried.values())} | {sum(held.values())} |",
            "",
            f"Produced by `.venv/bin/python tests/reliability_report.py` on {date.today().isoformat()} "
            f"(pytest exit {run.returncode}).",
            "",
            END,
        ]
    )
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + table + rest.split(END, 1)[1]
        readme.write_text(text, encoding="utf-8")
    print(table)
    return run.returncode


def hostile_cases(junit: Path) -> tuple[Counter[str], Counter[str]]:
    """Per hostile suite: the test cases run, and those that passed."""
    tried: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for case in ElementTree.parse(junit).iter("testcase"):
        name = "tests/" + case.get("classname", "").split(".")[-1] + ".py"
        if name in HOSTILE and case.find("skipped") is None:
            tried[name] += 1
            held[name] += case.find("failure") is None and case.find("error") is None
    return tried, held


if __name__ == "__main__":
    raise SystemExit(main())
