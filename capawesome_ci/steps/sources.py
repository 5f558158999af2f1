"""Zipping a project's source tree for a build from local sources (`build --path DIR`), the way the
official CLI's `apps:builds:create --path` does: every file (dotfiles included) except what the
tree's `.gitignore` files ignore, the folders the CLI always leaves out, and the user's `--exclude`
patterns. Ignored folders are never walked (a node_modules of 100 000 files costs nothing), files
are streamed into the zip, and the same tree always gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from capawesome_ci.errors import InputError, LocalIOError
from capawesome_ci.steps.bundle import readable_source, zip_files

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

# What the official CLI leaves out whatever the .gitignore files say (its `zipFolderWithGitignore`),
# except that `.git` is left out at any depth (a nested repository's history never ships either).
ALWAYS_EXCLUDED = (
    ".git",
    "node_modules/",
    "**/ios/DerivedData/",
    "**/ios/Pods/",
    "**/ios/build/",
    "**/android/build/",
    "**/android/.gradle/",
    "**/android/app/build/",
)
IGNORE_FILE = ".gitignore"


def ignore_spec(lines: Iterable[str]) -> GitIgnoreSpec:
    """Patterns in .gitignore syntax; a line git cannot read either (`!` alone, a trailing
    backslash) is skipped, as git skips it."""
    from pathspec import GitIgnoreSpec  # 50 ms: only for builds from local sources

    valid = []
    for line in lines:
        try:
            GitIgnoreSpec.from_lines([line])
        except ValueError:
            continue
        valid.append(line)
    return GitIgnoreSpec.from_lines(valid)


def check_excludes(patterns: list[str]) -> None:
    """`--exclude` patterns are the user's own: one that means nothing is an error, not skipped."""
    from pathspec import GitIgnoreSpec

    for pattern in patterns:
        try:
            GitIgnoreSpec.from_lines([pattern])
        except ValueError:
            raise InputError(f"{pattern!r} is not a .gitignore-style pattern", field="exclude") from None


def _parent(relative: str) -> str:
    """'a/b/c' → 'a/b/', 'c' → '': the key of the folder holding `relative`."""
    return relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""


class _Ignored:
    """Git's rules: the deepest .gitignore with a matching pattern decides (its last matching line,
    so `!` re-includes); a folder left out is not walked, so nothing inside it can come back. The
    fixed exclusions and `--exclude` apply first and no .gitignore can undo them."""

    def __init__(self, excludes: list[str]) -> None:
        self._fixed = (ignore_spec(ALWAYS_EXCLUDED), ignore_spec(excludes))
        self._nested: dict[str, list[tuple[str, GitIgnoreSpec]]] = {"": []}

    def enter(self, folder: Path, relative: str) -> None:
        """Note the .gitignore of `folder` (`relative` to the root: '' or 'a/b/') for its contents."""
        specs = list(self._nested[_parent(relative.rstrip("/"))]) if relative else []
        ignore_file = folder / IGNORE_FILE
        try:
            if ignore_file.is_file():
                with ignore_file.open(encoding="utf-8", errors="replace") as handle:
                    specs.append((relative, ignore_spec(handle)))
        except OSError as error:
            raise LocalIOError(f"cannot read {ignore_file}: {error.strerror or error}") from None
        self._nested[relative] = specs

    def __call__(self, relative: str, is_folder: bool) -> bool:
        name = relative + "/" if is_folder else relative
        if any(spec.match_file(name) for spec in self._fixed):
            return True
        for base, spec in reversed(self._nested[_parent(relative)]):
            verdict = spec.check_file(name[len(base) :]).include
            if verdict is not None:
                return verdict
        return False


def source_files(folder: Path, excludes: list[str], warn: Callable[[str], None]) -> list[tuple[Path, str]]:
    """The files to ship as (path to read, entry name with /), sorted by name. Symlinks follow
    bundle.py's `readable_source` rule; FIFOs, sockets and devices are skipped with a warning."""
    real_folder = folder.resolve()
    ignored = _Ignored(excludes)
    found: list[tuple[Path, str]] = []

    def unreadable(error: OSError) -> None:  # os.walk would skip the folder silently
        raise LocalIOError(f"cannot read {error.filename}: {error.strerror or error}")

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        here = Path(root)
        relative = here.relative_to(folder).as_posix()
        prefix = "" if relative == "." else relative + "/"
        ignored.enter(here, prefix)
        walked: list[str] = []
        for name in sorted(dirs):
            linked = (here / name).is_symlink()  # os.walk does not follow it: the symlink rule decides
            if not ignored(prefix + name, is_folder=not linked):
                (files if linked else walked).append(name)
        dirs[:] = walked
        for name in sorted(files):
            entry_name = prefix + name
            path = here / name
            if ignored(entry_name, is_folder=False):
                continue
            try:
                entry_name.encode("utf-8")
            except UnicodeEncodeError:  # a name the zip (and the build runner) cannot carry
                raise InputError(f"{path!r} has a name that is not valid UTF-8; rename it", field="path") from None
            source = readable_source(path, real_folder)
            if source is None:
                warn(f"skipping {entry_name}: not a regular file")
                continue
            found.append((source, entry_name))
    return sorted(found, key=lambda item: item[1])


def check_source_folder(folder: Path) -> None:
    """What the official CLI checks before zipping: a project folder, with its package.json."""
    if not (folder / "package.json").is_file():
        raise InputError(f"{folder} has no package.json (is it the project's root folder?)", field="path")


def write_source_zip(folder: Path, target: Path, excludes: list[str], warn: Callable[[str], None]) -> int:
    """Zip the source tree into `target` (file modes kept: gradlew must stay executable); the
    number of files."""
    files = source_files(folder, excludes, warn)
    zip_files(folder, files, target, keep_modes=True)
    return len(files)
