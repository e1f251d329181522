"""Federated customer search: every connected system at once, each under its own timeout and
all under one budget. A system that fails or is slow is named in ``errors``; the others answer.
(Gladly's own search fails for all when one integration fails; ours never does.)

``search`` is the use case the REST API and the agent workspace both call: it chooses the
systems, searches them (``federated_search``) and names the ledger customer already holding
each match, in one query for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import httpx

from returnhub.connectors.base import Capability, ExternalProfile, SearchableSystem, SearchQuery
from returnhub.connectors.errors import DeliveryError
from returnhub.connectors.registry import configured_systems
from returnhub.domain.contact import normalize_phone
from returnhub.domain.errors import FieldError, InvalidInput
from returnhub.services import linking, lookup
from returnhub.settings import Settings
from returnhub.store.db import Database


@dataclass(frozen=True)
class SystemFailure:
    system: str
    error_class: str
    message: str


@dataclass
class SearchMatch:
    system: str
    external_id: str
    name: str
    # The public id of the ledger customer holding this profile (for a ledger match, the
    # customer itself); None when nobody holds it, or before ``search`` looked it up.
    holder: str | None = None


@dataclass
class SearchRow:
    """One person: every system profile that shares an email or phone with another."""

    name: str
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    matches: list[SearchMatch] = field(default_factory=list)

    @property
    def systems(self) -> list[str]:
        return list(dict.fromkeys(m.system for m in self.matches))


@dataclass
class SearchResult:
    rows: list[SearchRow]
    errors: list[SystemFailure]
    # The systems asked, and those of them that can answer this query (an order number
    # alone goes only to systems that search orders).
    chosen: list[str]
    searched: list[str]
    seconds: dict[str, float]
    elapsed: float


def merge(profiles: list[ExternalProfile]) -> list[SearchRow]:
    """Group profiles that share a normalised email or E.164 phone (union-find)."""
    parent = list(range(len(profiles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, profile in enumerate(profiles):
        keys = [f"e:{e.lower()}" for e in profile.emails] + [
            f"p:{p.number}" for p in profile.phones
        ]
        for key in keys:
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[ExternalProfile]] = {}
    for i, profile in enumerate(profiles):
        groups.setdefault(find(i), []).append(profile)
    rows = []
    for members in groups.values():
        row = SearchRow(name=next((m.name for m in members if m.name), ""))
        for m in members:
            row.emails.extend(e for e in m.emails if e not in row.emails)
            row.phones.extend(p.number for p in m.phones if p.number not in row.phones)
            row.matches.append(SearchMatch(m.system, m.external_id, m.name))
        rows.append(row)
    return rows


def federated_search(
    systems: Mapping[str, SearchableSystem],
    query: SearchQuery,
    *,
    system_timeout: float,
    budget: float,
) -> SearchResult:
    started = time.monotonic()
    wanted = {
        key: system
        for key, system in systems.items()
        # An order number alone goes only where orders can be searched.
        if query.emails or query.phones or Capability.SEARCH_ORDERS in system.spec.capabilities
    }
    seconds: dict[str, float] = {}
    profiles: list[ExternalProfile] = []
    errors: list[SystemFailure] = []
    if not wanted:
        return SearchResult([], [], list(systems), [], {}, 0.0)
    pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="returnhub-search")
    try:

        def run(key: str, system: SearchableSystem) -> list[ExternalProfile]:
            t0 = time.monotonic()
            try:
                return system.search_customers(query, system_timeout)
            finally:
                seconds[key] = round(time.monotonic() - t0, 4)

        futures: dict[Future[list[ExternalProfile]], str] = {
            pool.submit(run, key, system): key for key, system in wanted.items()
        }
        pending = set(futures)
        deadline = started + budget
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                key = futures[future]
                try:
                    profiles.extend(future.result())
                except DeliveryError as exc:
                    errors.append(SystemFailure(key, exc.error_class.value, exc.message))
                except Exception as exc:  # a connector bug must not take the search down
                    errors.append(SystemFailure(key, "internal", f"{type(exc).__name__}: {exc}"))
        for future in pending:
            key = futures[future]
            errors.append(
                SystemFailure(key, "timeout", f"no answer within the {budget:g} s search budget")
            )
    finally:
        # Do not wait for stragglers: their own timeouts end them in the background.
        pool.shutdown(wait=False, cancel_futures=True)
    order = list(wanted)
    errors.sort(key=lambda e: order.index(e.system))
    return SearchResult(
        rows=merge(profiles),
        errors=errors,
        chosen=list(systems),
        searched=order,
        seconds=seconds,
        elapsed=round(time.monotonic() - started, 4),
    )


@dataclass(frozen=True)
class SearchTerms:
    """What to look for, as the caller typed it: any of an email, a phone number (in any
    format, read in the default region) and an order number."""

    email: str | None = None
    phone: str | None = None
    order_number: str | None = None


@dataclass(frozen=True)
class AllSystems:
    """Every connected system, the ledger included."""


@dataclass(frozen=True)
class UnlinkedSystems:
    """The external systems the customer is not linked to yet."""

    customer_id: str | None


@dataclass(frozen=True)
class NamedSystems:
    names: tuple[str, ...]


SystemChoice = AllSystems | UnlinkedSystems | NamedSystems


class UnknownSystems(InvalidInput):
    """The choice names no system that can be searched (unknown names, or ``all-unlinked``
    without a customer)."""


def _query(terms: SearchTerms, region: str) -> SearchQuery:
    if not (terms.email or terms.phone or terms.order_number):
        raise InvalidInput(
            "no search term", [FieldError("", "missing_query", "give email, phone or order_number")]
        )
    phones = (normalize_phone(terms.phone, region, field="phone"),) if terms.phone else ()
    return SearchQuery(
        emails=(terms.email,) if terms.email else (),
        phones=phones,
        order_number=terms.order_number or "",
    )


def _chosen(
    db: Database, available: Mapping[str, SearchableSystem], choice: SystemChoice
) -> dict[str, SearchableSystem]:
    if isinstance(choice, AllSystems):
        return dict(available)
    if isinstance(choice, UnlinkedSystems):
        if not choice.customer_id:
            raise UnknownSystems(
                "needs a customer",
                [
                    FieldError(
                        "systems",
                        "customer_required",
                        "all-unlinked searches the systems a customer is not linked to: "
                        "give customer_id, or use systems=all",
                    )
                ],
            )
        with db.read() as session:
            customer = lookup.get_customer(session, choice.customer_id)
            linked = {row.system for row in linking.links_of(session, customer)}
        return {k: v for k, v in available.items() if k not in linked and k != linking.LEDGER}
    unknown = [n for n in choice.names if n not in available]
    if unknown or not choice.names:
        raise UnknownSystems(
            "unknown systems",
            [
                FieldError(
                    "systems",
                    "unknown_system",
                    f"not connected: {unknown}; connected systems are {', '.join(available)}",
                )
            ],
        )
    return {n: available[n] for n in choice.names}


def _name_holders(db: Database, rows: list[SearchRow]) -> None:
    matches = [m for row in rows for m in row.matches]
    external = {(m.system, m.external_id) for m in matches if m.system != linking.LEDGER}
    with db.read() as session:
        held = linking.holders(session, external)
    for m in matches:
        m.holder = (
            m.external_id if m.system == linking.LEDGER else held.get((m.system, m.external_id))
        )


def search(
    settings: Settings,
    db: Database,
    http: httpx.Client,
    terms: SearchTerms,
    choice: SystemChoice,
) -> SearchResult:
    """Search the chosen connected systems for ``terms``; each match names its holder.

    Raises InvalidInput for missing terms or an unreadable phone, UnknownSystems for a choice
    naming no searchable system, NotFound for an unknown customer.
    """
    query = _query(terms, settings.default_phone_region)
    wanted = _chosen(db, configured_systems(settings, db, http), choice)
    result = federated_search(
        wanted,
        query,
        system_timeout=settings.search_system_timeout_seconds,
        budget=settings.search_budget_seconds,
    )
    _name_holders(db, result.rows)
    return result
