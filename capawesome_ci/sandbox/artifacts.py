"""Deterministic artifact bytes of any size, generated on the fly (several GiB never sit in memory).

Byte `p` of an artifact is `block[p % len(block)]`, the block being 1 MiB of SHAKE-256 output of
the artifact's seed: any byte range can be produced directly, which is what Range requests need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache

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
