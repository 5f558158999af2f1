"""Artifact bytes, streamed in slices so several GiB never sit in memory: generated on the fly for
builds, read from disk for uploaded bundles.

Raw bytes: byte `p` is `block[p % len(block)]`, the block being 1 MiB of SHAKE-256 output of the
artifact's seed, so any byte range can be produced directly, which is what Range requests need.

Build artifacts are real files of their type (`KINDS`): a ZIP container (web zip, apk, aab, ipa,
dSYM, simulator app) whose small entries (`index.html`, `AndroidManifest.xml`, `Info.plist`, …) come
first, then one STORED entry of raw bytes that pads the file to exactly its size, then the central
directory. The pad's CRC-32 is computed without reading the pad (CRC-32 of a repeated block, by
`crc32_combine`), so the headers are known before the first byte and a Range anywhere in the file
costs nothing more than the slice itself. A size too small for the container gets the raw bytes.

`remember_kind(seed, kind)` records which kind a seed generates (the sandbox does so when an
artifact appears), so `artifact_chunks(seed, size)` and `artifact_sha256(seed, size)` answer for
that artifact without being told its type.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

BLOCK_SIZE = 1 << 20
ZIP64_LIMIT = 0xFFFFFFFF
_DOS_TIME, _DOS_DATE = 0, (2026 - 1980) << 9 | 1 << 5 | 1  # 2026-01-01 00:00
_KINDS: dict[str, str] = {}  # seed → container kind (see `remember_kind`)


@lru_cache(maxsize=8)
def _block(seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(BLOCK_SIZE)


def _raw_chunks(seed: str, size: int, start: int, end: int | None) -> Iterator[bytes]:
    block = memoryview(_block(seed))
    stop = size if end is None else min(end, size)
    position = start
    while position < stop:
        offset = position % BLOCK_SIZE
        length = min(BLOCK_SIZE - offset, stop - position)
        yield bytes(block[offset : offset + length])
        position += length


# -- CRC-32 of a long run of raw bytes, without reading them -----------------------------------
def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of `a + b` from CRC-32 of `a`, of `b` and `len(b)` (zlib's crc32_combine)."""
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def _raw_crc32(seed: str, size: int) -> int:
    """CRC-32 of the first `size` raw bytes of `seed`: whole blocks by doubling, then the rest."""
    block = _block(seed)
    whole, rest = divmod(size, BLOCK_SIZE)
    crc, power, power_length = 0, zlib.crc32(block), BLOCK_SIZE
    while whole:
        if whole & 1:
            crc = crc32_combine(crc, power, power_length)
        power, power_length = crc32_combine(power, power, power_length), power_length * 2
        whole >>= 1
    return crc32_combine(crc, zlib.crc32(block[:rest]), rest)


# -- the containers ----------------------------------------------------------------------------
def _page(title: str, token: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="stylesheet" href="assets/index.css">\n'
        f'<script type="module" src="assets/index.js" data-build="{token}"></script>\n'
        '</head>\n<body>\n<div id="app"></div>\n</body>\n</html>\n'
    ).encode()


def _plist(token: str, **values: str) -> bytes:
    entries = "".join(f"\t<key>{key}</key>\n\t<string>{value}</string>\n" for key, value in values.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        f'<plist version="1.0">\n<dict>\n{entries}\t<key>CapawesomeBuild</key>\n\t<string>{token}</string>\n'
        "</dict>\n</plist>\n"
    ).encode()


def _manifest(token: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.example.app"\n'
        f'    android:versionCode="1" android:versionName="1.0.0-{token}">\n'
        '  <application android:label="Demo App">\n'
        '    <activity android:name=".MainActivity" android:exported="true">\n'
        "      <intent-filter>\n"
        '        <action android:name="android.intent.action.MAIN" />\n'
        '        <category android:name="android.intent.category.LAUNCHER" />\n'
        "      </intent-filter>\n    </activity>\n  </application>\n</manifest>\n"
    ).encode()


