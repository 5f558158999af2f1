"""Preparing a live-update bundle locally: a deterministic zip (streamed to a temporary file), or
the file list and manifest of manifest mode, each with its SHA-256 and optional RSA signature.

Nothing is written into the user's folder, and no file is ever held in memory whole.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import mimetypes
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from capawesome_ci.errors import InputError, LocalIOError
from capawesome_ci.platform import BundleUpload

MANIFEST_NAME = "capawesome-live-update-manifest.json"
IGNORED_NAMES = frozenset({".DS_Store", MANIFEST_NAME})
# Fixed entry time (the earliest a zip can hold): the same folder always gives the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
READ_CHUNK = 1 << 20
COMPRESSION_PROBE = 64 * 1024
# `C:` at the start of a member name: a Windows drive, absolute wherever the zip is unpacked.
_DRIVE = re.compile(r"^[A-Za-z]:")
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as error:
        raise LocalIOError(f"cannot read {path}: {error.strerror or error}") from None
    return digest.hexdigest(), size


def bundle_files(folder: Path, warn: Callable[[str], None]) -> list[tuple[Path, str]]:
    """The files of the bundle as (path to read, href with /), sorted by href; an index.html at the
    root is required. Symlinks follow `readable_source`'s rule, for the zip and manifest modes alike."""
    found: list[tuple[Path, str]] = []
    real_folder = folder.resolve()
    source_maps = 0

    def unreadable(error: OSError) -> None:  # os.walk would skip the folder silently
        raise LocalIOError(f"cannot read {error.filename}: {error.strerror or error}")

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            path = Path(root) / name
            href = path.relative_to(folder).as_posix()
            if name in IGNORED_NAMES:
                continue
            source = readable_source(path, real_folder)
            if source is None:
                warn(f"skipping {href}: not a regular file")
                continue
            source_maps += name.endswith(".map")
            found.append((source, href))
    if "index.html" not in {href for _, href in found}:
        raise InputError(f"{folder} has no index.html (is it the web build output?)", field="path")
    if source_maps:
        warn(f"the bundle contains {source_maps} source map(s) (*.map): they ship to every device")
    return sorted(found, key=lambda item: item[1])


def readable_source(path: Path, real_folder: Path) -> Path | None:
    """What to read for `path`: itself when it is a regular file, None for a FIFO, socket or device
    (skipped: reading a FIFO would block). A symlink is read as its target when that is a regular
    file inside the folder — what a web server serving the folder shows, and what the device
    needs, since the zip stores no links. Any other symlink is refused: one leading out of the
    folder could publish a file never meant to ship (an .env, a key), and skipping it would ship
    a bundle that breaks on devices instead of here."""
    try:
        if not path.is_symlink():
            return path if stat.S_ISREG(path.lstat().st_mode) else None
        try:
            target = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError):  # dangling, or a loop (RuntimeError before 3.13)
            raise InputError(f"{path} is a broken symlink", field="path") from None
        if not target.is_relative_to(real_folder):
            raise InputError(
                f"{path} is a symlink to {target}, outside the folder; copy the file in instead", field="path"
            )
        mode = target.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a special file"
            raise InputError(f"{path} is a symlink to {kind}; copy the files in instead", field="path")
        return target
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(f"{path} is a broken symlink", field="path") from None
        raise LocalIOError(f"cannot read {path}: {error.strerror or error}") from None


def write_zip(folder: Path, target: Path, warn: Callable[[str], None]) -> None:
    """Entries sorted, fixed timestamps, external attributes 0 (Android's unzip library fails on
    read-only directory modes), DOS as the creating system: byte-identical for the same folder."""
    zip_files(folder, bundle_files(folder, warn), target, keep_modes=False)


