"""Shopify's order, fulfilment and customer webhooks (REST payloads) mapped to the domain's
ExternalOrder, ExternalFulfillment and ExternalCustomer (pure; services/order_sync applies them).

These topics carry the whole record and Shopify's own ``updated_at``, so unlike the returns
topics nothing is pulled: the payload is the change. Ids are Shopify's GraphQL ids (``gid://…``),
the form the search and the returns sync already use: a customer's and a line's
``admin_graphql_api_id`` (else built from the numeric ``id``), an order's built from its numeric
``id`` always, since a fulfilment names its order by that number only.

What a payload cannot honestly say is refused with a MappingError naming the field (the inbox
shows it and the event fails): identifiers too long for the ledger, quantities below one,
negative prices, more lines than an order may have.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from returnhub.connectors.errors import MappingError
from returnhub.connectors.mapping import money, required, timestamp
from returnhub.domain.external import (
    ExternalCustomer,
    ExternalFulfillment,
    ExternalOrder,
    ExternalOrderLine,
    NothingToApply,
)

SOURCE = "shopify"
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
CUSTOMER_TOPICS = frozenset({"customers/update"})

# The most lines an order may have here, as POST /api/v1/orders allows.
MAX_LINES = 500
# An order's fulfilments; Shopify splits an order into a handful at most.
MAX_FULFILLMENTS = 50

Payload = Mapping[str, Any]


def _gid(kind: str, payload: Payload, where: str) -> str:
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith(f"gid://shopify/{kind}/"):
        return gid
    return f"gid://shopify/{kind}/{_number(payload.get('id'), f'{where}.id')}"


def _number(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise MappingError(f"{field} is not a Shopify id: {value!r}")
    return int(value)


def _ident(value: Any, field: str, limit: int) -> str:
    """An identifier the ledger stores as is: refused, not cut, when it is too long."""
    text = str(value or "").strip()
    if len(text) > limit:
        raise MappingError(f"{field} is {len(text)} characters long; at most {limit} are kept")
    return text


def _label(value: Any, limit: int) -> str:
    """Display text (titles, names): cut to what the ledger keeps."""
    return str(value or "").strip()[:limit]


def _optional_time(value: Any, field: str) -> datetime | None:
    return timestamp(value, field) if value else None


def _name(first: Any, last: Any) -> str:
    return _label(" ".join(str(p).strip() for p in (first, last) if p), 200)


def lock_key(topic: str, payload: Payload) -> str | None:
    """Events of one order (its fulfilments included) apply in order, and of one customer."""
    if topic in ORDER_TOPICS:
        number = payload.get("id")
    elif topic in FULFILLMENT_TOPICS:
        number = payload.get("order_id")
    elif topic in CUSTOMER_TOPICS:
        rid = payload.get("id")
        return f"shopify:customer:{rid}" if rid not in (None, "") else None
    else:
        return None
    return f"shopify:order:{number}" if number not in (None, "") else None


def _order_gid(number: Any, field: str) -> str:
    """An order's gid from its numeric id: a fulfilment names its order by that alone, so the
    order's own events are keyed the same way (Shopify's admin_graphql_api_id is that id)."""
    return f"gid://shopify/Order/{_number(number, field)}"


def map_order(payload: Payload) -> ExternalOrder | NothingToApply:
    gid = _order_gid(payload.get("id"), "id")
    name = _ident(required(payload.get("name"), f"Shopify order {gid} has no name"), "name", 64)
    currency = required(payload.get("currency"), f"Shopify order {gid} has no currency").upper()
    buyer = payload.get("customer") or {}
    if not isinstance(buyer, Mapping):
        raise MappingError(f"Shopify order {gid}: customer is not an object")
    email = str(payload.get("email") or payload.get("contact_email") or buyer.get("email") or "")
    email = _ident(email.lower(), "email", 320)
    profile = (
        _gid("Customer", buyer, "customer")
        if buyer.get("id") or buyer.get("admin_graphql_api_id")
        else ""
    )
    if not email:
        return NothingToApply(
            f"Shopify order {name} ({gid}) has no customer email (a point-of-sale or "
            "guest order without contact details): the ledger keeps orders of customers it "
            "can identify"
        )
    items = payload.get("line_items")
    if not isinstance(items, list) or not items:
        raise MappingError(f"Shopify order {gid} has no line_items")
    if len(items) > MAX_LINES:
        raise MappingError(
            f"Shopify order {gid} has {len(items)} line_items; at most {MAX_LINES} are kept"
        )
    fulfillments = payload.get("fulfillments") or []
    if not isinstance(fulfillments, list) or len(fulfillments) > MAX_FULFILLMENTS:
        raise MappingError(
            f"Shopify order {gid}: fulfillments must be a list of at most {MAX_FULFILLMENTS}"
        )
    address = payload.get("shipping_address") or {}
    return ExternalOrder(
        source=SOURCE,
        external_id=gid,
        name=name,
        customer=ExternalCustomer(
            source=SOURCE,
            external_id=profile,
            email=email,
            name=_name(buyer.get("first_name"), buyer.get("last_name")),
            phone=str(buyer.get("phone") or payload.get("phone") or ""),
        ),
        placed_at=timestamp(payload.get("created_at"), "created_at"),
        updated_at=timestamp(payload.get("updated_at"), "updated_at"),
        currency=currency,
        shipping_zip=_label(address.get("zip") if isinstance(address, Mapping) else "", 20),
        lines=tuple(_line(gid, i, item, currency) for i, item in enumerate(items)),
        fulfillments=tuple(
            _fulfillment(f, f"fulfillments.{i}", order_gid=gid) for i, f in enumerate(fulfillments)
        ),
        cancelled_at=_optional_time(payload.get("cancelled_at"), "cancelled_at"),
    )


def _line(order: str, i: int, item: Any, currency: str) -> ExternalOrderLine:
    where = f"line_items.{i}"
    if not isinstance(item, Mapping):
        raise MappingError(f"Shopify order {order}: {where} is not an object")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise MappingError(
            f"Shopify order {order}: {where}.quantity must be a whole number of at least 1, "
            f"not {quantity!r}"
        )
    shop = ((item.get("price_set") or {}).get("shop_money") or {}).get("amount")
    price = money(shop if shop is not None else item.get("price"), f"{where}.price", currency)
    if price < 0:
        raise MappingError(f"Shopify order {order}: {where}.price is negative")
    line_id = _gid("LineItem", item, where)
    return ExternalOrderLine(
        external_id=line_id,
        sku=_ident(item.get("sku") or f"shopify-{line_id.rsplit('/', 1)[-1]}", f"{where}.sku", 64),
        title=_label(item.get("title") or item.get("name"), 200),
        variant=_label(item.get("variant_title"), 200),
        quantity=quantity,
        unit_price=price,
    )


def map_fulfillment(payload: Payload) -> ExternalFulfillment:
    return _fulfillment(
        payload, "fulfillment", order_gid=_order_gid(payload.get("order_id"), "order_id")
    )


def _fulfillment(payload: Any, where: str, *, order_gid: str) -> ExternalFulfillment:
    if not isinstance(payload, Mapping):
        raise MappingError(f"{where} is not an object")
    updated_at = timestamp(payload.get("updated_at"), f"{where}.updated_at")
    status = _ident(payload.get("shipment_status") or payload.get("status"), f"{where}.status", 32)
    numbers = payload.get("tracking_numbers") or []
    tracking = payload.get("tracking_number") or (numbers[0] if isinstance(numbers, list) else "")
    return ExternalFulfillment(
        source=SOURCE,
        external_id=_gid("Fulfillment", payload, where),
        order_external_id=order_gid,
        carrier=_ident(payload.get("tracking_company"), f"{where}.tracking_company", 64),
        tracking_number=_ident(tracking, f"{where}.tracking_number", 64),
        status=status,
        shipped_at=_optional_time(payload.get("created_at"), f"{where}.created_at"),
        # [I] The REST fulfilment has no delivery time: the update that first reports it
        # delivered is when it was.
        delivered_at=updated_at if status == "delivered" else None,
        updated_at=updated_at,
    )


def map_customer(payload: Payload) -> ExternalCustomer:
    gid = _gid("Customer", payload, "customer")
    email = _ident(str(payload.get("email") or "").lower(), "email", 320)
    return ExternalCustomer(
        source=SOURCE,
        external_id=gid,
        email=email,
        name=_name(payload.get("first_name"), payload.get("last_name")),
        phone=str(payload.get("phone") or ""),
        updated_at=timestamp(payload.get("updated_at"), "updated_at"),
    )
