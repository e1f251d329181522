"""Agent passwords for the workspace sign-in, stored only as salted PBKDF2-SHA256 hashes.

RETURNHUB_AGENT_USERS holds ``name=hash`` pairs separated by ``;``. Make a hash with
``python -m returnhub.web.passwords`` (it asks for the password and prints the hash).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000


def derive(password: str, salt: bytes, iterations: int) -> bytes:
    """The slow part (about 0.2 s at 600k rounds): callers in a server run it off the event
    loop, on a worker thread, so that other requests are answered meanwhile."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


def _format(iterations: int, salt: bytes, digest: bytes) -> str:
    b64 = base64.urlsafe_b64encode
    return f"{SCHEME}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    return _format(iterations, salt, derive(password, salt, iterations))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        actual = derive(password, base64.urlsafe_b64decode(salt), int(rounds))
        return hmac.compare_digest(actual, base64.urlsafe_b64decode(digest))
    except ValueError:
        return False


def _rounds(stored: str) -> int:
    parts = stored.split("$")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else ITERATIONS


# A hash of no password at all (random salt and digest): checking a name nobody has against it
# costs what checking a real user costs, so the time taken does not tell which names exist.
_DUMMY_SALT, _DUMMY_DIGEST = secrets.token_bytes(16), secrets.token_bytes(32)


def check(users: dict[str, str], username: str, password: str) -> str | None:
    """The stored hash of ``username`` when ``password`` is theirs, else None; an unknown name
    is verified against a dummy hash with the configured users' rounds."""
    stored = users.get(username)
    if stored is None:
        rounds = max((_rounds(h) for h in users.values()), default=ITERATIONS)
        verify_password(password, _format(rounds, _DUMMY_SALT, _DUMMY_DIGEST))
        return None
    return stored if verify_password(password, stored) else None


def parse_users(raw: str) -> dict[str, str]:
    """``alice=hash;bob=hash`` → {name: hash}; blank entries are ignored."""
    users: dict[str, str] = {}
    for entry in raw.split(";"):
        name, sep, stored = entry.strip().partition("=")
        if sep and name.strip() and stored.strip():
            users[name.strip()] = stored.strip()
    return users


def main() -> None:  # pragma: no cover - interactive
    password = getpass.getpass("password: ")
    if password != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    print(hash_password(password))


if __name__ == "__main__":  # pragma: no cover
    main()
