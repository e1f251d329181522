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


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.urlsafe_b64encode
    return f"{SCHEME}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.urlsafe_b64decode(salt), int(rounds)
        )
        return hmac.compare_digest(actual, base64.urlsafe_b64decode(digest))
    except ValueError:
        return False


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
