"""The package's imports point one way: no cycles, no upward imports across layers, no reaching into
another module's private names. Read from the source with `ast` (every import, top level or inside
a function, absolute or relative), so nothing needs importing.

Layers, lowest first:
  base      capawesome_ci (its __init__), errors, redact, deadline, text, platform, result, reporting,
            commands, providers, settings, naming, fields: may import each other (without cycles)
  siblings  capawesome_ci.cloud.*, .steps.*, .ci.*, .sandbox.*: base modules and their own folder
  runner    capawesome_ci.runner: anything above except cli and devtools
  front     capawesome_ci.cli, capawesome_ci.__main__
  devtools  capawesome_ci.devtools.*: may import anything; nothing imports it

Known violations are listed in the ALLOWED_* tables below, each with its reason; an entry that is
no longer needed fails the test too, so the tables only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "capawesome_ci"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

BASE = (
    "errors",
    "redact",
    "deadline",
    "text",
    "platform",
    "result",
    "reporting",
    "commands",
    "providers",
    "settings",
    "naming",
    "fields",
)
BASE_LATER: tuple[str, ...] = ()  # base once they exist
SIBLINGS = ("cloud", "steps", "ci", "sandbox")
RUNNER = ("runner",)
FRONT = ("cli", "__main__")
DEVTOOLS = ("devtools",)

# Known upward imports: (importer, imported) -> why it is still there.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}
# Known import cycles: the modules of the cycle -> why it is still there.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}
# Known private-name accesses across modules: (module, other module, name) -> why.
ALLOWED_PRIVATE: dict[tuple[str, str, str], str] = {}


def _present(*modules: str) -> bool:
    """An allow-list entry counts as stale only while its modules exist: an entry for a module that a
    move in flight has taken away (or not yet added) is skipped; remove it once the move is committed."""
    return all(module in MODULES for module in modules)


# -- reading the package --------------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


MODULES = package_modules()


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    type_checking: bool = False

    def __str__(self) -> str:
        path = MODULES[self.source].relative_to(ROOT.parent)
        return f"{self.source} -> {self.target} ({path}:{self.line})"


@dataclass(frozen=True)
class PrivateUse:
    source: str
    target: str
    name: str
    line: int

    def __str__(self) -> str:
        path = MODULES[self.source].relative_to(ROOT.parent)
        return f"{self.source} uses {self.target}.{self.name} ({path}:{self.line})"


def _resolve_relative(module: str, level: int, name: str | None) -> str:
    base = module.split(".") if is_package(module) else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _owning_module(name: str) -> str | None:
    """The package module `name` is, or the longest module it lies in (`a.b.c` -> `a.b` for a
    name `c` inside module `a.b`)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            named = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            )
            if named:
                for child in node.body:
                    for inner in ast.walk(child):
                        if hasattr(inner, "lineno"):
                            lines.add(inner.lineno)
    return lines


@dataclass
class ModuleImports:
    edges: list[Edge]
    private: list[PrivateUse]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def read_module(module: str) -> ModuleImports:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))
    guarded = _type_checking_lines(tree)
    edges: list[Edge] = []
    private: list[PrivateUse] = []
    # Local names bound to package modules, from every import in the file (any scope).
    aliases: dict[str, str] = {}

    def add(target: str | None, node: ast.stmt) -> None:
        edge = Edge(module, target or "", node.lineno, node.lineno in guarded)
        if target is not None and target != module and edge not in edges:
            edges.append(edge)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    add(_owning_module(alias.name), node)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[PACKAGE] = PACKAGE
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_relative(module, node.level, node.module) if node.level else (node.module or "")
            if source != PACKAGE and not source.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:  # `from package import module`
                    add(full, node)
                    aliases[alias.asname or alias.name] = full
                    continue
                owner = _owning_module(source)
                add(owner, node)
                if owner is not None and owner != module and _is_private(alias.name):
                    private.append(PrivateUse(module, owner, alias.name, node.lineno))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            target = _dotted_module(node.value, aliases)
            if target is not None and target != module:
                private.append(PrivateUse(module, target, node.attr, node.lineno))
    return ModuleImports(edges, private)


