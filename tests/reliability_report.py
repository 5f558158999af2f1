"""Run the reliability tests and write their figures into README.md's Reliability table.

    .venv/bin/python tests/reliability_report.py

Fault scenarios (tests/test_faults.py, tests/test_cancellation.py), secret canaries (tests/test_secrets.py)
and fuzzed inputs (tests/test_fuzz_inputs.py) count what they did (tests/reliability.py); this adds it up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_faults.py", "tests/test_cancellation.py", "tests/test_secrets.py", "tests/test_fuzz_inputs.py"]
START, END = "<!-- generated: reliability -->", "<!-- end of generated reliability -->"


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", *TESTS],
            cwd=ROOT,
            env={**os.environ, "RELIABILITY_COUNTS": folder},
        )
        totals: Counter[str] = Counter()
        for path in Path(folder).glob("*.json"):
            totals.update(json.loads(path.read_text()))
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


if __name__ == "__main__":
    raise SystemExit(main())
