"""How guessable a secret looks: a rough estimate in bits, to refuse placeholders in production.

Not a password meter: it catches what people type when a setting insists on a value (``aaaa…``,
``abcd…``, ``1234…``, one word repeated) and lets through anything a generator produced.

- Each character is worth log2 of the alphabet the secret draws from (lower case 26, upper case
  26, digits 10, other printable 33, anything else 100).
- A character that continues a run (the same step as the two before it: ``aaa``, ``abc``,
  ``987``) is worth 1 bit: it is what a guesser tries first.
- A secret made of one block repeated is worth that block plus log2 of the repeat count.

Worked examples: ``"a" * 32`` is the block "a" (4.7 bits) repeated 32 times (+5), 10 bits;
``abcdefghijklmnopqrstuvwxyz123456`` is 2 * 5.2 for "ab", 24 * 1 for the run to "z", 2 * 5.2
for "12" and 4 * 1 for "3456", 49 bits; ``secrets.token_urlsafe(32)`` about 43 * 6.6, 280 bits;
32 random hex digits about 32 * 5.2, 165 bits.
"""

from __future__ import annotations

import math
import string

GENERATE_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _alphabet(secret: str) -> int:
    size = 0
    if any(c in string.ascii_lowercase for c in secret):
        size += 26
    if any(c in string.ascii_uppercase for c in secret):
        size += 26
    if any(c in string.digits for c in secret):
        size += 10
    if any(c in string.punctuation or c == " " for c in secret):
        size += 33
    if any(not c.isascii() or (c.isspace() and c != " ") for c in secret):
        size += 100
    return max(size, 2)


def _period(secret: str) -> int:
    """The length of the shortest block the secret repeats (its own length when none)."""
    for size in range(1, len(secret) // 2 + 1):
        if len(secret) % size == 0 and secret == secret[:size] * (len(secret) // size):
            return size
    return len(secret)


def estimated_bits(secret: str) -> float:
    if not secret:
        return 0.0
    per_char = math.log2(_alphabet(secret))
    block = secret[: _period(secret)]
    bits = 0.0
    for i, char in enumerate(block):
        if i >= 2:
            step = ord(char) - ord(block[i - 1])
            if abs(step) <= 1 and step == ord(block[i - 1]) - ord(block[i - 2]):
                bits += 1.0
                continue
        bits += per_char
    return bits + math.log2(len(secret) // len(block))


def weakness(secret: str, *, min_length: int, min_bits: float) -> str | None:
    """Why ``secret`` is too weak, or None."""
    if len(secret) < min_length:
        return f"is {len(secret)} characters long; it needs at least {min_length}"
    bits = estimated_bits(secret)
    if bits < min_bits:
        return (
            f"is too predictable (about {bits:.0f} bits of randomness; it needs {min_bits:.0f}: "
            "repeated or sequential characters count for little)"
        )
    return None