def zip_files(folder: Path, files: list[tuple[Path, str]], target: Path, *, keep_modes: bool) -> None:
    """Write `files` (path to read, entry name) into `target`, streamed, with fixed timestamps.
    Without `keep_modes` every entry's attributes are 0 and DOS is the creating system; with it
    (build sources: gradlew must stay executable) a Unix 0o644 or 0o755, nothing else of the mode,
    so the same tree still gives the same bytes. A file that vanishes or cannot be read meanwhile is
    a LocalIOError (the caller's temporary folder takes the half-written zip away)."""
    href = ""
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path, href in files:
                with path.open("rb") as source:
                    info = zipfile.ZipInfo(href, date_time=ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED if worth_compressing(source) else zipfile.ZIP_STORED
                    status = os.fstat(source.fileno())
                    info.create_system = 3 if keep_modes else 0
                    mode = stat.S_IFREG | (0o755 if status.st_mode & 0o111 else 0o644)
                    large = status.st_size >= zipfile.ZIP64_LIMIT  # zip64 only where needed
                    with archive.open(info, "w", force_zip64=large) as entry:
                        while chunk := source.read(READ_CHUNK):
                            entry.write(chunk)
                # zipfile sets 0o600 while writing; the central directory is written at close.
                info.external_attr = mode << 16 if keep_modes else 0
    except OSError as error:
        where = error.filename or href or target
        raise LocalIOError(f"cannot zip {folder}: {where}: {error.strerror or error}") from None


def worth_compressing(source: BinaryIO) -> bool:
    """Deflate spends seconds per hundred MiB on data it cannot shrink (images, fonts, media,
    archives): judge by the first 64 KiB, so the same file always gets the same choice."""
    sample = source.read(COMPRESSION_PROBE)
    source.seek(0)
    return len(sample) < 1024 or len(zlib.compress(sample, 1)) < len(sample) * 0.9


def zip_entries(path: Path) -> list[zipfile.ZipInfo]:
    """The entries of the zip `path`; not a zip is an input error."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except OSError as error:
        raise LocalIOError(f"cannot read {path}: {error.strerror or error}") from None
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise InputError(f"{path} is not a valid zip ({error})", field="path") from None


def check_zip(path: Path) -> None:
    """An existing .zip is uploaded unchanged, so it must already be a bundle the device can unpack
    safely: index.html at its root, no entry that would land outside the bundle folder, no links."""
    entries = zip_entries(path)
    for entry in entries:
        name = entry.filename
        if name.startswith("/") or "\\" in name or _DRIVE.match(name) or ".." in name.split("/"):
            raise InputError(f"{path} has an entry {name!r} that points outside the bundle", field="path")
        if entry.create_system == 3 and stat.S_ISLNK(entry.external_attr >> 16):
            raise InputError(f"{path} has a symlink entry {name!r}; zip the files themselves", field="path")
    if "index.html" not in {entry.filename for entry in entries}:
        raise InputError(f"{path} has no index.html at its root", field="path")


def manifest_entries(files: list[BundleUpload]) -> bytes:
    entries = [{"href": f.href, "checksum": f.checksum, "sizeInBytes": f.size} for f in files]
    return json.dumps(entries, indent=2).encode()


def mime_type_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# -- signing --------------------------------------------------------------------------------------
def normalise_pem(text: str) -> bytes:
    """Accept a PEM with its line breaks lost (one line, or spaces instead of newlines): CI
    secrets often arrive that way."""
    text = text.strip().replace("\\n", "\n")
    match = _PEM.search(text)
    if match is None:
        raise InputError("invalid private key: not a PEM key (-----BEGIN … PRIVATE KEY-----)")
    label, body = match.group(1), match.group(2)
    headers: list[str] = []
    if "Proc-Type:" in body:  # traditional encrypted PEM: keep its header lines
        lines = [line.strip() for line in body.strip().splitlines()]
        headers = [line for line in lines if ":" in line]
        body = "".join(line for line in lines if line and ":" not in line)
    compact = "".join(body.split())
    wrapped = "\n".join(compact[i : i + 64] for i in range(0, len(compact), 64))
    head = "\n".join(headers) + "\n\n" if headers else ""
    return f"-----BEGIN {label}-----\n{head}{wrapped}\n-----END {label}-----\n".encode()


def load_private_key(pem_text: str, passphrase: str | None) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(normalise_pem(pem_text), password=passphrase.encode() if passphrase else None)
    except TypeError:
        raise InputError(
            "invalid private key: it is encrypted; set CAPAWESOME_PRIVATE_KEY_PASSPHRASE"
            if not passphrase
            else "invalid private key: it is not encrypted, but a passphrase was given"
        ) from None
    except ValueError:
        raise InputError("invalid private key: wrong passphrase, or not a valid PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError("invalid private key: Capawesome Cloud signatures need an RSA key")
    return key


def sign_digest(key: Any, hex_digest: str) -> str:
    """RSASSA-PKCS1-v1_5 with SHA-256, base64: `openssl dgst -sha256 -sign key.pem FILE | base64 -w0`,
    computed from the streamed digest so the file is never read twice nor held in memory."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    signature = key.sign(bytes.fromhex(hex_digest), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    return base64.b64encode(signature).decode()
