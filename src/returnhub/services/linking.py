"""Linking ledger customers to their profiles in other systems, and the data pulled from them.

Rules (as Gladly applies them to its own profiles): an auto-link needs exactly one matching
profile in that system, by email or MOBILE phone, that no other customer already holds; a
customer that was ever unlinked is never auto-linked again. Every link and unlink is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from returnhub.connectors.base import ExternalProfile, SearchQuery
from returnhub.delivery import outbox
from returnhub.domain.errors import Conflict, FieldError, InvalidInput
from returnhub.domain.external import ExternalReturn
from returnhub.services.customer_lookup import CustomerView
from returnhub.services.lookup import get_customer
from returnhub.store.tables import Customer, CustomerLink, LinkAudit, PulledReturn

PULL_JOB = "links.pull"
LEDGER = "returnhub"


def links_of(session: Session, customer: Customer | CustomerView) -> list[CustomerLink]:
    return list(
        session.scalars(
            select(CustomerLink)
            .where(CustomerLink.customer_id == customer.id)
            .order_by(CustomerLink.id)
        )
    )


def holder(session: Session, system: str, external_id: str) -> Customer | None:
    return session.scalar(
        select(Customer)
        .join(CustomerLink, CustomerLink.customer_id == Customer.id)
        .where(CustomerLink.system == system, CustomerLink.external_id == external_id)
    )


def holders(session: Session, links: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The public id of the customer holding each (system, external id) that anyone holds:
    one query however many there are."""
    wanted = sorted(set(links))
    if not wanted:
        return {}
    rows = session.execute(
        select(CustomerLink.system, CustomerLink.external_id, Customer.public_id)
        .join(Customer, CustomerLink.customer_id == Customer.id)
        .where(tuple_(CustomerLink.system, CustomerLink.external_id).in_(wanted))
    )
    return {(system, external_id): holder for system, external_id, holder in rows}


def link(
    session: Session,
    customer_id: str,
    system: str,
    external_id: str,
    *,
    how: str,
    actor: str,
    known_systems: set[str],
) -> CustomerLink:
    if system == LEDGER or system not in known_systems:
        choices = ", ".join(sorted(known_systems - {LEDGER})) or "none configured"
        raise InvalidInput(
            "unknown system",
            [
                FieldError(
                    "system", "unknown_system", f"link to one of the connected systems: {choices}"
                )
            ],
        )
    if not external_id.strip():
        raise InvalidInput(
            "no id", [FieldError("external_id", "required", "give the id in that system")]
        )
    customer = get_customer(session, customer_id)
    taken = holder(session, system, external_id)
    if taken is not None:
        if taken.id == customer.id:
            existing = session.scalar(
                select(CustomerLink).where(
                    CustomerLink.system == system, CustomerLink.external_id == external_id
                )
            )
            assert existing is not None
            return existing
        raise Conflict(
            "already linked",
            [
                FieldError(
                    "external_id",
                    "already_linked",
                    f"{system} profile {external_id} is linked to customer "
                    f"{taken.public_id}; unlink it there first",
                    {"customer_id": taken.public_id},
                )
            ],
        )
    row = _record_link(session, customer, system, external_id, how, actor)
    queue_pull(session, customer.public_id, system)
    return row


def _record_link(
    session: Session, customer: Customer, system: str, external_id: str, how: str, actor: str
) -> CustomerLink:
    row = CustomerLink(
        customer_id=customer.id, system=system, external_id=external_id, how=how, linked_by=actor
    )
    session.add(row)
    session.add(
        LinkAudit(
            customer_id=customer.id,
            action="link",
            system=system,
            external_id=external_id,
            how=how,
            actor=actor,
        )
    )
    session.flush()
    return row


def link_synced_profile(
    session: Session, customer: Customer, system: str, external_id: str, actor: str
) -> bool:
    """Auto-link a customer to the source profile a synced record of theirs names (found by
    email), so the profile's later changes (a new email) still find them. Not when the
    profile is anyone's already or the customer was ever unlinked; no pull is queued: the
    source's own events bring its records. Whether a link was made."""
    if not external_id or customer.ever_unlinked or holder(session, system, external_id):
        return False
    _record_link(session, customer, system, external_id, "auto", actor)
    return True


def queue_pull(
    session: Session, customer_public_id: str, system: str, dedupe_key: str | None = None
) -> bool:
    """One background pull of a linked customer's returns from ``system``; pulls for the same
    customer and system run one at a time."""
    return outbox.enqueue(
        session,
        PULL_JOB,
        {"customer_id": customer_public_id, "system": system},
        connector=system,
        lock_key=f"pull:{customer_public_id}:{system}",
        dedupe_key=dedupe_key,
    )


