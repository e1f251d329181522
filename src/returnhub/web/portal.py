"""The customer portal: ``/r/{token}`` from a personalised return link.

The link is the customer's only credential: every page checks it and shows that one order and
its returns, nothing else (no customer profile, no other orders, no internal notes). The form
carries a CSRF token derived from the link, so another site cannot post returns through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from returnhub.domain.errors import DomainError, NotFound
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import LineEligibility, Outcome
from returnhub.domain.return_links import ReturnLinkClaims
from returnhub.runtime import AppContext, Context
from returnhub.services import orders, return_links, returns
from returnhub.services.commands import ReturnCreate
from returnhub.store.tables import Order, OrderLine, Return
from returnhub.web.common import (
    domain_message,
    error_page,
    mac_of,
    page,
    read_form,
    same,
)

router = APIRouter(prefix="/r", include_in_schema=False)

CSRF_PURPOSE = "portal-csrf/v1"
ACTOR = "customer"
QUANTITY = re.compile(r"[0-9]{1,6}")
REASONS = (
    ("too_small", "Too small"),
    ("too_large", "Too large"),
    ("not_as_described", "Not as described"),
    ("damaged", "Arrived damaged"),
    ("changed_mind", "Changed my mind"),
    ("other", "Other"),
)
OUTCOME_LABELS = {
    Outcome.REFUND: "Refund to original payment",
    Outcome.EXCHANGE: "Exchange",
    Outcome.STORE_CREDIT: "Store credit",
    Outcome.GIFT_CARD: "Gift card",
}
PROGRESS = (
    ReturnState.REQUESTED,
    ReturnState.AUTHORIZED,
    ReturnState.IN_TRANSIT,
    ReturnState.RECEIVED,
    ReturnState.PROCESSED,
    ReturnState.CLOSED,
)
STATE_TEXT = {
    "requested": "We have your request and are reviewing it.",
    "authorized": "Approved: pack the items and send them back.",
    "in_transit": "Your parcel is on its way to us.",
    "received": "We received your parcel and are checking it.",
    "flagged": "A person is reviewing your return; we will be in touch.",
    "processed": "Your return is processed.",
    "closed": "Your return is complete.",
    "rejected": "This return was not accepted.",
    "cancelled": "This return was cancelled.",
    "expired": "This return expired before the items were sent.",
}
# Timeline entries a customer may see (notes and internal system entries stay internal).
CUSTOMER_TIMELINE_PREFIXES = ("created", "state.", "refund.", "label")


@dataclass
class LineView:
    line: OrderLine
    verdict: LineEligibility
    outcomes: list[tuple[str, str]]
    reasons: list[str]


def _csrf(ctx: Context, token: str) -> str:
    return mac_of(ctx.settings, CSRF_PURPOSE, token)


def _invalid(request: Request, exc: return_links.InvalidReturnLink) -> Response:
    expired = any(e.code == "expired" for e in exc.errors)
    title = "This return link has expired" if expired else "This return link does not work"
    message = domain_message(exc)
    if not expired:
        message += ". Check that you copied the whole link, or ask us for a new one."
    return error_page(request, 403, title, message)


def _line_views(order: Order, verdicts: list[LineEligibility], gift: bool) -> list[LineView]:
    by_id = {v.line_id: v for v in verdicts}
    views = []
    for line in order.lines:
        verdict = by_id[line.public_id]
        allowed = [
            (o.value, OUTCOME_LABELS[o])
            for o, e in verdict.outcomes.items()
            if e.eligible and not (gift and o is Outcome.REFUND)
        ]
        reasons: list[str] = []
        if not allowed:
            seen: set[str] = set()
            for e in verdict.outcomes.values():
                for r in e.reasons:
                    if r.message not in seen:
                        seen.add(r.message)
                        reasons.append(r.message)
        views.append(LineView(line, verdict, allowed, reasons))
    return views


def _order_page(
    request: Request,
    ctx: Context,
    token: str,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = ctx.clock()
    with ctx.db.read() as session:
        try:
            claims = return_links.check(session, ctx.settings, token, now)
        except return_links.InvalidReturnLink as exc:
            return _invalid(request, exc)
        order, verdicts = orders.eligibility(session, claims.order_id, ctx.policy, now)
        existing = returns.list_returns(session, order_id=order.public_id)
        return page(
            request,
            "portal_order.html",
            {
                "token": token,
                "csrf": _csrf(ctx, token),
                "order": order,
                "gift": claims.gift,
                "expires_at": claims.expires_at,
                "lines": _line_views(order, verdicts, claims.gift),
                "reasons": REASONS,
                "returns": existing,
                "errors": errors or [],
                "values": values or {},
            },
            status,
        )


@router.get("/{token}")
def order_page(token: str, request: Request, ctx: Context, items: str = "") -> Response:
    # ``?items=lin_a,lin_b`` (from the guide's "which item?" answer) pre-fills a quantity of 1
    # for those lines. It is unsigned on purpose: it only fills in the form, it grants nothing,
    # and ids that are not returnable lines of this order are ignored by the template.
    chosen = [i.strip() for i in items.split(",")[:50] if i.strip()]
    return _order_page(request, ctx, token, values={f"qty_{lid}": "1" for lid in chosen})


@router.post("/{token}")
async def start_return(token: str, request: Request, ctx: Context) -> Response:
    checked = await run_in_threadpool(_checked_link, token, request, ctx)
    if isinstance(checked, Response):
        return checked
    # Read only once the link is known good: a stranger's body is never read at all.
    form = await read_form(request)
    # Off the event loop: the write may wait seconds for SQLite's write lock.
    return await run_in_threadpool(_start_return, token, request, ctx, form, *checked)


LineFacts = list[tuple[str, str, str, str]]  # public id, sku, title, variant


def _checked_link(
    token: str, request: Request, ctx: AppContext
) -> Response | tuple[ReturnLinkClaims, LineFacts]:
    with ctx.db.read() as session:
        try:
            claims = return_links.check(session, ctx.settings, token, ctx.clock())
        except return_links.InvalidReturnLink as exc:
            return _invalid(request, exc)
        order = orders.get_order(session, claims.order_id)
        return claims, [(x.public_id, x.sku, x.title, x.variant) for x in order.lines]


def _start_return(
    token: str,
    request: Request,
    ctx: AppContext,
    form: dict[str, str],
    claims: ReturnLinkClaims,
    line_ids: LineFacts,
) -> Response:
    now = ctx.clock()
    if not same(form.get("csrf", ""), _csrf(ctx, token)):
        return error_page(
            request, 403, "This form has expired", "Reload the page and submit it again."
        )
    items: list[dict[str, object]] = []
    exchange_items: list[dict[str, object]] = []
    errors: list[str] = []
    for line_id, sku, title, variant in line_ids:
        raw = form.get(f"qty_{line_id}", "0").strip() or "0"
        # ASCII digits only ("²" and "①" are digits to str.isdigit but not to int), and few
        # of them: int() refuses more than 4,300 digits with a ValueError.
        if not QUANTITY.fullmatch(raw):
            errors.append("Quantities must be whole numbers.")
            continue
        quantity = int(raw)
        if quantity == 0:
            continue
        outcome = form.get(f"outcome_{line_id}", "")
        if claims.gift and outcome == Outcome.REFUND.value:
            errors.append("A gift return cannot be refunded to the original payment.")
            continue
        items.append(
            {
                "order_line_id": line_id,
                "quantity": quantity,
                "outcome": outcome,
                "reason": form.get(f"reason_{line_id}", "")[:200],
                "comment": form.get(f"comment_{line_id}", "")[:2000],
            }
        )
        if outcome == Outcome.EXCHANGE.value:
            wanted = form.get(f"exchange_{line_id}", "").strip()[:200]
            exchange_items.append(
                {"sku": sku, "title": title, "variant": wanted or variant, "quantity": quantity}
            )
    if not items and not errors:
        errors.append("Choose at least one item to return (set its quantity above 0).")
    if errors:
        return _order_page(request, ctx, token, errors, form, 422)
    try:
        data = ReturnCreate(
            order_id=claims.order_id,
            items=items,
            exchange_items=exchange_items,
        )
    except ValidationError as exc:
        messages = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _order_page(request, ctx, token, messages, form, 422)
    try:
        with ctx.db.write() as session:
            ret = returns.create_return(session, data, ctx.policy, now, ACTOR)
            return_id = ret.public_id
    except DomainError as exc:
        return _order_page(request, ctx, token, [e.message for e in exc.errors], form, 422)
    return RedirectResponse(f"/r/{token}/returns/{return_id}", status_code=303)


def _customer_timeline(ret: Return) -> list[object]:
    return [
        entry
        for entry in sorted(ret.timeline, key=lambda e: (e.created_at, e.id))
        if entry.kind.startswith(CUSTOMER_TIMELINE_PREFIXES)
    ]


@router.get("/{token}/returns/{return_id}")
def status_page(token: str, return_id: str, request: Request, ctx: Context) -> Response:
    now = ctx.clock()
    with ctx.db.read() as session:
        try:
            claims = return_links.check(session, ctx.settings, token, now)
        except return_links.InvalidReturnLink as exc:
            return _invalid(request, exc)
        try:
            ret = returns.get_return(session, return_id)
        except NotFound:
            ret = None
        if ret is None or ret.order.public_id != claims.order_id:
            # Another order's return looks exactly like one that does not exist.
            return error_page(
                request, 404, "Return not found", "This link does not show that return."
            )
        state = ReturnState(ret.state)
        steps = [s.value for s in PROGRESS]
        reached = steps.index(state.value) if state.value in steps else -1
        return page(
            request,
            "portal_status.html",
            {
                "token": token,
                "ret": ret,
                "order": ret.order,
                "state_text": STATE_TEXT.get(ret.state, ""),
                "steps": steps,
                "reached": reached,
                "off_path": reached < 0,
                "timeline": _customer_timeline(ret),
            },
        )
