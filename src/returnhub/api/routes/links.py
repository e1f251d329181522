"""Federated search, links to other systems, pulled returns, and the connector list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from returnhub.api.deps import Reader, Writer
from returnhub.connectors.registry import SPECS, configured_systems, is_configured, missing_settings
from returnhub.delivery import health
from returnhub.runtime import Context
from returnhub.services import linking, lookup, search
from returnhub.store.tables import CustomerLink, LinkAudit

router = APIRouter(prefix="/api/v1", tags=["linking"])


class MatchOut(BaseModel):
    system: str
    external_id: str
    name: str
    linked_to: str | None = Field(description="the ledger customer holding this link, if any")


class SearchRowOut(BaseModel):
    name: str
    emails: list[str]
    phones: list[str]
    systems: list[str]
    matches: list[MatchOut]


class SystemErrorOut(BaseModel):
    system: str
    error_class: str
    message: str


class SearchOut(BaseModel):
    results: list[SearchRowOut]
    errors: list[SystemErrorOut]
    searched: list[str]
    seconds: dict[str, float]
    elapsed: float


@router.get("/search", response_model=SearchOut, summary="Search every connected system at once")
def federated_search(
    ctx: Context,
    _: Reader,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    order_number: Annotated[str | None, Query(max_length=64)] = None,
    systems: Annotated[
        str,
        Query(max_length=200, description="all-unlinked (needs customer_id), all, or a comma list"),
    ] = "all-unlinked",
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> SearchOut:
    if systems == "all":
        choice: search.SystemChoice = search.AllSystems()
    elif systems == "all-unlinked":
        choice = search.UnlinkedSystems(customer_id)
    else:
        choice = search.NamedSystems(tuple(n.strip() for n in systems.split(",") if n.strip()))
    result = search.search(
        ctx.settings,
        ctx.db,
        ctx.http,
        search.SearchTerms(email=email, phone=phone, order_number=order_number),
        choice,
    )
    return SearchOut(
        results=[
            SearchRowOut(
                name=row.name,
                emails=row.emails,
                phones=row.phones,
                systems=row.systems,
                matches=[
                    MatchOut(
                        system=m.system,
                        external_id=m.external_id,
                        name=m.name,
                        linked_to=m.holder,
                    )
                    for m in row.matches
                ],
            )
            for row in result.rows
        ],
        errors=[
            SystemErrorOut(system=e.system, error_class=e.error_class, message=e.message)
            for e in result.errors
        ],
        searched=result.searched,
        seconds=result.seconds,
        elapsed=result.elapsed,
    )


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str = Field(max_length=32)
    external_id: str = Field(min_length=1, max_length=200)


class LinkOut(BaseModel):
    system: str
    external_id: str
    how: str
    linked_by: str
    linked_at: datetime


class AuditOut(BaseModel):
    action: str
    system: str
    external_id: str
    how: str
    actor: str
    at: datetime


class LinksOut(BaseModel):
    customer_id: str
    ever_unlinked: bool
    links: list[LinkOut]
    audit: list[AuditOut]


def _link_out(row: CustomerLink) -> LinkOut:
    return LinkOut(
        system=row.system,
        external_id=row.external_id,
        how=row.how,
        linked_by=row.linked_by,
        linked_at=row.linked_at,
    )


def _audit_out(row: LinkAudit) -> AuditOut:
    return AuditOut(
        action=row.action,
        system=row.system,
        external_id=row.external_id,
        how=row.how,
        actor=row.actor,
        at=row.at,
    )


def _links(ctx: Any, customer_id: str) -> LinksOut:
    with ctx.db.read() as session:
        customer = lookup.get_customer(session, customer_id)
        return LinksOut(
            customer_id=customer.public_id,
            ever_unlinked=customer.ever_unlinked,
            links=[_link_out(r) for r in linking.links_of(session, customer)],
            audit=[_audit_out(r) for r in linking.audit_of(session, customer)],
        )


@router.get("/customers/{customer_id}/links", response_model=LinksOut)
def list_links(customer_id: str, ctx: Context, _: Reader) -> LinksOut:
    return _links(ctx, customer_id)


@router.post(
    "/customers/{customer_id}/links",
    status_code=201,
    response_model=LinksOut,
    summary="Link by hand",
)
def add_link(customer_id: str, body: LinkIn, ctx: Context, who: Writer) -> LinksOut:
    known = set(configured_systems(ctx.settings, ctx.db, ctx.http))
    with ctx.db.write() as session:
        linking.link(
            session,
            customer_id,
            body.system,
            body.external_id,
            how="manual",
            actor=who.name,
            known_systems=known,
        )
    return _links(ctx, customer_id)


@router.delete(
    "/customers/{customer_id}/links",
    response_model=LinksOut,
    summary="Unlink from all systems and remove the data pulled from them",
)
def unlink_all(customer_id: str, ctx: Context, who: Writer) -> LinksOut:
    with ctx.db.write() as session:
        linking.unlink_all(session, customer_id, who.name)
    return _links(ctx, customer_id)


class RefreshOut(BaseModel):
    queued: list[str]


@router.post("/customers/{customer_id}/links/refresh", status_code=202, response_model=RefreshOut)
def refresh(customer_id: str, ctx: Context, _: Writer) -> RefreshOut:
    with ctx.db.write() as session:
        customer = lookup.get_customer(session, customer_id)
        systems = [row.system for row in linking.links_of(session, customer)]
        for system in systems:
            linking.queue_pull(session, customer.public_id, system)
    return RefreshOut(queued=systems)


class PulledReturnOut(BaseModel):
    system: str
    external_id: str
    state: str
    order_name: str
    source_updated_at: datetime | None
    pulled_at: datetime
    data: dict[str, Any]


class PulledList(BaseModel):
    data: list[PulledReturnOut]


@router.get(
    "/customers/{customer_id}/linked-returns",
    response_model=PulledList,
    summary="Returns pulled from the customer's linked systems (cached; never waits on them)",
)
def linked_returns(customer_id: str, ctx: Context, _: Reader) -> PulledList:
    with ctx.db.read() as session:
        customer = lookup.get_customer(session, customer_id)
        return PulledList(
            data=[
                PulledReturnOut(
                    system=r.system,
                    external_id=r.external_id,
                    state=r.state,
                    order_name=r.order_name,
                    source_updated_at=r.source_updated_at,
                    pulled_at=r.pulled_at,
                    data=r.data,
                )
                for r in linking.pulled_returns(session, customer)
            ]
        )


class ConnectorOut(BaseModel):
    key: str
    display_name: str
    capabilities: list[str]
    configured: bool
    missing_settings: list[str]
    webhook_url: str | None
    healthy: bool | None
    successes: int
    failures: int
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str


class ConnectorList(BaseModel):
    data: list[ConnectorOut]


@router.get(
    "/connectors", response_model=ConnectorList, summary="Connected systems and their health"
)
def connectors(ctx: Context, _: Reader) -> ConnectorList:
    with ctx.db.read() as session:
        by_key = {h.connector: h for h in health.all_health(session)}
    base = ctx.settings.base_url.rstrip("/")
    out = []
    for key, spec in SPECS.items():
        h = by_key.get(key)
        out.append(
            ConnectorOut(
                key=key,
                display_name=spec.display_name,
                capabilities=sorted(c.value for c in spec.capabilities),
                configured=is_configured(spec, ctx.settings),
                missing_settings=missing_settings(spec, ctx.settings),
                webhook_url=f"{base}{spec.webhook_path}" if spec.webhook_path else None,
                healthy=h.healthy if h else None,
                successes=h.successes if h else 0,
                failures=h.failures if h else 0,
                last_success_at=h.last_success_at if h else None,
                last_error_at=h.last_error_at if h else None,
                last_error=h.last_error if h else "",
            )
        )
    return ConnectorList(data=out)