def unlink_all(session: Session, customer_id: str, actor: str) -> list[CustomerLink]:
    """Remove every link and the data pulled through them; the customer stays unlinked."""
    customer = get_customer(session, customer_id)
    removed = links_of(session, customer)
    for row in removed:
        session.add(
            LinkAudit(
                customer_id=customer.id,
                action="unlink",
                system=row.system,
                external_id=row.external_id,
                how="manual",
                actor=actor,
            )
        )
    session.execute(delete(CustomerLink).where(CustomerLink.customer_id == customer.id))
    session.execute(delete(PulledReturn).where(PulledReturn.customer_id == customer.id))
    customer.ever_unlinked = True
    return removed


def audit_of(session: Session, customer: Customer) -> list[LinkAudit]:
    return list(
        session.scalars(
            select(LinkAudit).where(LinkAudit.customer_id == customer.id).order_by(LinkAudit.id)
        )
    )


def pulled_returns(session: Session, customer: Customer) -> list[PulledReturn]:
    return list(
        session.scalars(
            select(PulledReturn)
            .where(PulledReturn.customer_id == customer.id)
            .order_by(PulledReturn.source_updated_at.desc(), PulledReturn.id.desc())
        )
    )


def store_pulled(
    session: Session, customer: Customer, system: str, returns: list[ExternalReturn], now: datetime
) -> int:
    """Replace the cached returns of (customer, system) with what the system just said."""
    session.execute(
        delete(PulledReturn).where(
            PulledReturn.customer_id == customer.id, PulledReturn.system == system
        )
    )
    for ext in returns:
        session.add(_pulled(customer.id, system, ext, now))
    return len(returns)


def _pulled(customer_id: int, system: str, ext: ExternalReturn, now: datetime) -> PulledReturn:
    data: dict[str, Any] = asdict(ext)
    for name in ("updated_at", "created_at", "label_updated_at", "refund_issued_at"):
        stamp = getattr(ext, name)
        data[name] = stamp.isoformat() if stamp is not None else None
    data["state"] = ext.state.value
    data["items"] = [{**item, "outcome": str(item["outcome"])} for item in data["items"]]
    return PulledReturn(
        customer_id=customer_id,
        system=system,
        external_id=ext.external_id,
        state=ext.state.value,
        order_name=ext.order_name,
        data=data,
        source_updated_at=ext.updated_at,
        pulled_at=now,
    )


def query_for(customer: Customer) -> SearchQuery:
    """What auto-linking may match on: emails and MOBILE phones only."""
    return SearchQuery(
        emails=tuple(e.email for e in customer.emails),
        phones=tuple(p.number for p in customer.phones if p.type == "MOBILE"),
    )


def unique_match(profiles: list[ExternalProfile], query: SearchQuery) -> ExternalProfile | None:
    emails = {e.lower() for e in query.emails}
    phones = set(query.phones)
    matching = [
        p
        for p in profiles
        if emails & {e.lower() for e in p.emails}
        or phones & {ph.number for ph in p.phones if ph.type == "MOBILE"}
    ]
    distinct = {p.external_id: p for p in matching}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def refresh_linked(session: Session, ext: ExternalReturn, now: datetime) -> bool:
    """The customer linked to the return's profile in its source (each source's own profile
    id: an email for Loop, a Customer gid for Shopify) sees this report of it in their pulled
    data at once; the event carries the return, so no pull from the source is needed. Whether
    anyone holds that profile (one customer at most: links are unique per system and id)."""
    customer = holder(session, ext.source, ext.profile_id)
    if customer is None:
        return False
    fresh = _pulled(customer.id, ext.source, ext, now)
    held = session.scalar(
        select(PulledReturn).where(
            PulledReturn.customer_id == customer.id,
            PulledReturn.system == ext.source,
            PulledReturn.external_id == ext.external_id,
        )
    )
    if held is None:
        session.add(fresh)
    else:
        for column in ("state", "order_name", "data", "source_updated_at", "pulled_at"):
            setattr(held, column, getattr(fresh, column))
    return True


REFRESH_WINDOW_SECONDS = 300


def refresh_on_view(session: Session, customer: Customer | CustomerView, now: datetime) -> int:
    """A help desk opened the profile: queue a background pull per linked system, at most one
    per system every five minutes. The lookup itself answers from the cache right away."""
    window = int(now.timestamp()) // REFRESH_WINDOW_SECONDS
    queued = 0
    for row in links_of(session, customer):
        queued += queue_pull(
            session,
            customer.public_id,
            row.system,
            dedupe_key=f"pull-on-view:{customer.public_id}:{row.system}:{window}",
        )
    return queued