_SCRIPT = b'import "./index.css";\ndocument.getElementById("app").textContent = "Demo App";\n'
_STYLE = b"body { margin: 0; font-family: system-ui, sans-serif; }\n"
_SIGNED = b"Manifest-Version: 1.0\nCreated-By: 1.0 (Android)\n"


def _entries(kind: str, token: str) -> tuple[list[tuple[str, bytes]], str]:
    """The small entries of a container, and the name of its pad entry (which comes last)."""
    page = _page("Demo App", token)
    web = [("index.html", page), ("assets/index.js", _SCRIPT), ("assets/index.css", _STYLE)]
    app_plist = _plist(token, CFBundleIdentifier="com.example.app", CFBundleExecutable="App", CFBundleName="App")
    if kind == "apk":
        entries = [
            ("AndroidManifest.xml", _manifest(token)),
            ("classes.dex", b"dex\n035\x00" + token.encode()),
            ("resources.arsc", b"\x02\x00\x0c\x00" + token.encode()),
            ("res/values/strings.xml", b'<resources><string name="app_name">Demo App</string></resources>\n'),
            *[(f"assets/public/{name}", data) for name, data in web],
            ("META-INF/MANIFEST.MF", _SIGNED),
            ("META-INF/CERT.SF", b"Signature-Version: 1.0\n"),
            ("META-INF/CERT.RSA", b"0\x82" + token.encode()),
        ]
        return entries, "assets/public/assets/media.bin"
    if kind == "aab":
        entries = [
            ("BundleConfig.pb", b"\n\x05\n\x031.0" + token.encode()),
            ("base/manifest/AndroidManifest.xml", _manifest(token)),
            ("base/dex/classes.dex", b"dex\n035\x00" + token.encode()),
            ("base/resources.pb", b"\n\x0fcom.example.app"),
            *[(f"base/assets/public/{name}", data) for name, data in web],
            ("META-INF/MANIFEST.MF", _SIGNED),
        ]
        return entries, "base/assets/public/assets/media.bin"
    if kind in ("ipa", "app"):
        root = "Payload/App.app" if kind == "ipa" else "App.app"
        entries = [
            (f"{root}/Info.plist", app_plist),
            (f"{root}/App", b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01" + token.encode()),
            (f"{root}/_CodeSignature/CodeResources", _plist(token)),
            *[(f"{root}/public/{name}", data) for name, data in web],
        ]
        if kind == "ipa":
            entries.insert(2, (f"{root}/embedded.mobileprovision", b"0\x80" + token.encode()))
        return entries, f"{root}/public/assets/media.bin"
    if kind == "dsym":
        info = _plist(token, CFBundleIdentifier="com.apple.xcode.dsym.com.example.app")
        return [("App.app.dSYM/Contents/Info.plist", info)], "App.app.dSYM/Contents/Resources/DWARF/App"
    return web, "assets/media.bin"  # "zip": a web build


KINDS = ("zip", "apk", "aab", "ipa", "dsym", "app")


def _local_header(name: bytes, crc: int, size: int, zip64: bool) -> bytes:
    extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
    stored = ZIP64_LIMIT if zip64 else size
    version = 45 if zip64 else 20
    fields = (0x04034B50, version, 0, 0, _DOS_TIME, _DOS_DATE, crc, stored, stored, len(name), len(extra))
    return struct.pack("<IHHHHHIIIHH", *fields) + name + extra


def _central_header(name: bytes, crc: int, size: int, offset: int, zip64: bool) -> bytes:
    extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
    stored = ZIP64_LIMIT if zip64 else size
    version = 45 if zip64 else 20
    fixed = (0x02014B50, 0x0300 | version, version, 0, 0, _DOS_TIME, _DOS_DATE, crc, stored, stored)
    variable = (len(name), len(extra), 0, 0, 0, 0o100644 << 16, offset)
    return struct.pack("<IHHHHHHIIIHHHHHII", *fixed, *variable) + name + extra


@lru_cache(maxsize=64)
def _layout(kind: str, seed: str, size: int) -> tuple[bytes, int, bytes] | None:
    """(everything before the pad's bytes, the pad's length, everything after), or None when
    `size` is too small for the container."""
    token = hashlib.sha256(seed.encode()).hexdigest()[:12]
    entries, pad_name = _entries(kind, token)
    prefix, central = bytearray(), bytearray()
    for name, data in entries:
        crc = zlib.crc32(data)
        central += _central_header(name.encode(), crc, len(data), len(prefix), False)
        prefix += _local_header(name.encode(), crc, len(data), False) + data
    zip64 = size >= ZIP64_LIMIT - 4096  # the pad, or the central directory's offset, passes 4 GiB
    pad_offset, pad = len(prefix), pad_name.encode()
    count = len(entries) + 1
    end_length = 22 + (56 + 20 if zip64 else 0)
    overhead = len(_local_header(pad, 0, 0, zip64)) + len(central) + len(_central_header(pad, 0, 0, 0, zip64))
    pad_length = size - len(prefix) - overhead - end_length
    if pad_length < 0:
        return None
    crc = _raw_crc32(seed, pad_length)
    prefix += _local_header(pad, crc, pad_length, zip64)
    central += _central_header(pad, crc, pad_length, pad_offset, zip64)
    central_offset = len(prefix) + pad_length
    suffix = bytes(central)
    if zip64:
        record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), central_offset)
        locator = struct.pack("<IIQI", 0x07064B50, 0, central_offset + len(central), 1)
        suffix += record + locator
        limited = ZIP64_LIMIT
    else:
        limited = central_offset
    suffix += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), limited, 0)
    assert len(prefix) + pad_length + len(suffix) == size
    return bytes(prefix), pad_length, suffix


