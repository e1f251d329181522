"""The Lookup Adaptor contract: parse Gladly's requests, shape our answers (pure, no I/O).

Request quirks handled, per the reference: every query key may be a string or an array;
manual search uses singular keys (`email`) or plural ones (`emails`) depending on the app's
Search Query Attributes; custom attributes arrive flattened into `query` or nested in
`query.customAttributes`; auto-link requests carry the profile's arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from returnhub.domain.lifecycle import VOID_STATES, ReturnState
from returnhub.domain.money import CURRENCY_SYMBOLS, MINOR_UNIT_EXPONENT
from returnhub.services.customer_lookup import (
    Candidate,
    CustomerView,
    LookupQuery,
    OrderView,
    Profile,
    ReturnView,
)
from returnhub.store.tables import Customer

ACTIONS_PATH = "/integrations/gladly/actions"

# The values an ORDER transaction's `orderStatus` takes. Gladly documents an allowable list for
# Sidekick but publishes it on no page or sample we could read (shared/reference/gladly.md §1.3),
# so the README lists these, and which fact picks each: a return on the order wins, then
# delivery, then shipment.
ORDER_STATUSES: tuple[str, ...] = (
    "Placed",
    "Shipped",
    "Delivered",
    *(f"Return {state.value.replace('_', ' ')}" for state in ReturnState),
)
PRODUCT_STATUSES = ("fulfilled", "delivered", "partially returned", "returned")
FULFILLMENT_STATUSES = ("in_transit", "delivered")


class Level(StrEnum):
    BASIC = "BASIC"
    DETAILED = "DETAILED"


class GladlyRequestError(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["detail"] for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class LookupRequest:
    level: Level
    unique_match_required: bool
    query: LookupQuery
    auto_link: bool
    external_customer_id: str | None
    gladly_customer_id: str | None
    custom_attributes: dict[str, str] = field(default_factory=dict)


def _strings(value: Any, attr: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v for v in value if v.strip())
    raise GladlyRequestError(
        [
            {
                "attr": attr,
                "code": "invalid",
                "detail": f"{attr} must be a string or an array of strings",
            }
        ]
    )


def parse_request(body: Any) -> LookupRequest:
    if not isinstance(body, dict):
        raise GladlyRequestError(
            [{"attr": "body", "code": "invalid", "detail": "the body must be a JSON object"}]
        )
    errors: list[dict[str, str]] = []
    raw_level = body.get("lookupLevel")
    level: Level | None = None
    if not isinstance(raw_level, str) or raw_level.upper() not in Level.__members__:
        errors.append(
            {
                "attr": "lookupLevel",
                "code": "invalid",
                "detail": "lookupLevel must be BASIC or DETAILED",
            }
        )
    else:
        level = Level(raw_level.upper())
    unique = body.get("uniqueMatchRequired")
    if not isinstance(unique, bool):
        errors.append(
            {
                "attr": "uniqueMatchRequired",
                "code": "blank",
                "detail": "uniqueMatchRequired must be true or false",
            }
        )
    query = body.get("query")
    if not isinstance(query, dict):
        errors.append({"attr": "query", "code": "blank", "detail": "query must be an object"})
        query = {}
    if level is Level.DETAILED:
        if unique is False:
            errors.append(
                {
                    "attr": "uniqueMatchRequired",
                    "code": "invalid",
                    "detail": "DETAILED lookups require uniqueMatchRequired: true",
                }
            )
        external = query.get("externalCustomerId")
        if not isinstance(external, str | int) or not str(external).strip():
            errors.append(
                {
                    "attr": "query.externalCustomerId",
                    "code": "blank",
                    "detail": "DETAILED lookups require query.externalCustomerId",
                }
            )
    try:
        emails = _strings(query.get("emails"), "query.emails") + _strings(
            query.get("email"), "query.email"
        )
        phones = _strings(query.get("phones"), "query.phones") + _strings(
            query.get("phone"), "query.phone"
        )
        names = _strings(query.get("name"), "query.name")
        orders = _strings(query.get("orderNumber"), "query.orderNumber") + _strings(
            query.get("orderNumbers"), "query.orderNumbers"
        )
    except GladlyRequestError as exc:
        errors.extend(exc.errors)
        emails = phones = names = orders = ()
    if errors:
        raise GladlyRequestError(errors)
    assert level is not None and isinstance(unique, bool)
    known = {
        "emails",
        "email",
        "phones",
        "phone",
        "name",
        "id",
        "orderNumber",
        "orderNumbers",
        "externalCustomerId",
        "customAttributes",
    }
    custom = {
        k: str(v) for k, v in query.items() if k not in known and isinstance(v, str | int | float)
    }
    nested = query.get("customAttributes")
    if isinstance(nested, dict):
        custom.update({k: str(v) for k, v in nested.items() if isinstance(v, str | int | float)})
    external_id = query.get("externalCustomerId")
    gladly_id = query.get("id")
    return LookupRequest(
        level=level,
        unique_match_required=unique,
        query=LookupQuery(
            emails=emails, phones=phones, name=names[0] if names else "", order_numbers=orders
        ),
        # Auto-link suggestions carry the profile's arrays; a manual search an agent's terms.
        auto_link=isinstance(query.get("emails"), list) or isinstance(query.get("phones"), list),
        external_customer_id=str(external_id).strip() if external_id not in (None, "") else None,
        gladly_customer_id=str(gladly_id) if isinstance(gladly_id, str) else None,
        custom_attributes=custom,
    )


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as Gladly's samples write them."""
    # isoformat is C code; strftime parses its format string on every call.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _contacts(customer: Customer | CustomerView) -> dict[str, Any]:
    return {
        "emails": [{"original": e.email} for e in customer.emails],
        "phones": [{"original": p.number, "type": p.type} for p in customer.phones],
    }


