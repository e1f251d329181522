"""Public identifiers: prefixed random strings (``cus_…``), never bare database keys.

Random rather than sequential so ids reveal neither volume nor order, and so that records created
on different API processes never collide without coordination.
"""

from __future__ import annotations

import base64
import random
import secrets
from enum import StrEnum

# Crockford base32 without I, L, O, U: unambiguous when read aloud to a support agent.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 16
RETURN_NUMBER_ALPHABET = ALPHABET.upper()
RETURN_NUMBER_LENGTH = 8
# Five random bits per character: base32 of fresh bytes, mapped onto our alphabet, costs one
# urandom call per id instead of one per character (ids are minted on every webhook and event).
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())
_ID_BYTES = ID_LENGTH * 5 // 8


class Prefix(StrEnum):
    CUSTOMER = "cus"
    ORDER = "ord"
    ORDER_LINE = "lin"
    RETURN = "ret"
    RETURN_ITEM = "rti"
    NOTE = "not"
    ALLOWLIST = "alw"
    API_KEY = "key"
    EVENT = "evt"
    JOB = "job"
    INBOX = "inb"
    SUBSCRIPTION = "whs"
    RETURN_AUTHORIZATION = "ra"
    RECEIPT = "rcp"
    CONVERSATION = "cnv"
    IMPORT = "imp"


def new_id(prefix: Prefix, rng: random.Random | None = None) -> str:
    """A fresh public id; pass ``rng`` for deterministic ids (the demo data)."""
    if rng is None:
        body = base64.b32encode(secrets.token_bytes(_ID_BYTES)).translate(_FROM_RFC4648).decode()
    else:
        body = "".join(rng.choices(ALPHABET, k=ID_LENGTH))
    return f"{prefix}_{body}"


def new_ids(prefix: Prefix, count: int) -> list[str]:
    """``count`` fresh public ids at once, for bulk imports: one urandom call and one encoding
    for them all."""
    body = base64.b32encode(secrets.token_bytes(_ID_BYTES * count)).translate(_FROM_RFC4648)
    text = body.decode()
    return [f"{prefix}_{text[i : i + ID_LENGTH]}" for i in range(0, ID_LENGTH * count, ID_LENGTH)]


def new_return_number(rng: random.Random | None = None) -> str:
    """The customer-facing RMA number, e.g. ``RMA-7K3QX9A2``."""
    if rng is None:
        body = "".join(secrets.choice(RETURN_NUMBER_ALPHABET) for _ in range(RETURN_NUMBER_LENGTH))
    else:
        body = "".join(rng.choices(RETURN_NUMBER_ALPHABET, k=RETURN_NUMBER_LENGTH))
    return f"RMA-{body}"


def has_prefix(value: str, prefix: Prefix) -> bool:
    return value.startswith(f"{prefix}_") and len(value) == len(prefix) + 1 + ID_LENGTH