def remember_kind(seed: str, kind: str) -> None:
    """Generate the artifact of `seed` as a `kind` container (one of `KINDS`) from now on."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    _KINDS[seed] = kind


def artifact_kind(artifact_type: str, file_name: str) -> str:
    """The container a build artifact of this type and file name is: the iOS simulator's
    `App.app.zip` is an app, other zips are web builds."""
    if artifact_type == "zip" and file_name.startswith("App.app"):
        return "app"
    return artifact_type if artifact_type in KINDS else "zip"


def artifact_chunks(seed: str, size: int, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes `start` to `end` (exclusive; default: the end) in slices of at most 1 MiB: the
    container `remember_kind` named for `seed`, else raw bytes."""
    kind = _KINDS.get(seed)
    layout = _layout(kind, seed, size) if kind is not None else None
    if layout is None:
        yield from _raw_chunks(seed, size, start, end)
        return
    prefix, pad_length, suffix = layout
    stop = size if end is None else min(end, size)
    if start < len(prefix):
        yield prefix[start : min(stop, len(prefix))]
    pad_start = len(prefix)
    if start < pad_start + pad_length and stop > pad_start:
        yield from _raw_chunks(seed, pad_length, max(0, start - pad_start), stop - pad_start)
    suffix_start = pad_start + pad_length
    if stop > suffix_start:
        yield suffix[max(0, start - suffix_start) : stop - suffix_start]


def artifact_sha256(seed: str, size: int) -> str:
    digest = hashlib.sha256()
    for chunk in artifact_chunks(seed, size):
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    """Bytes `start` to `end` (exclusive) of a stored file (an uploaded bundle) in slices of at most
    1 MiB. The file is opened now, while the state lock is held: a bundle deleted mid-download
    still streams to the end."""
    handle = path.open("rb")
    handle.seek(start)

    def chunks() -> Iterator[bytes]:
        with handle:
            remaining = end - start
            while remaining > 0 and (chunk := handle.read(min(BLOCK_SIZE, remaining))):
                remaining -= len(chunk)
                yield chunk

    return chunks()
