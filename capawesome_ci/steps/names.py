"""File names built from remote data: one sanitiser for every path component the server influences.

A name that comes out of `safe_name` is a single path component that is valid on Linux, macOS
and Windows, cannot climb out of its folder, carries no control or bidi characters (nothing that
breaks a line-separated output or disguises `gpj.exe` as `exe.jpg`) and fits the file system's
name limit together with the temporary name the download writes first.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# NAME_MAX is 255 bytes on ext4, APFS, btrfs, XFS and NTFS (255 UTF-16 units, never more than the
# UTF-8 bytes). The download first writes `.NAME.XXXXXXXX.part` (15 bytes more) and `unique_name`
# may add `-N`: 200 bytes leaves room for both, and for prefixes a later change may add.
MAX_NAME_BYTES = 200
# Names are cut in the encoding the OS uses for file names on every platform Python supports today.
ENCODING = "utf-8"
# Longer "extensions" are part of the name (`report.2024-final-version-for-review`), not a type.
MAX_EXTENSION_BYTES = 24
# Characters Windows refuses in names, and the separators of every OS.
_FORBIDDEN = frozenset('<>:"/\\|?*')
# Control (C0, DEL, C1 incl. U+0085), format (bidi overrides and isolates, zero-width characters,
# BOM), surrogates (not encodable) and line/paragraph separators (U+2028/2029).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Device names Windows opens instead of a file, with any extension and trailing blanks.
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[1-9¹²³])\s*(\..*)?$", re.IGNORECASE)


def _clean(text: str) -> str:
    return "".join(
        "_" if char in _FORBIDDEN or unicodedata.category(char) in _INVISIBLE_CATEGORIES else char for char in text
    )


def has_invisible(text: str) -> bool:
    """Whether `text` holds a character `safe_name` would replace as invisible (a control character,
    a bidi override, a line separator …): what no id or name typed by a user contains."""
    return any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in text)


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` that is at most `limit` bytes, cut at a character boundary."""
    return text.encode(ENCODING)[: max(limit, 0)].decode(ENCODING, "ignore")


def split_extension(name: str) -> tuple[str, str]:
    """('app-release', '.apk'); the whole name as stem when its last suffix is too long to be a type."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len((dot + ext).encode(ENCODING)) > MAX_EXTENSION_BYTES:
        return name, ""
    return stem, dot + ext


def fit_name(stem: str, tail: str) -> str:
    """`stem + tail` within MAX_NAME_BYTES, shortening the stem (never the tail: the extension).
    No trailing dot or blank: Windows drops them, so two names could meet on one file."""
    return (_cut(stem, MAX_NAME_BYTES - len(tail.encode(ENCODING))) + tail).rstrip(" .")


def safe_name(raw: Any, *, path: bool = True) -> str:
    """One safe path component from untrusted text, or "" when nothing usable (or a reserved device
    name) is left, so that the caller picks a fallback. Anything that is not a string counts as
    empty. With `path`, `raw` may name folders (in either OS's syntax) and only its last component
    counts: the folders a server names are not ours. Without, separators are replaced like any
    other unsafe character (for a name composed from several remote values)."""
    if not isinstance(raw, str):
        return ""
    if path:
        raw = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _clean(raw).strip(" .")
    if not name:
        return ""
    name = fit_name(*split_extension(name))
    return "" if _WINDOWS_RESERVED.match(name) else name


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`, … when a name equal to it on a case-insensitive file
    system (or after macOS's Unicode normalisation) is taken; records the result in `taken`."""
    stem, ext = split_extension(name)
    candidate, counter = name, 2
    while _fold(candidate) in taken:
        candidate = fit_name(stem, f"-{counter}{ext}")
        counter += 1
    taken.add(_fold(candidate))
    return candidate


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()
