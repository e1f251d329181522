"""Agent workspace sessions, kept in the database so that the server can end them.

The cookie carries a random token; the row keeps its sha256, who signed in, the session's CSRF
token and its lifetimes. A session ends when it is signed out, when its API key is revoked, when
it has been idle too long, or when it reaches its absolute lifetime, whichever comes first, and
an ended session never comes back: reusing its cookie reads nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from returnhub.store.tables import AgentSession

# last_seen_at is written at most this often per session: a page and its polling fragments
# (every few seconds) would otherwise each cost a write transaction.
TOUCH_EVERY = timedelta(seconds=60)
# Ended rows are kept this long (what happened to a session can still be looked up), then purged.
KEEP_ENDED = timedelta(days=7)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class Opened:
    token: str
    """For the cookie; the database holds only its hash."""
    csrf: str


@dataclass(frozen=True)
class Live:
    id: int
    principal: str
    credential: str
    csrf: str
    needs_touch: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, principal: str, credential: str, now: datetime, lifetime: Lifetime
) -> Opened:
    session.execute(delete(AgentSession).where(AgentSession.expires_at < now - KEEP_ENDED))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        AgentSession(
            token_hash=_hash(token),
            principal=principal,
            credential=credential,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime.absolute,
        )
    )
    return Opened(token, csrf)


def find(session: Session, token: str, now: datetime, lifetime: Lifetime) -> Live | None:
    """The session of ``token`` if it has not ended (signed out, expired or idle too long)."""
    if not token:
        return None
    row = session.execute(
        select(
            AgentSession.id,
            AgentSession.principal,
            AgentSession.credential,
            AgentSession.csrf,
            AgentSession.last_seen_at,
        ).where(
            AgentSession.token_hash == _hash(token),
            AgentSession.revoked_at.is_(None),
            AgentSession.expires_at > now,
            AgentSession.last_seen_at > now - lifetime.idle,
        )
    ).first()
    if row is None:
        return None
    return Live(
        row.id, row.principal, row.credential, row.csrf, now - row.last_seen_at >= TOUCH_EVERY
    )


def touch(session: Session, session_id: int, now: datetime) -> None:
    session.execute(
        update(AgentSession).where(AgentSession.id == session_id).values(last_seen_at=now)
    )


def end(session: Session, token: str, now: datetime) -> None:
    """Sign-out: the cookie's session ends here, whatever the browser does with the cookie."""
    session.execute(
        update(AgentSession)
        .where(AgentSession.token_hash == _hash(token), AgentSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_all(session: Session, principal: str, now: datetime) -> int:
    """End every session of ``principal`` (a revoked API key); how many were open."""
    result = session.execute(
        update(AgentSession)
        .where(AgentSession.principal == principal, AgentSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
