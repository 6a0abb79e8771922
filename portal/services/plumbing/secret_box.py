"""Secrets the portal must read back (an authenticator app's key, a queued mail's body), kept encrypted.

AES-256-GCM under a key derived from SECRET_KEY with HKDF-SHA256, one key per purpose: a value
sealed for one purpose cannot be opened as another, and a copy of the database alone opens
nothing. A changed SECRET_KEY makes every sealed value unreadable (``SealedValueUnreadable``).
"""

import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

NONCE_BYTES = 12
VERSION = b"\x01"  # the first byte of every sealed value: how it was sealed


class SealedValueUnreadable(ValueError):
    """The value was sealed under another key or purpose, or has been altered."""


@cache
def _cipher(secret_key: str, purpose: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"portal:{purpose}".encode()).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def seal(plaintext: bytes, purpose: str) -> bytes:
    """``plaintext`` encrypted and authenticated for ``purpose``."""
    nonce = os.urandom(NONCE_BYTES)
    cipher = _cipher(current_app.config["SECRET_KEY"], purpose)
    return VERSION + nonce + cipher.encrypt(nonce, plaintext, purpose.encode())


def open_sealed(sealed: bytes, purpose: str) -> bytes:
    """The plaintext of a value ``seal`` made for ``purpose``; SealedValueUnreadable otherwise."""
    if not sealed or sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise SealedValueUnreadable("Not a sealed value.")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return _cipher(current_app.config["SECRET_KEY"], purpose).decrypt(nonce, ciphertext, purpose.encode())
    except InvalidTag:
        raise SealedValueUnreadable("The value cannot be opened with this key and purpose.") from None
