"""Secrets never shown: every registered secret, and each of its lines, becomes ***."""

from __future__ import annotations

from collections.abc import Iterator

# Shorter pieces are not masked: a 5-letter passphrase such as "wrong" would turn every such word of
# every message into *** (and show where it occurs). 8 is also GitLab's minimum for a masked variable.
# Tokens and key lines are far longer, so they are always masked.
MIN_SECRET_CHARS = 8


class SecretRedactor:
    """Replaces every registered secret (and each line of a multi-line one) with ***."""

    def __init__(self, min_chars: int = MIN_SECRET_CHARS) -> None:
        self._secrets: list[str] = []
        self._min_chars = min_chars

    def add(self, secret: str) -> Iterator[str]:
        """Register `secret`; yields the pieces newly registered (for platform mask commands)."""
        pieces = [secret.strip(), *(line.strip() for line in secret.splitlines())]
        for piece in pieces:
            # PEM armour lines (-----BEGIN PRIVATE KEY-----) are public text, not part of the secret.
            armour = "\n" not in piece and piece.startswith("-----") and piece.endswith("-----")
            if len(piece) >= self._min_chars and not armour and piece not in self._secrets:
                self._secrets.append(piece)
                yield piece
        self._secrets.sort(key=len, reverse=True)

    def register(self, secret: str) -> None:
        """`add` for a caller that sends no mask commands."""
        for _ in self.add(secret):
            pass

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text
