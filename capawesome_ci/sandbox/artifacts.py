"""Artifact bytes, streamed in slices so several GiB never sit in memory: generated on the fly for
builds, read from disk for uploaded bundles.

Byte `p` of a generated artifact is `block[p % len(block)]`, the block being 1 MiB of SHAKE-256
output of the artifact's seed: any byte range can be produced directly, which is what Range
requests need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

BLOCK_SIZE = 1 << 20


@lru_cache(maxsize=8)
def _block(seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(BLOCK_SIZE)


def artifact_chunks(seed: str, size: int, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes `start` to `end` (exclusive; default: the end) in slices of at most 1 MiB."""
    block = memoryview(_block(seed))
    stop = size if end is None else min(end, size)
    position = start
    while position < stop:
        offset = position % BLOCK_SIZE
        length = min(BLOCK_SIZE - offset, stop - position)
        yield bytes(block[offset : offset + length])
        position += length


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
