"""Outbox jobs for linking: auto-link a customer (enqueued when one is created or changes
contacts), pull a linked customer's returns."""

from __future__ import annotations

from typing import cast

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.connectors.base import Capability, ExternalProfile, ReturnsSource
from returnhub.connectors.errors import DeliveryError
from returnhub.connectors.registry import SPECS, configured_systems, is_configured
from returnhub.delivery import outbox
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.events import EventType
from returnhub.jobs.registry import registry
from returnhub.services import linking, lookup
from returnhub.settings import Settings
from returnhub.store.tables import CustomerLink, DomainEvent

log = structlog.get_logger(__name__)

AUTOLINK_JOB = "links.autolink"


@registry.on_event
def enqueue_autolink(session: Session, event: DomainEvent, settings: Settings) -> bool:
    """After a customer is created or changes contacts, look for their profiles elsewhere."""
    if not settings.auto_link_enabled:
        return False
    if not any(
        is_configured(spec, settings) for key, spec in SPECS.items() if key != linking.LEDGER
    ):
        return False  # nothing to link to
    changed = set(event.payload.get("changed", []))
    created = event.type == EventType.CUSTOMER_CREATED.value
    contacts_changed = event.type == EventType.CUSTOMER_UPDATED.value and changed & {
        "emails",
        "phones",
    }
    if not (created or contacts_changed):
        return False
    return outbox.enqueue(
        session,
        AUTOLINK_JOB,
        {"customer_id": event.subject_id},
        connector="",
        lock_key=f"autolink:{event.subject_id}",
        dedupe_key=f"autolink:{event.public_id}",
    )


@registry.handler(AUTOLINK_JOB)
def autolink(ctx: HandlerContext, job: ClaimedJob) -> None:
    customer_id = str(job.payload["customer_id"])
    systems = configured_systems(ctx.settings, ctx.db, ctx.http)
    with ctx.db.read() as session:
        customer = lookup.get_customer(session, customer_id)
        if customer.ever_unlinked:
            return  # unlinked once: only a person links this customer again
        query = linking.query_for(customer)
        linked = {row.system for row in linking.links_of(session, customer)}
    if not (query.emails or query.phones):
        return
    failures: list[DeliveryError] = []
    for key, system in systems.items():
        if key == linking.LEDGER or key in linked:
            continue
        if Capability.SEARCH_CUSTOMERS not in system.spec.capabilities:
            continue
        try:
            profiles = system.search_customers(query, ctx.settings.search_system_timeout_seconds)
        except DeliveryError as exc:
            failures.append(exc)
            continue
        match = linking.unique_match(profiles, query)
        if match is None:
            continue
        with ctx.db.write() as session:
            if linking.holder(session, key, match.external_id) is not None:
                continue  # someone else holds that profile: never steal a link automatically
            linking.link(
                session,
                customer_id,
                key,
                match.external_id,
                how="auto",
                actor="auto-link",
                known_systems=set(systems),
            )
    if failures:
        # Links made so far stay; the retry skips systems already linked.
        raise failures[0]


@registry.handler(linking.PULL_JOB)
def pull(ctx: HandlerContext, job: ClaimedJob) -> None:
    customer_id = str(job.payload["customer_id"])
    system_key = str(job.payload["system"])
    systems = configured_systems(ctx.settings, ctx.db, ctx.http)
    system = systems.get(system_key)
    if system is None or Capability.PULL_RETURNS not in system.spec.capabilities:
        return
    with ctx.db.read() as session:
        customer = lookup.get_customer(session, customer_id)
        row = session.scalar(
            select(CustomerLink).where(
                CustomerLink.customer_id == customer.id, CustomerLink.system == system_key
            )
        )
        if row is None:
            return  # unlinked since the job was queued
        profile = ExternalProfile(
            system=system_key,
            external_id=row.external_id,
            emails=tuple(e.email for e in customer.emails),
        )
    source = cast(ReturnsSource, system)  # PULL_RETURNS capability promises the method
    returns = source.pull_returns(profile, ctx.settings.search_system_timeout_seconds)
    with ctx.db.write() as session:
        customer = lookup.get_customer(session, customer_id)
        still_linked = session.scalar(
            select(CustomerLink.id).where(
                CustomerLink.customer_id == customer.id, CustomerLink.system == system_key
            )
        )
        if still_linked is None:
            return  # unlinked while we were pulling: keep nothing
        count = linking.store_pulled(session, customer, system_key, returns, ctx.clock())
    log.info("returns_pulled", customer=customer_id, system=system_key, returns=count)
