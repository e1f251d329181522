"""Routing decisions for help desks, the self-service guide and the agent workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from returnhub.api.deps import Reader
from returnhub.domain.routing import Contact
from returnhub.domain.rules import Channel, Priority, SuggestedAction
from returnhub.runtime import Context
from returnhub.services import routing
from returnhub.services.commands import StrictModel

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; such an identifier matches nobody, so say it is invalid.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Identifier = Annotated[str | None, StringConstraints(max_length=320), AfterValidator(_no_nul)]


class ContactIn(StrictModel):
    channel: Annotated[Channel, BeforeValidator(_lower)] = Field(
        description="voice, email, chat, sms, facebook, instagram or whatsapp"
    )
    text: Annotated[str, StringConstraints(max_length=20_000)] = Field(
        default="", description="what the customer wrote; rules may test it with contains/matches"
    )


class CustomerRefIn(StrictModel):
    """Any of these; tried in this order, the first that identifies one customer wins."""

    customer_id: Identifier = None
    email: Identifier = None
    phone: Identifier = None


class EvaluateIn(StrictModel):
    contact: ContactIn
    customer: CustomerRefIn = Field(default_factory=CustomerRefIn)


class TraceEntryOut(BaseModel):
    rule: str
    attr: str
    op: str
    value: Any
    actual: Any
    result: bool
    line: int | None


class CustomerMatchOut(BaseModel):
    id: str
    matched_by: str


class DecisionOut(BaseModel):
    queue: str
    priority: Priority
    tags: list[str]
    actions: list[SuggestedAction]
    rule: str = Field(description="the rule that matched, or 'default'")
    reason: str
    trace: list[TraceEntryOut] = Field(
        description="every comparison evaluated, in order, with the value it saw and its result"
    )
    facts: dict[str, Any]
    customer: CustomerMatchOut | None = Field(
        description="who the identifiers matched; null when nobody (the rules still decide)"
    )


@router.post(
    "/evaluate",
    response_model=DecisionOut,
    summary="Route a contact: queue, priority, tags and suggested actions, with the reason",
)
def evaluate(body: EvaluateIn, ctx: Context, _: Reader) -> DecisionOut:
    try:
        rules = routing.active_rules(ctx.settings)
    except routing.RulesUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    ref = routing.CustomerRef(body.customer.customer_id, body.customer.email, body.customer.phone)
    contact = Contact(body.contact.channel, body.contact.text)
    with ctx.db.read() as session:
        routed = routing.route_contact(
            session, rules, contact, ref, ctx.clock(), ctx.settings.default_phone_region
        )
    decision = routed.decision
    match = routed.customer
    return DecisionOut(
        queue=decision.queue,
        priority=decision.priority,
        tags=list(decision.tags),
        actions=list(decision.actions),
        rule=decision.rule,
        reason=decision.reason,
        trace=[TraceEntryOut(**entry.as_dict()) for entry in decision.trace],
        facts=routed.facts,
        customer=CustomerMatchOut(id=match.customer_id, matched_by=match.matched_by)
        if match
        else None,
    )
