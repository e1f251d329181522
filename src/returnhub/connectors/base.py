"""What a connector is, apart from a connector configured for this merchant.

A ``ConnectorSpec`` is static: key, display name, capabilities, the settings it needs. A
configured connector (a ``SearchableSystem``) holds credentials and a client and answers the
capability calls. Everything that talks to another system raises only ``DeliveryError``
subclasses (via connectors/http.py), so search, the outbox and health treat failures alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from returnhub.domain.external import ExternalReturn


class Capability(StrEnum):
    SEARCH_CUSTOMERS = "search_customers"
    SEARCH_ORDERS = "search_orders"
    PULL_RETURNS = "pull_returns"
    PUSH_DECISION = "push_decision"
    RETURN_LINK = "return_link"
    ALLOWLIST = "allowlist"
    RECEIVE_WEBHOOKS = "receive_webhooks"


@dataclass(frozen=True)
class ConnectorSpec:
    key: str
    display_name: str
    capabilities: frozenset[Capability]
    settings: tuple[str, ...]
    """Settings (RETURNHUB_<NAME>) that must be non-empty for the connector to be configured."""
    webhook_path: str = ""


@dataclass(frozen=True)
class SearchQuery:
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    """E.164."""
    order_number: str = ""


@dataclass(frozen=True)
class ExternalPhone:
    number: str
    type: str = "MOBILE"


@dataclass(frozen=True)
class ExternalProfile:
    """A customer as one system knows them."""

    system: str
    external_id: str
    name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[ExternalPhone, ...] = ()
    order_names: tuple[str, ...] = field(default=())


class SearchableSystem(Protocol):
    spec: ConnectorSpec

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]: ...


class ReturnsSource(Protocol):
    spec: ConnectorSpec

    def pull_returns(self, profile: ExternalProfile, timeout: float) -> list[ExternalReturn]: ...


def lower_emails(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip().lower() for v in values if v and v.strip()))
