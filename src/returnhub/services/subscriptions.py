"""Merchants' webhook subscriptions to our events, and the fan-out of each event into
delivery jobs, in the transaction that records the event."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.delivery import outbox
from returnhub.domain.errors import FieldError, InvalidInput
from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.services.lookup import not_found
from returnhub.settings import Settings
from returnhub.store import sealed
from returnhub.store.tables import DomainEvent, WebhookSubscription

DELIVER_JOB = "webhook.deliver"
SUBSCRIBABLE = tuple(e.value for e in EventType)


def target_problem(url: str, settings: Settings) -> str | None:
    """Why we must not send to ``url``, or None. Unless RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS
    is on, every address the host name resolves to must be public: a subscription is a way to
    make this server send requests, and one to 169.254.169.254 (a cloud's metadata service),
    127.0.0.1 or the private network would reach what the internet cannot. Checked when the
    subscription is made and again before each delivery (the name may resolve elsewhere by
    then: DNS rebinding)."""
    try:
        parsed = urlparse(url)
        hostname = parsed.hostname
    except ValueError:  # an unbalanced IPv6 bracket, "http://[x"
        return "give an absolute http(s) URL"
    if parsed.scheme not in ("http", "https") or not hostname:
        return "give an absolute http(s) URL"
    if settings.webhook_allow_private_targets:
        return None
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        found = socket.getaddrinfo(parsed.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        return f"the host {parsed.hostname!r} cannot be resolved"
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return (
                f"{parsed.hostname} resolves to {address}, a private, loopback or link-local "
                "address; webhooks go to public addresses only (set "
                "RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow internal receivers)"
            )
    return None


@dataclass(frozen=True)
class Target:
    """A subscription's URL and event types, checked (``check``) before any transaction opens:
    the check resolves the host name, which may take seconds, and SQLite's one write lock
    must not wait on DNS."""

    url: str
    event_types: list[str]


def check(url: str, event_types: list[str], settings: Settings) -> Target:
    errors: list[FieldError] = []
    problem = target_problem(url, settings)
    if problem is not None:
        errors.append(FieldError("url", "invalid_url", problem))
    unknown = [t for t in event_types if t != "*" and t not in SUBSCRIBABLE]
    if unknown:
        errors.append(
            FieldError(
                "event_types",
                "unknown_event_type",
                f"unknown event types {unknown}; choose from {', '.join(SUBSCRIBABLE)} or *",
            )
        )
    if not event_types:
        errors.append(FieldError("event_types", "required", "subscribe to at least one event type"))
    if errors:
        raise InvalidInput("invalid subscription", errors)
    return Target(url, sorted(set(event_types)))


@dataclass(frozen=True)
class Created:
    subscription: WebhookSubscription
    # Shown to the merchant once; the database keeps it sealed (store/sealed.py).
    secret: str


def create(session: Session, settings: Settings, target: Target, description: str = "") -> Created:
    """A subscription to ``target``, its signing secret sealed with ``settings``' key."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    subscription = WebhookSubscription(
        public_id=new_id(Prefix.SUBSCRIPTION),
        url=target.url,
        event_types=target.event_types,
        secret=sealed.seal(settings, secret),
        description=description,
        active=True,
    )
    session.add(subscription)
    session.flush()
    return Created(subscription, secret)


def seal_plain_secrets(session: Session, settings: Settings) -> int:
    """Seal the secrets of subscriptions made before secrets were sealed; how many."""
    found = 0
    for subscription in session.scalars(select(WebhookSubscription)):
        if not sealed.is_sealed(subscription.secret):
            subscription.secret = sealed.seal(settings, subscription.secret)
            found += 1
    return found


def list_all(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get(session: Session, public_id: str) -> WebhookSubscription:
    subscription = session.scalar(
        select(WebhookSubscription).where(WebhookSubscription.public_id == public_id)
    )
    if subscription is None:
        raise not_found("subscription_id", "webhook subscription", public_id)
    return subscription


def delete(session: Session, public_id: str) -> None:
    session.delete(get(session, public_id))


def fan_out(session: Session, event: DomainEvent) -> int:
    """One delivery job per active subscription that wants this event type."""
    count = 0
    # Two columns, not the subscription objects: this runs for every domain event.
    for subscription_id, event_types in session.execute(
        select(WebhookSubscription.public_id, WebhookSubscription.event_types).where(
            WebhookSubscription.active.is_(True)
        )
    ):
        if "*" not in event_types and event.type not in event_types:
            continue
        outbox.enqueue(
            session,
            DELIVER_JOB,
            {"event_id": event.public_id, "subscription_id": subscription_id},
            connector="webhooks",
            # Per subscriber and per subject: one slow receiver never delays another, and the
            # events about one return reach each receiver in the order they happened.
            lock_key=f"whs:{subscription_id}:{event.subject_id}",
            dedupe_key=f"deliver:{event.public_id}:{subscription_id}",
        )
        count += 1
    return count
