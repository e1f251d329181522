"""Findings 3 and 10: agent sign-in resists guessing, and its page shows only known messages.

Failures are counted in the database per username and per client address, so every process
sees them; past the free allowance each failure blocks that name or address for a doubling
delay, during which even the right password is refused unchecked. An unknown name costs the same
password hash as a known one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import SecretStr

from returnhub.services.throttle import Limit
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.web import passwords
from tests.conftest import Clock
from tests.security.auth_support import app_client, csrf_of, password_attempt

ROUNDS = 1000


def users() -> SecretStr:
    alice = passwords.hash_password("correct horse", iterations=ROUNDS)
    bob = passwords.hash_password("battery staple", iterations=ROUNDS)
    return SecretStr(f"alice={alice};bob={bob}")


def test_the_delay_doubles_past_the_free_failures() -> None:
    limit = Limit(free=5, base_seconds=1, max_seconds=900, forget_seconds=3600)
    assert [limit.block_seconds(n) for n in range(1, 18)] == [
        0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900,
    ]  # fmt: skip


def test_wrong_passwords_lock_the_name_for_every_process(
    settings: Settings, db: Database, clock: Clock
) -> None:
    changes: dict[str, Any] = {"agent_users": users(), "agent_signin_free_failures": 3}
    with app_client(settings, db, clock, **changes) as first:
        page = first.get("/agent/login").text
        assert "After 3 failed sign-ins for one name" in page
        for _ in range(3):
            assert password_attempt(first, "alice", "guess").status_code == 401
        fourth = password_attempt(first, "alice", "guess")
        assert fourth.status_code == 401  # counted: this one starts the 1 s block
    # Another process (another app on the same database) sees the block.
    with app_client(settings, db, clock, **changes) as second:
        blocked = password_attempt(second, "alice", "correct horse")
        assert blocked.status_code == 429
        assert "Too many failed sign-ins. Try again in 1 second." in blocked.text
        assert blocked.headers["retry-after"] == "1"
        assert "rh_agent" not in blocked.headers.get("set-cookie", "")
        # Another name from the same address is not held up by alice's count.
        assert password_attempt(second, "bob", "battery staple").status_code == 303
        clock.advance(seconds=1)
        assert password_attempt(second, "alice", "guess").status_code == 401
        again = password_attempt(second, "alice", "correct horse")
        assert again.status_code == 429 and "2 seconds" in again.text
        clock.advance(seconds=2)
        assert password_attempt(second, "alice", "correct horse").status_code == 303


def test_one_address_guessing_many_names_is_locked(
    settings: Settings, db: Database, clock: Clock
) -> None:
    changes: dict[str, Any] = {"agent_users": users(), "agent_signin_address_free_failures": 4}
    with app_client(settings, db, clock, **changes) as client:
        for name in ("carol", "dave", "erin", "frank", "grace"):
            assert password_attempt(client, name, "guess").status_code == 401
        blocked = password_attempt(client, "bob", "battery staple")
        assert blocked.status_code == 429
        # Wrong API keys count against the address as well.
        clock.advance(seconds=1)
        form = client.get("/agent/login")
        wrong_key = client.post(
            "/agent/login", data={"csrf": csrf_of(form.text), "api_key": "rh_guess"}
        )
        assert wrong_key.status_code == 401
        assert password_attempt(client, "bob", "battery staple").status_code == 429


def test_an_unknown_name_costs_the_same_hash_as_a_known_one(
    settings: Settings, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counted(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
        rounds.append(iterations)
        return real(name, password, salt, iterations)

    with app_client(settings, db, clock, agent_users=users()) as client:
        monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted)
        known = password_attempt(client, "alice", "wrong")
        known_rounds, rounds[:] = list(rounds), []
        unknown = password_attempt(client, "mallory", "wrong")
    assert known.status_code == unknown.status_code == 401
    assert known.text.count("do not match") == unknown.text.count("do not match") == 1
    assert known_rounds == rounds == [ROUNDS]


def test_the_error_parameter_shows_only_known_messages(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with app_client(settings, db, clock) as client:
        forged = client.get(
            "/agent/login", params={"error": "Your key expired: call +1 555 0100 to renew it."}
        )
        assert forged.status_code == 200
        assert "call +1 555 0100" not in forged.text
        assert 'role="alert"' not in forged.text
        known = client.get("/agent/login", params={"error": "password"})
        assert known.status_code == 401
        assert "That username and password do not match." in known.text
