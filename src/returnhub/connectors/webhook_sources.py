"""The registry of inbound webhook sources. Routes, verification and mapping all follow from it:
adding a source is one entry here plus its mapping module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from returnhub.connectors import generic, registry, returnlogic, shopify, shopify_orders
from returnhub.connectors.loop import webhooks as loop
from returnhub.connectors.signatures import verify_hmac_base64, verify_standard_webhook
from returnhub.delivery import inbox
from returnhub.domain.external import (
    ExternalCustomer,
    ExternalFulfillment,
    ExternalLabel,
    ExternalOrder,
    ExternalReturn,
    NothingToApply,
)
from returnhub.settings import Settings

Payload = Mapping[str, Any]
Headers = Mapping[str, str]
Verifier = Callable[[str, bytes, Headers, str], None]
# What a source's record says, mapped: services/order_sync applies these.
OrderChange = ExternalOrder | ExternalFulfillment | ExternalCustomer | NothingToApply
# A pure mapping from a payload to what it says about a return (services/sync applies it), or
# about an order, a fulfilment or a customer.
Mapper = Callable[[Payload], ExternalReturn | ExternalLabel | OrderChange]


@dataclass(frozen=True)
class PullContext:
    settings: Settings
    http: httpx.Client
    now: datetime


# For payloads that only name a return: fetch it from the source, then map it (pure). Runs
# outside any database transaction, so a slow source never holds the write lock. None: the
# payload names no return (a refund of an order, not of a return), so there is nothing to apply.
Puller = Callable[[Payload, PullContext], ExternalReturn | None]
# One return's present state by its id in the source, or None when the source's API is not
# configured: read when an event's payload cannot say whether it is newer than the ledger.
# (Sources whose every event is pulled, like Shopify, never need it: a pull is the present.)
Refetcher = Callable[[str, PullContext], ExternalReturn | None]


@dataclass(frozen=True)
class WebhookSource:
    name: str
    display_name: str
    secret_setting: str
    secret_hint: str
    verify: Verifier
    event_type: Callable[[Payload, Headers], str]
    # The source's own event id; None → sha256 of the body is the dedupe key.
    event_id: Callable[[Payload, Headers], str | None]
    lock_key: Callable[[Payload, Headers], str | None]
    # Event types we map into the ledger; any other type is stored and marked ignored.
    mappers: Mapping[str, Mapper]
    # Event types turned into a pull of the return they name (never also in ``mappers``).
    pullers: Mapping[str, Puller] = field(default_factory=dict)
    refetch: Refetcher | None = None
    kept_headers: tuple[str, ...] = ()
    # The setting holding the ledger's system name for this source's returns; None: its name.
    system_setting: str | None = None
    # The signature covers the body only, and every event is a pull of the return's present
    # state: deduplicate on the body while an identical one waits to be applied (its pull will
    # see whatever the later one announces), whatever unsigned event id it carries.
    coalesce_by_body: bool = False

    def system(self, settings: Settings) -> str:
        """The system its returns belong to: set by the deployment, never by a payload."""
        return str(getattr(settings, self.system_setting)) if self.system_setting else self.name

    def secret(self, settings: Settings) -> str:
        value: Any = getattr(settings, self.secret_setting)
        return str(value.get_secret_value())

    def env_var(self) -> str:
        return f"RETURNHUB_{self.secret_setting.upper()}"

    def handled_types(self) -> list[str]:
        return sorted({*self.mappers, *self.pullers})


def _hmac_verifier(header: str) -> Verifier:
    def verify(secret: str, body: bytes, headers: Headers, hint: str) -> None:
        verify_hmac_base64(secret, body, headers, header, hint)

    return verify


def _standard(secret: str, body: bytes, headers: Headers, hint: str) -> None:
    verify_standard_webhook(secret, body, headers, hint)


def _none(_: Payload, __: Headers) -> str | None:
    return None


# Every returns topic Shopify has (REST names, as in X-Shopify-Topic).
SHOPIFY_RETURN_TOPICS = frozenset(
    {
        "returns/request",
        "returns/approve",
        "returns/decline",
        "returns/close",
        "returns/reopen",
        "returns/cancel",
        "returns/process",
        "returns/update",
    }
)


def _shopify_lock_key(topic: str, payload: Payload) -> str | None:
    return shopify_orders.lock_key(topic, payload) or shopify.lock_key(topic, payload)


def _shopify_return(gid: str, pull: PullContext) -> ExternalReturn:
    system = registry.shopify_system(pull.settings, pull.http)
    node = system.fetch_return(gid, pull.settings.outbound_timeout_seconds)
    return shopify.map_return(node, pull.now)


def _pull_shopify_return(payload: Payload, pull: PullContext) -> ExternalReturn:
    return _shopify_return(shopify.return_gid(payload), pull)


def _pull_refunded_return(payload: Payload, pull: PullContext) -> ExternalReturn | None:
    """refunds/create: the return it refunds, pulled whole (its refunds included); a refund of
    an order outside any return changes no return."""
    gid = shopify.refund_return_gid(payload)
    return _shopify_return(gid, pull) if gid else None


def _refetch_loop_return(return_id: str, pull: PullContext) -> ExternalReturn | None:
    system = registry.loop_system(pull.settings, pull.http)
    if system is None:
        return None
    return system.return_details(return_id, pull.settings.outbound_timeout_seconds)


SOURCES: dict[str, WebhookSource] = {
    source.name: source
    for source in (
        WebhookSource(
            name="loop",
            display_name="Loop Returns",
            secret_setting="loop_webhook_secret",
            secret_hint="RETURNHUB_LOOP_WEBHOOK_SECRET the secret shown on Loop's "
            "Developer Tools page",
            verify=_hmac_verifier("X-Loop-Signature"),
            event_type=lambda p, h: loop.event_type(p),
            # Loop sends no event id; the body (which carries edited_at) identifies the event.
            event_id=_none,
            lock_key=lambda p, h: loop.lock_key(p),
            mappers={
                **{t: loop.map_return for t in loop.RETURN_TRIGGERS},
                **{t: loop.map_label for t in loop.LABEL_TRIGGERS},
            },
            refetch=_refetch_loop_return,
        ),
        WebhookSource(
            name="shopify",
            display_name="Shopify",
            secret_setting="shopify_webhook_secret",
            secret_hint="RETURNHUB_SHOPIFY_WEBHOOK_SECRET the app's client secret (Shopify signs "
            "webhooks with it)",
            verify=_hmac_verifier("X-Shopify-Hmac-Sha256"),
            event_type=lambda p, h: h.get("x-shopify-topic", ""),
            event_id=lambda p, h: h.get("x-shopify-webhook-id") or h.get("x-shopify-event-id"),
            lock_key=lambda p, h: _shopify_lock_key(h.get("x-shopify-topic", ""), p),
            # Shopify's returns webhooks carry little more than id and status: each one pulls
            # the whole Return. Orders, fulfilments and customers come whole, with their own
            # updated_at: those payloads are the change.
            mappers={
                **{t: shopify_orders.map_order for t in shopify_orders.ORDER_TOPICS},
                **{t: shopify_orders.map_fulfillment for t in shopify_orders.FULFILLMENT_TOPICS},
                **{t: shopify_orders.map_customer for t in shopify_orders.CUSTOMER_TOPICS},
            },
            pullers={
                **{topic: _pull_shopify_return for topic in SHOPIFY_RETURN_TOPICS},
                "refunds/create": _pull_refunded_return,
            },
            kept_headers=("x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id"),
            # X-Shopify-Webhook-Id and X-Shopify-Topic are not signed: a captured body replayed
            # under fresh ids would otherwise count as a new event each time (an order's
            # replay is harmless anyway: its updated_at is not newer).
            coalesce_by_body=True,
        ),
        WebhookSource(
            name="returnlogic",
            display_name="ReturnLogic",
            secret_setting="returnlogic_webhook_secret",
            secret_hint="RETURNHUB_RETURNLOGIC_WEBHOOK_SECRET the signing secret configured "
            "for this webhook in ReturnLogic",
            # UNVERIFIED: ReturnLogic does not document its signature scheme (see the reference);
            # we require the Shopify-style HMAC in this header until it is confirmed.
            verify=_hmac_verifier("X-ReturnLogic-Hmac-Sha256"),
            event_type=lambda p, h: returnlogic.event_type(p),
            event_id=lambda p, h: str(p["eventId"]) if p.get("eventId") else None,
            lock_key=lambda p, h: returnlogic.lock_key(p),
            # EXPERIMENTAL: event names and body shape are unverified (see connectors/returnlogic).
            mappers={
                **{t: returnlogic.map_rma_event for t in returnlogic.RMA_EVENTS},
                **{t: returnlogic.map_rma_deleted for t in returnlogic.RMA_DELETED},
            },
        ),
        WebhookSource(
            name="generic",
            display_name="Generic (Standard Webhooks)",
            secret_setting="generic_webhook_secret",
            secret_hint="RETURNHUB_GENERIC_WEBHOOK_SECRET the whsec_… secret the sender signs with",
            verify=_standard,
            event_type=lambda p, h: generic.event_type(p),
            event_id=lambda p, h: h.get("webhook-id"),
            lock_key=lambda p, h: generic.lock_key(p),
            mappers={t: generic.map_return for t in generic.RETURN_TYPES},
            kept_headers=("webhook-id", "webhook-timestamp"),
            system_setting="generic_source_system",
        ),
    )
}


def dedupe_key(source: WebhookSource, payload: Payload, headers: Headers, body: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
    if source.coalesce_by_body:
        return f"{inbox.UNTIL_APPLIED}{digest}"
    own = source.event_id(payload, headers)
    return f"id:{own}" if own else digest
