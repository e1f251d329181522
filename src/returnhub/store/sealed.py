"""Secrets the hub must keep readable (a webhook subscription's signing secret: every delivery is
signed with it) are stored sealed, not in plain text: AES-256-GCM under a key derived from
RETURNHUB_SECRET_KEY for this one purpose. A copy of the database alone then signs nothing.

Stored form: ``sealed:v1:`` + urlsafe base64 of a 12-byte nonce and the ciphertext with its tag.
A value without the prefix is a secret stored before sealing existed; it is read as it is, and
``returnhub migrate`` seals it. Rotating RETURNHUB_SECRET_KEY makes sealed values unreadable
(``SealedWithAnotherKey``), which the caller turns into an error that says what to do.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from returnhub.settings import Settings

PREFIX = "sealed:v1:"
PURPOSE = "webhook-subscription-secrets"


class SealedWithAnotherKey(Exception):
    """The value was sealed under a different RETURNHUB_SECRET_KEY (or was altered)."""


def _cipher(settings: Settings) -> AESGCM:
    return _cipher_for(settings.purpose_key(PURPOSE))


@lru_cache(maxsize=4)
def _cipher_for(key: bytes) -> AESGCM:
    # Every webhook delivery unseals its secret: build the cipher once per key, not per job.
    return AESGCM(key)


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal(settings: Settings, plaintext: str) -> str:
    nonce = os.urandom(12)
    # The purpose is bound as associated data: a value sealed for another use never opens here.
    sealed = _cipher(settings).encrypt(nonce, plaintext.encode(), PURPOSE.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(settings: Settings, stored: str) -> str:
    if not is_sealed(stored):
        return stored  # stored before sealing existed; `returnhub migrate` seals it
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
        return _cipher(settings).decrypt(raw[:12], raw[12:], PURPOSE.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealedWithAnotherKey(
            "sealed under another RETURNHUB_SECRET_KEY (or altered)"
        ) from exc
