"""API keys: created once (the secret is shown one time), stored as a hash, checked per request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.domain.errors import FieldError, InvalidInput, NotFound
from returnhub.domain.ids import Prefix, new_id
from returnhub.services import agent_sessions
from returnhub.store.tables import ApiKey
from returnhub.store.types import utcnow

KEY_PREFIX = "rh_"


class Scope(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    HELPDESK = "helpdesk"
    WAREHOUSE = "warehouse"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id and name (for timelines) and what it may do."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, *needed: Scope) -> bool:
        return Scope.ADMIN in self.scopes or any(s in self.scopes for s in needed)


# Who calls with the demo key (settings.DEMO_API_KEY), honoured only in demo mode.
DEMO_PRINCIPAL = Principal("key_demo", "demo", frozenset({Scope.ADMIN}))


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(session: Session, scopes: list[str], name: str = "") -> tuple[ApiKey, str]:
    """The new key row and the raw key; the raw key is not stored and cannot be shown again."""
    try:
        parsed = sorted({Scope(s) for s in scopes})
    except ValueError:
        known = ", ".join(s.value for s in Scope)
        raise InvalidInput(
            "unknown scope",
            [FieldError("scope", "unknown_scope", f"scopes are {known}; got {scopes}")],
        ) from None
    if not parsed:
        raise InvalidInput("no scope", [FieldError("scope", "required", "give at least one scope")])
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        public_id=new_id(Prefix.API_KEY),
        name=name,
        key_hash=hash_key(raw),
        prefix=raw[:10],
        scopes=[s.value for s in parsed],
    )
    session.add(key)
    session.flush()
    return key, raw


def authenticate(session: Session, raw: str) -> Principal | None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    return Principal(key.public_id, key.name or key.prefix, frozenset(Scope(s) for s in key.scopes))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, public_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.public_id == public_id))
    if key is None:
        raise NotFound("no such key", [FieldError("key_id", "not_found", f"no key {public_id!r}")])
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    # The workspace also re-checks the key on each request; ending its sessions here makes the
    # revocation visible in the sessions table and leaves nothing to revive.
    agent_sessions.end_all(session, key.public_id, key.revoked_at)
    return key