def _dotted_module(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The package module an expression such as `errors` or `capawesome_ci.cloud.api` names."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    name = ".".join([aliases[node.id], *reversed(parts)])
    return name if name in MODULES else None


IMPORTS = {module: read_module(module) for module in MODULES}


def all_edges() -> Iterator[Edge]:
    for imports in IMPORTS.values():
        yield from imports.edges


# -- layers ---------------------------------------------------------------------------------------
def layer_of(module: str) -> tuple[int, str]:
    """(rank, group): a module may import lower ranks, and its own rank only within its group
    (base modules form one group)."""
    if module == PACKAGE:
        return 0, "base"
    first = module.split(".")[1]
    if first in BASE or first in BASE_LATER:
        return 0, "base"
    if first in SIBLINGS:
        return 1, first
    if first in RUNNER:
        return 2, first
    if first in FRONT:
        return 3, "front"
    if first in DEVTOOLS:
        return 4, first
    raise AssertionError(f"{module} has no layer: add it to the layers in tests/test_layers.py")


def upward_edges() -> list[Edge]:
    found = []
    for edge in all_edges():
        (rank, group), (target_rank, target_group) = layer_of(edge.source), layer_of(edge.target)
        devtools = target_group == "devtools" and group != "devtools"
        if target_rank > rank or (target_rank == rank and target_group != group) or devtools:
            found.append(edge)
    return found


def cycles() -> list[tuple[frozenset[str], list[Edge]]]:
    """Strongly connected components of more than one module (runtime imports: an import under
    `if TYPE_CHECKING:` does not run)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for edge in all_edges():
        if not edge.type_checking:
            graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []
    counter = 0

    def visit(node: str) -> None:  # Tarjan's algorithm
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [
        (
            component,
            [e for e in all_edges() if e.source in component and e.target in component and not e.type_checking],
        )
        for component in components
    ]


def private_uses() -> list[PrivateUse]:
    return [use for imports in IMPORTS.values() for use in imports.private]


# -- the tests ------------------------------------------------------------------------------------
def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_upward_imports() -> None:
    found = upward_edges()
    unexpected = [str(edge) for edge in found if (edge.source, edge.target) not in ALLOWED_UPWARD]
    assert not unexpected, "imports against the layers (lowest first: base, siblings, runner, cli, devtools):\n" + (
        "\n".join(unexpected)
    )
    stale = sorted(set(filter(lambda key: _present(*key), ALLOWED_UPWARD)) - {(e.source, e.target) for e in found})
    assert not stale, f"fixed: remove from ALLOWED_UPWARD: {stale}"


def test_no_import_cycles() -> None:
    found = cycles()
    unexpected = [
        "cycle between " + ", ".join(sorted(component)) + ":\n  " + "\n  ".join(str(edge) for edge in edges)
        for component, edges in found
        if component not in ALLOWED_CYCLES
    ]
    assert not unexpected, "\n".join(unexpected)
    stale = [
        sorted(component)
        for component in set(ALLOWED_CYCLES) - {component for component, _ in found}
        if _present(*component)
    ]
    assert not stale, f"fixed: remove from ALLOWED_CYCLES: {stale}"


def test_no_module_reaches_into_another_modules_private_names() -> None:
    found = private_uses()
    unexpected = [str(use) for use in found if (use.source, use.target, use.name) not in ALLOWED_PRIVATE]
    assert not unexpected, "private names used across modules:\n" + "\n".join(unexpected)
    stale = sorted(
        {key for key in ALLOWED_PRIVATE if _present(key[0], key[1])} - {(u.source, u.target, u.name) for u in found}
    )
    assert not stale, f"fixed: remove from ALLOWED_PRIVATE: {stale}"


# -- the checker checks itself on a scratch package -----------------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import capawesome_ci.steps.wait", "capawesome_ci.steps.wait"),
        ("from capawesome_ci.steps import wait", "capawesome_ci.steps.wait"),
        ("from capawesome_ci.steps.wait import follow_job", "capawesome_ci.steps.wait"),
        ("def f():\n    from capawesome_ci import runner", "capawesome_ci.runner"),
        ("from . import runner", "capawesome_ci.runner"),
        ("from .steps.wait import follow_job", "capawesome_ci.steps.wait"),
    ],
)
def test_the_reader_sees_every_form_of_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str, expected: str
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source + "\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "capawesome_ci.probe", probe)
    targets = {edge.target for edge in read_module("capawesome_ci.probe").edges}
    assert targets == {expected}


@pytest.mark.parametrize(
    "source",
    [
        "from capawesome_ci.steps.wait import _cancel",
        "from capawesome_ci.steps import wait\nwait._cancel",
        "import capawesome_ci.steps.wait\ncapawesome_ci.steps.wait._cancel",
        "import capawesome_ci.steps.wait as w\nw._cancel",
    ],
)
def test_the_reader_sees_private_names_used_across_modules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source + "\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "capawesome_ci.probe", probe)
    uses = read_module("capawesome_ci.probe").private
    assert [(use.target, use.name) for use in uses] == [("capawesome_ci.steps.wait", "_cancel")]


def test_the_layer_rules() -> None:
    def upward(source: str, target: str) -> bool:
        (rank, group), (target_rank, target_group) = layer_of(source), layer_of(target)
        devtools = target_group == "devtools" and group != "devtools"
        return target_rank > rank or (target_rank == rank and target_group != group) or devtools

    assert not upward("capawesome_ci.steps.wait", "capawesome_ci.platform")
    assert not upward("capawesome_ci.steps.wait", "capawesome_ci.steps.context")
    assert upward("capawesome_ci.steps.wait", "capawesome_ci.cloud.api")
    assert upward("capawesome_ci.platform", "capawesome_ci.steps.context")
    assert upward("capawesome_ci.runner", "capawesome_ci.cli")
    assert not upward("capawesome_ci.runner", "capawesome_ci.ci.local")
    assert not upward("capawesome_ci.__main__", "capawesome_ci.cli")
    assert upward("capawesome_ci.cli", "capawesome_ci.devtools")
    assert not upward("capawesome_ci.devtools.action_yml", "capawesome_ci.cli")
