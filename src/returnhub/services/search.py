"""Federated customer search: every connected system at once, each under its own timeout and
all under one budget. A system that fails or is slow is named in ``errors``; the others answer.
(Gladly's own search fails for all when one integration fails; ours never does.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from returnhub.connectors.base import Capability, ExternalProfile, SearchableSystem, SearchQuery
from returnhub.connectors.errors import DeliveryError


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
        return SearchResult([], [], [], {}, 0.0)
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
        searched=order,
        seconds=seconds,
        elapsed=round(time.monotonic() - started, 4),
    )
