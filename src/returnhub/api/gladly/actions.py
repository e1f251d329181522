"""Gladly Actions: the forms an agent fills in from the customer profile, and their effects.

GET formUrl → form JSON; POST actionUrl with ``{attr: value}`` → 200 ``{message, detail}``
or 400 ``{errors: [{attr, code, detail}]}`` naming the field, which Gladly lets the agent fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.connectors.gladly.contract import ACTIONS_PATH
from returnhub.domain.errors import DomainError
from returnhub.domain.lifecycle import OPEN_STATES, ReturnState
from returnhub.domain.policy import Outcome, Policy
from returnhub.services import allowlist, return_links, returns
from returnhub.services.commands import AllowlistIn, NoteIn, ReturnCreate
from returnhub.services.customer_lookup import Profile, profile
from returnhub.settings import Settings
from returnhub.store.tables import Order

ACTOR = "gladly"


class ActionError(Exception):
    """Errors the agent can correct in the form (HTTP 400 in Gladly's shape)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["detail"] for e in errors))
        self.errors = errors


def field_error(attr: str, detail: str, code: str = "invalid") -> ActionError:
    return ActionError([{"attr": attr, "code": code, "detail": detail}])


@dataclass
class ActionContext:
    session: Session
    settings: Settings
    policy: Policy
    now: datetime
    profile: Profile
    order_id: str | None


def _select(
    attr: str, label: str, options: list[tuple[str, str]], default: str = "", hint: str = ""
) -> dict[str, Any]:
    return {
        "type": "input",
        "label": label,
        "attr": attr,
        "hint": hint,
        "defaultValue": default or (options[0][1] if options else ""),
        "input": {"type": "select", "options": [{"text": t, "value": v} for t, v in options]},
    }


def _text(
    attr: str, label: str, *, default: str = "", placeholder: str = "", optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "label": label,
        "attr": attr,
        "defaultValue": default,
        "input": {"type": "text", "placeholder": placeholder, "optional": optional},
    }


def _checkbox(attr: str, label: str) -> dict[str, Any]:
    return {
        "type": "input",
        "label": label,
        "attr": attr,
        "defaultValue": False,
        "input": {"type": "checkbox", "optional": True},
    }


def _order_options(ctx: ActionContext) -> list[tuple[str, str]]:
    return [(f"{o.name} · {o.placed_at:%Y-%m-%d}", o.public_id) for o in ctx.profile.orders]


def _form(
    ctx: ActionContext, action: str, title: str, submit: str, sections: list[dict[str, Any]]
) -> dict[str, Any]:
    params = {"customer": ctx.profile.customer.public_id} | (
        {"order": ctx.order_id} if ctx.order_id else {}
    )
    return {
        "title": title,
        "submitButton": submit,
        "closeButton": "Cancel",
        "actionUrl": f"{ACTIONS_PATH}/{action}/submit?{urlencode(params)}",
        "sections": sections,
    }


def _customer_order(ctx: ActionContext, order_id: Any, attr: str = "order") -> Order:
    found = ctx.session.scalar(
        select(Order).where(
            Order.public_id == str(order_id), Order.customer_id == ctx.profile.customer.id
        )
    )
    if found is None:
        raise field_error(
            attr, "choose one of this customer's orders", "blank" if not order_id else "invalid"
        )
    return found


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in {"true", "on", "1", "yes"}


# --- Generate return link -------------------------------------------------------------------


def return_link_form(ctx: ActionContext) -> dict[str, Any]:
    return _form(
        ctx,
        "return-link",
        "Generate a return link",
        "Create link",
        [
            _select("order", "Order", _order_options(ctx), ctx.order_id or ""),
            _checkbox("gift", "Gift return (refund as store credit to the recipient)"),
            {
                "type": "text",
                "text": f"Links expire after {ctx.settings.return_link_ttl_days} days.",
            },
        ],
    )


def return_link_submit(ctx: ActionContext, data: Mapping[str, Any]) -> dict[str, str]:
    order = _customer_order(ctx, data.get("order") or ctx.order_id)
    link = return_links.create(
        ctx.session, ctx.settings, order.public_id, _truthy(data.get("gift")), ctx.now
    )
    return {
        "message": f"Return link for {order.name} created",
        "detail": f"{link.url} (valid until {link.expires_at:%Y-%m-%d})",
    }


# --- Grant return exception -----------------------------------------------------------------


def exception_form(ctx: ActionContext) -> dict[str, Any]:
    email = ctx.profile.customer.emails[0].email if ctx.profile.customer.emails else ""
    kinds = [("This order", "order")] + ([(f"Every order of {email}", "email")] if email else [])
    return _form(
        ctx,
        "exception",
        "Grant a return exception",
        "Grant exception",
        [
            _select("kind", "Applies to", kinds, "order"),
            _select("order", "Order", _order_options(ctx), ctx.order_id or ""),
            _text("reason", "Reason", placeholder="e.g. item arrived late; goodwill for a VIP"),
        ],
    )


def exception_submit(ctx: ActionContext, data: Mapping[str, Any]) -> dict[str, str]:
    reason = str(data.get("reason") or "").strip()
    if not reason:
        raise field_error("reason", "say why the exception is granted", "blank")
    kind = str(data.get("kind") or "order")
    if kind == "email":
        if not ctx.profile.customer.emails:
            raise field_error("kind", "this customer has no email to allowlist")
        value = ctx.profile.customer.emails[0].email
    elif kind == "order":
        value = _customer_order(ctx, data.get("order") or ctx.order_id).name
    else:
        raise field_error("kind", "choose order or email")
    try:
        entry = allowlist.add_entry(
            ctx.session, AllowlistIn(kind=kind, value=value, reason=reason), ACTOR
        )
    except DomainError as exc:
        raise field_error("kind", exc.errors[0].message, exc.errors[0].code) from None
    return {
        "message": f"Return exception granted for {kind} {value}",
        "detail": f"{entry.public_id}: {reason}",
    }


# --- Add note to return ---------------------------------------------------------------------


def note_form(ctx: ActionContext) -> dict[str, Any]:
    options = [
        (f"{r.number} · {r.order_name} · {r.state.replace('_', ' ')}", r.public_id)
        for r in sorted(
            ctx.profile.returns, key=lambda r: (ReturnState(r.state) not in OPEN_STATES, -r.id)
        )
    ]
    return _form(
        ctx,
        "note",
        "Add a note to a return",
        "Add note",
        [_select("return", "Return", options), _text("note", "Note", placeholder="What happened")],
    )


def note_submit(ctx: ActionContext, data: Mapping[str, Any]) -> dict[str, str]:
    return_id = str(data.get("return") or "")
    if return_id not in {r.public_id for r in ctx.profile.returns}:
        raise field_error(
            "return",
            "choose one of this customer's returns",
            "blank" if not return_id else "invalid",
        )
    body = str(data.get("note") or "").strip()
    if not body:
        raise field_error("note", "write the note", "blank")
    note = returns.add_note(ctx.session, return_id, NoteIn(body=body[:10_000], author=ACTOR), ACTOR)
    return {"message": "Note added", "detail": note.public_id}


# --- Start a return -------------------------------------------------------------------------


def _line_label(title: str, variant: str) -> str:
    return f"{title} ({variant})" if variant else title


def start_return_form(ctx: ActionContext) -> dict[str, Any]:
    orders = [o for o in ctx.profile.orders if ctx.order_id in (None, o.public_id)]
    lines = [
        (
            f"{o.name} · {_line_label(line.title, line.variant)}, qty {line.quantity}",
            line.public_id,
        )
        for o in orders
        for line in o.lines
    ]
    return _form(
        ctx,
        "start-return",
        "Start a return",
        "Create return",
        [
            _select("line", "Item", lines),
            _text("quantity", "Quantity", default="1"),
            _select(
                "outcome",
                "Outcome",
                [(o.value.replace("_", " ").title(), o.value) for o in Outcome],
                "refund",
            ),
            _text("reason", "Reason", placeholder="e.g. Too small", optional=True),
        ],
    )


FIELD_BY_PATH = {
    "items.0": "line",
    "items.0.order_line_id": "line",
    "items.0.quantity": "quantity",
    "items": "line",
}


def start_return_submit(ctx: ActionContext, data: Mapping[str, Any]) -> dict[str, str]:
    line_id = str(data.get("line") or "")
    order = next(
        (o for o in ctx.profile.orders if any(line.public_id == line_id for line in o.lines)), None
    )
    if order is None:
        raise field_error(
            "line",
            "choose an item from this customer's orders",
            "blank" if not line_id else "invalid",
        )
    try:
        quantity = int(str(data.get("quantity") or "1").strip())
    except ValueError:
        raise field_error("quantity", "give a whole number", "not_a_number") from None
    if quantity < 1:
        raise field_error("quantity", "give at least 1")
    try:
        outcome = Outcome(str(data.get("outcome") or "refund"))
    except ValueError:
        raise field_error("outcome", "choose refund, exchange, store credit or gift card") from None
    command = ReturnCreate(
        order_id=order.public_id,
        items=[
            {
                "order_line_id": line_id,
                "quantity": quantity,
                "outcome": outcome,
                "reason": str(data.get("reason") or "")[:200],
            }
        ],
    )
    try:
        ret = returns.create_return(ctx.session, command, ctx.policy, ctx.now, ACTOR)
    except DomainError as exc:
        raise ActionError(
            [
                {"attr": FIELD_BY_PATH.get(e.field, "line"), "code": e.code, "detail": e.message}
                for e in exc.errors
            ]
        ) from None
    return {
        "message": f"Return {ret.number} created for {order.name}",
        "detail": f"state: {ret.state}",
    }


FormBuilder = Callable[[ActionContext], dict[str, Any]]
Submitter = Callable[[ActionContext, Mapping[str, Any]], dict[str, str]]

ACTIONS: dict[str, tuple[FormBuilder, Submitter]] = {
    "return-link": (return_link_form, return_link_submit),
    "exception": (exception_form, exception_submit),
    "note": (note_form, note_submit),
    "start-return": (start_return_form, start_return_submit),
}


def load_context(
    session: Session,
    settings: Settings,
    policy: Policy,
    now: datetime,
    customer_id: str,
    order_id: str | None,
) -> ActionContext:
    found = profile(session, customer_id)
    if found is None:
        raise field_error(
            "customer", f"no customer {customer_id!r} in returnhub; re-link the profile", "invalid"
        )
    return ActionContext(session, settings, policy, now, found, order_id)
