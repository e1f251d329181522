"""Creating and checking return links for orders in the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from returnhub.domain import return_links
from returnhub.domain.errors import DomainError, FieldError, NotFound
from returnhub.services import orders
from returnhub.settings import Settings
from returnhub.store.tables import Order


class InvalidReturnLink(DomainError):
    """A tampered, expired or foreign link (HTTP 403: the link grants nothing)."""

    code = "invalid_return_link"


@dataclass(frozen=True)
class ReturnLink:
    url: str
    token: str
    order_id: str
    order_name: str
    gift: bool
    expires_at: datetime


def create(
    session: Session, settings: Settings, order_id: str, gift: bool, now: datetime
) -> ReturnLink:
    return for_order(settings, orders.get_order(session, order_id), gift, now)


def for_order(settings: Settings, order: Order, gift: bool, now: datetime) -> ReturnLink:
    """A link for an order the caller has already loaded (and checked it may see)."""
    token, claims = return_links.issue(
        settings.secret_key.get_secret_value(),
        order.public_id,
        gift,
        now,
        timedelta(days=settings.return_link_ttl_days),
    )
    return ReturnLink(
        url=f"{settings.base_url.rstrip('/')}/r/{token}",
        token=token,
        order_id=order.public_id,
        order_name=order.name,
        gift=gift,
        expires_at=claims.expires_at,
    )


def check(
    session: Session, settings: Settings, token: str, now: datetime, order_id: str | None = None
) -> return_links.ReturnLinkClaims:
    """The link's claims; refuses tampered, expired, foreign (other order) or orphaned links."""
    try:
        claims = return_links.verify(settings.secret_key.get_secret_value(), token, now)
    except return_links.ReturnLinkError as exc:
        raise InvalidReturnLink(exc.message, [FieldError("token", exc.code, exc.message)]) from None
    if order_id is not None and claims.order_id != order_id:
        message = "this return link belongs to another order"
        raise InvalidReturnLink(message, [FieldError("token", "foreign", message)])
    try:
        orders.get_order(session, claims.order_id)
    except NotFound:
        message = "the order of this return link no longer exists"
        raise InvalidReturnLink(message, [FieldError("token", "orphaned", message)]) from None
    return claims