def basic_result(candidate: Candidate) -> dict[str, Any]:
    """A search result: who they are, and the attributes shown beside the result."""
    customer = candidate.customer
    return {
        "externalCustomerId": customer.public_id,
        "name": customer.name,
        **_contacts(customer),
        "customAttributes": {
            "email": customer.emails[0].email if customer.emails else "",
            "openReturnCount": str(candidate.open_returns),
            "lifetimeReturnCount": str(candidate.lifetime_returns),
        },
    }


def _actions(customer_id: str, order_id: str | None = None) -> list[dict[str, str]]:
    # Our public ids are [a-z0-9_] (domain/ids): nothing in them needs URL-encoding.
    query = f"customer={customer_id}" + (f"&order={order_id}" if order_id else "")
    actions = [
        ("Generate return link", "return-link"),
        ("Grant return exception", "exception"),
        ("Start a return", "start-return"),
    ]
    if order_id is None:
        actions.append(("Add note to return", "note"))
    return [
        {"name": name, "formUrl": f"{ACTIONS_PATH}/{key}/form?{query}"} for name, key in actions
    ]


def amount(minor: int, currency: str) -> str:
    """Money as Gladly's ORDER transaction takes it ("formatted with the currency symbol"),
    one form for every currency: the symbol, then the digits with the currency's minor unit
    and no grouping (``$1234.50``, ``¥1200``, ``KWD12.900``). A currency without a symbol of
    its own is marked by its ISO code, in the same place. No grouping separators, because
    Gladly reads the number out of the string (its App Platform lookup client takes the first
    run of digits, which is ``1`` in ``$1,234.50``) and Sidekick's rules compare it."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    sign = "-" if minor < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    if exponent == 0:
        return f"{sign}{symbol}{abs(minor)}"
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{symbol}{whole}.{fraction:0{exponent}d}"


def _order_status(order: OrderView, returns: list[ReturnView]) -> str:
    if returns:
        latest = max(returns, key=lambda r: (r.updated_at, r.id))
        label = ReturnState(latest.state).value.replace("_", " ")
        return f"Return {label}"
    if order.delivered_at is not None:
        return "Delivered"
    return "Shipped" if order.fulfillments else "Placed"


def _order_note(returns: list[ReturnView]) -> str:
    parts = []
    for r in sorted(returns, key=lambda x: x.id):
        refund = amount(r.refund_amount, r.currency)
        state = r.state.replace("_", " ")
        parts.append(f"{r.number}: {state}, refund {refund} {r.refund_state}")
    return "; ".join(parts)


def order_transaction(
    customer_id: str, order: OrderView, returns: list[ReturnView], base_url: str
) -> dict[str, Any]:
    returned: dict[int, int] = {}
    for r in returns:
        if r.state in VOID_STATES:  # took nothing back (states are str enums: no conversion)
            continue
        for item in r.items:
            returned[item.order_line_id] = returned.get(item.order_line_id, 0) + item.quantity
    total = sum(line.unit_price * line.quantity for line in order.lines)
    status_page = next((r.status_page_url for r in returns if r.status_page_url), "")
    # Counts and ids are strings, as Gladly's sample adaptor sends them ("integers must be
    # converted to strings", gladly/lookup-practice services/orders.js).
    transaction: dict[str, Any] = {
        "type": "ORDER",
        "orderNumber": order.name.lstrip("#"),
        "createdAt": iso(order.placed_at),
        "orderStatus": _order_status(order, returns),
        "orderTotal": amount(total, order.currency),
        "currencyCode": order.currency,
        "itemCount": str(sum(line.quantity for line in order.lines)),
        "orderLink": f"{base_url}/agent/orders/{order.public_id}",
        "note": _order_note(returns),
        "products": [
            {
                "id": line.public_id,
                "name": line.title,
                "sku": line.sku,
                "quantity": str(line.quantity),
                "unitPrice": amount(line.unit_price, order.currency),
                "total": amount(line.unit_price * line.quantity, order.currency),
                "status": (
                    ("returned" if returned[line.id] >= line.quantity else "partially returned")
                    if returned.get(line.id)
                    else ("delivered" if order.delivered_at else "fulfilled")
                ),
            }
            for line in order.lines
        ],
        "fulfillments": [
            {
                "productIds": [line.public_id for line in order.lines],
                "trackingNumber": f.tracking_number,
                "carrier": f.carrier,
                "status": "delivered" if order.delivered_at else "in_transit",
            }
            for f in order.fulfillments
        ],
        "actions": _actions(customer_id, order.public_id),
    }
    if status_page:
        # The customer-facing page of the order's return, from the system that holds it. With
        # none the key is left out rather than sent empty: Sidekick would offer a dead link.
        transaction["customerOrderUrl"] = status_page
    return transaction


def detailed_result(
    profile: Profile, now: datetime, base_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, Any]:
    customer = profile.customer
    relevant = profile.most_relevant_return
    pending = profile.refund_pending_days(now)
    attributes = {
        "rmaLink": f"{base_url}/agent/returns/{relevant.public_id}" if relevant else "",
        "rmaNumber": relevant.number if relevant else "",
        "latestReturnState": relevant.state if relevant else "",
        "returnStatusPageUrl": relevant.status_page_url if relevant else "",
        "openReturnCount": str(len(profile.open_returns)),
        "refundPendingDays": str(pending) if pending is not None else "",
        "lifetimeReturnCount": str(len(profile.returns)),
        **(extra or {}),
    }
    by_order: dict[int, list[ReturnView]] = {}
    for r in profile.returns:
        by_order.setdefault(r.order_id, []).append(r)
    return {
        "externalCustomerId": customer.public_id,
        "name": customer.name,
        **_contacts(customer),
        "customAttributes": attributes,
        "transactions": [
            order_transaction(customer.public_id, order, by_order.get(order.id, []), base_url)
            for order in profile.orders
        ],
        "actions": _actions(customer.public_id),
    }
