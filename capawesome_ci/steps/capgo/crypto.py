"""Capgo's v2 bundle encryption, byte for byte as `@capgo/cli` (cli/src/api/crypto.ts) does it:

- the zip is encrypted with AES-128-CBC (PKCS#7 padding) under a random 16-byte session key and IV;
- `session_key` = "{IV base64}:{session key RSA-encrypted with the *private* key, base64}" — Node's
  `privateEncrypt` with PKCS#1 v1.5 padding (block type 1), which the updater plugin undoes with the
  public key it ships (`publicDecrypt`);
- the checksum is the SHA-256 hex of the *plain* zip, then `privateEncrypt`-ed the same way, as hex
  (the CLI's `encryptChecksumV3`, for updater 5.30.0+, 6.30.0+, 7.30.0+; older plugins are not served);
- `key_id` is the first 20 base64 characters of the PKCS#1 public key (the CLI's `calcKeyId`).

`cryptography` offers no raw private-key encryption (its PKCS#1 v1.5 signatures add a DigestInfo the
plugin would not strip), so that one operation is the textbook RSA private operation on a padded block.
The key comes from a file or a variable, is masked before use, and is never printed.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capawesome_ci.errors import InputError, LocalIOError
from capawesome_ci.steps.bundle import normalise_pem

CHUNK = 1 << 20
SESSION_KEY_BYTES = 16  # AES-128
IV_BYTES = 16
KEY_ID_CHARS = 20


@dataclass(frozen=True)
class EncryptedBundle:
    session_key: str
    key_id: str
    checksum: str  # the encrypted checksum Capgo stores and the plugin checks


def load_key(pem_text: str, source: str) -> Any:
    """The RSA private key `capgo key create` writes (PKCS#1 PEM; PKCS#8 accepted)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(normalise_pem(pem_text), password=None)
    except InputError:
        raise InputError(f"{source} is not a PEM private key (-----BEGIN RSA PRIVATE KEY-----)") from None
    except (TypeError, ValueError):
        raise InputError(f"{source} is not a usable private key (Capgo keys are unencrypted RSA PEM)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(f"{source} is not an RSA key: Capgo's encryption needs the key `capgo key create` writes")
    return key


def private_encrypt(key: Any, data: bytes) -> bytes:
    """Node's `privateEncrypt(key, data)` with RSA_PKCS1_PADDING (what Capgo's CLI does to the session
    key): a PKCS#1 v1.5 signature of the raw bytes, with no DigestInfo around them."""
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo

    if len(data) > key.key_size // 8 - 11:
        raise InputError("the encryption key is too small for Capgo's session key")
    signature: bytes = key.sign(data, PKCS1v15(), NoDigestInfo())
    return signature


def key_id(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.PKCS1).decode()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return body[:KEY_ID_CHARS]


def encrypt_bundle(key: Any, source: Path, target: Path, plain_checksum: str) -> EncryptedBundle:
    """Write the encrypted `source` to `target`, streamed (constant memory)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    session = os.urandom(SESSION_KEY_BYTES)
    iv = os.urandom(IV_BYTES)
    encryptor = Cipher(algorithms.AES(session), modes.CBC(iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    try:
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(CHUNK):
                writer.write(encryptor.update(padder.update(chunk)))
            writer.write(encryptor.update(padder.finalize()) + encryptor.finalize())
    except OSError as error:
        raise LocalIOError(f"cannot encrypt {source}: {error.strerror or error}") from None
    wrapped = base64.b64encode(private_encrypt(key, session)).decode()
    return EncryptedBundle(
        session_key=f"{base64.b64encode(iv).decode()}:{wrapped}",
        key_id=key_id(key),
        checksum=private_encrypt(key, bytes.fromhex(plain_checksum)).hex(),
    )
