"""The self-service guide ("Where's my return?") over chat, email and SMS.

One customer message in, one reply out, in one write transaction. The conversation's ``state``
(JSON) is the guide's memory between turns: who the customer is (and how that was verified), what
the guide asked last ("which order?", "which item?", "your email or order number + ZIP?") and for
which intent, and how many unclear messages in a row it has seen.

Identity first: nothing about an order is disclosed before the customer is verified, by the
channel's own email or phone, or by an order number plus the ZIP of that order's shipping address.
An email typed into the conversation is only a claim: it still needs the ZIP of one of that
customer's orders. Every failure answers with the same words, whether the order or email exists
or not, so the guide never tells a stranger what the ledger holds.

Every reply records the intent, the facts it used and a trace of the steps (classifier evidence,
identity, eligibility reasons, exception criteria, routing rule trace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload, selectinload

from returnhub.domain.contact import normalize_email
from returnhub.domain.errors import DomainError, FieldError, NotFound
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.intents import DEFAULT_CLASSIFIER, Classifier, Intent
from returnhub.domain.lifecycle import OPEN_STATES, ReturnState
from returnhub.domain.money import Money
from returnhub.domain.policy import (
    LineEligibility,
    LineFacts,
    OrderFacts,
    Policy,
    ReasonCode,
    evaluate_order,
)
from returnhub.domain.routing import VIP_TAG, Contact, routing_facts
from returnhub.domain.rules import Channel
from returnhub.services import allowlist, orders, return_links, routing
from returnhub.services.commands import AllowlistIn
from returnhub.settings import Settings
from returnhub.store.tables import (
    AllowlistEntry,
    Conversation,
    ConversationMessage,
    Customer,
    Order,
    Return,
)

GUIDE_ACTOR = "guide"
SMS_MAX = 320
MAX_VERIFY_FAILURES = 3
NOT_VERIFIED = (
    "I couldn't verify those details. Please check the order number and the ZIP code of the "
    "shipping address, or send the email address you ordered with."
)
ASK_IDENTITY = (
    "To look that up I need to know who you are: please send the email address you ordered "
    "with, or your order number and the ZIP code of the shipping address (e.g. #1234 94107)."
)
CLARIFY = (
    "Sorry, I didn't quite get that. Is it about the status of a return, a refund, starting a "
    "return, or would you like to talk to a person?"
)
CLARIFY_REPLIES = ["Where's my return?", "Where's my refund?", "Start a return", "Talk to a person"]
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# An order number has a digit: "my order was late" names no order (and costs no query).
_ORDER = re.compile(
    r"(?:#\s*|\border\s*(?:number|no\.?|num)?\s*[:#]?\s*)((?=[A-Za-z-]*\d)[A-Za-z0-9-]{3,20})",
    re.I,
)
_ZIP_LABELLED = re.compile(
    r"\b(?:zip|postal|post)\s*(?:code)?\s*(?:is|:)?\s*([A-Za-z0-9 -]{3,10})", re.I
)
_ZIP_BARE = re.compile(r"\b(\d{5}(?:-\d{4})?)\b")


class ConversationNotFound(NotFound):
    pass


@dataclass
class Reply:
    text: str
    intent: Intent
    quick_replies: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {
            "quick_replies": self.quick_replies,
            "actions": self.actions,
            "handoff": self.handoff,
        }


@dataclass
class Turn:
    """Everything one message needs: the session, settings, policy, clock and conversation."""

    session: Session
    settings: Settings
    policy: Policy
    now: datetime
    conversation: Conversation
    text: str
    state: dict[str, Any]
    customer: Customer | None = None
    """The verified customer, read with the conversation (one query instead of two)."""
    allowlisted: list[AllowlistEntry] | None = None
    """The customer's allowlist entries, read once for eligibility and the exception check."""
    trace: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> Channel:
        return Channel(self.conversation.channel)

    @property
    def short(self) -> bool:
        return self.channel in (Channel.SMS, Channel.VOICE)

    def step(self, name: str, **detail: Any) -> None:
        self.trace.append({"step": name, **detail})

    def say(self, long: str, short: str | None = None) -> str:
        if not self.short:
            return long
        text = short if short is not None else long
        return text if len(text) <= SMS_MAX else text[: SMS_MAX - 1] + "…"


# ---- conversations ------------------------------------------------------------------------------


def start(
    session: Session,
    settings: Settings,
    channel: Channel,
    email: str | None,
    phone: str | None,
) -> Conversation:
    """A new conversation; the channel's email or phone identifies the customer when it can."""
    state: dict[str, Any] = {"unclear": 0, "verify_failures": 0}
    conversation = Conversation(
        public_id=new_id(Prefix.CONVERSATION),
        channel=channel.value,
        email=(email or "").strip().lower()[:320],
        phone=(phone or "").strip()[:40],
    )
    match = routing.identify(
        session,
        routing.CustomerRef(email=email or None, phone=phone or None),
        settings.default_phone_region,
    )
    if match is not None:
        conversation.customer_id = match.key
        state["verified_by"] = f"channel_{match.matched_by}"
    conversation.state = state
    session.add(conversation)
    session.flush()
    return conversation


def get(session: Session, public_id: str) -> Conversation:
    conversation = session.scalar(
        select(Conversation)
        .where(Conversation.public_id == public_id)
        .options(selectinload(Conversation.messages))
    )
    if conversation is None:
        raise ConversationNotFound(
            "no such conversation",
            [FieldError("conversation_id", "not_found", f"no conversation with id {public_id!r}")],
        )
    return conversation


def customer_public_id(session: Session, conversation: Conversation) -> str | None:
    if conversation.customer_id is None:
        return None
    return session.scalar(select(Customer.public_id).where(Customer.id == conversation.customer_id))


def handle_message(
    session: Session,
    settings: Settings,
    policy: Policy,
    public_id: str,
    text: str,
    now: datetime,
    classifier: Classifier = DEFAULT_CLASSIFIER,
) -> Reply:
    """Record the customer's message, decide, record and return the guide's reply.

    Round trips are the cost of a turn on PostgreSQL, so the conversation and its verified
    customer come in one query, and both messages go in one INSERT without RETURNING.
    """
    row = session.execute(
        select(Conversation, Customer)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.public_id == public_id)
        .with_for_update(of=Conversation)
    ).first()
    if row is None:
        get(session, public_id)  # raises the NotFound
        raise AssertionError("unreachable")
    conversation, customer = row[0], row[1]
    turn = Turn(session, settings, policy, now, conversation, text, dict(conversation.state or {}))
    turn.customer = customer
    reply = _decide(turn, classifier)
    reply.facts = {**turn.facts, **reply.facts}
    reply.trace = turn.trace + reply.trace
    conversation.state = turn.state
    conversation.updated_at = now
    session.flush()
    session.execute(
        insert(ConversationMessage),
        [
            {
                "conversation_id": conversation.id,
                "role": "customer",
                "text": text,
                "intent": "",
                "facts": {},
                "trace": [],
                "reply": {},
                "created_at": now,
            },
            {
                "conversation_id": conversation.id,
                "role": "guide",
                "text": reply.text,
                "intent": reply.intent.value,
                "facts": _jsonable(reply.facts),
                "trace": _jsonable(reply.trace),
                "reply": _jsonable(reply.payload()),
                "created_at": now,
            },
        ],
    )
    return reply


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# ---- deciding -----------------------------------------------------------------------------------


def _decide(turn: Turn, classifier: Classifier) -> Reply:
    state = turn.state
    result = classifier.classify(turn.text)
    turn.step("classify", **result.as_dict())
    intent = result.intent
    if state.get("handed_off"):
        # A person owns the conversation now: the guide must not answer over them. The handoff
        # is repeated so a help desk that reads each reply still routes the new message.
        turn.step("handed_off", handoff=state.get("handoff"))
        turn.facts["intent"] = intent.value
        return Reply(
            turn.say(
                "A member of our team has your conversation and will reply here shortly.",
                "A team member will reply shortly.",
            ),
            intent,
            handoff=state.get("handoff"),
        )
    awaiting = state.get("awaiting")

    # An answer to our own question keeps the intent we were pursuing, unless the customer
    # clearly asked for something else.
    if awaiting and intent in (Intent.UNKNOWN, state.get("pending_intent")):
        intent = Intent(state.get("pending_intent") or Intent.UNKNOWN)
        turn.step("continue", awaiting=awaiting, intent=intent.value)
    elif awaiting and awaiting != "identity":
        state.pop("awaiting", None)
        state.pop("order_id", None)
    turn.facts["intent"] = intent.value
    turn.facts["intent_score"] = result.score

    if intent is Intent.HUMAN:
        state["unclear"] = 0
        return _handoff(turn, Intent.HUMAN, "the customer asked for a person")
    if intent is Intent.UNKNOWN and awaiting != "identity":
        state["unclear"] = int(state.get("unclear", 0)) + 1
        if state["unclear"] >= 2:
            state["unclear"] = 0
            return _handoff(turn, Intent.UNKNOWN, "the guide did not understand twice in a row")
        return Reply(
            turn.say(CLARIFY, "Is it about a return, a refund, starting a return, or a person?"),
            Intent.UNKNOWN,
            quick_replies=list(CLARIFY_REPLIES),
        )
    state["unclear"] = 0

    customer = _verified_customer(turn)
    if customer is None:
        if intent is not Intent.UNKNOWN:
            state["pending_intent"] = intent.value
        verified = _try_verify(turn)
        if isinstance(verified, Reply):
            return verified
        customer = verified
        intent = Intent(state.get("pending_intent") or intent)
        if intent is Intent.UNKNOWN:
            state.pop("awaiting", None)
            return Reply(
                turn.say("Thanks, you're verified. " + CLARIFY, "Verified. How can I help?"),
                Intent.UNKNOWN,
                quick_replies=list(CLARIFY_REPLIES),
            )
    turn.facts["customer_id"] = customer.public_id
    turn.facts["verified_by"] = state.get("verified_by")
    state.pop("pending_intent", None)
    if state.get("awaiting") == "identity":
        state.pop("awaiting", None)

    status_intents = {Intent.RETURN_STATUS: _return_status, Intent.REFUND_STATUS: _refund_status}
    if intent in status_intents:
        reply = status_intents[intent](turn, customer)
        # "Where's my return, and when do I get my refund?": both are answers from the ledger,
        # so answer both (chat and email; SMS keeps to the first).
        second = result.secondary
        if second in status_intents and second is not intent and not turn.short:
            extra = status_intents[second](turn, customer)
            turn.step("second_intent", intent=second.value)
            reply.text = f"{reply.text}\n\n{extra.text}"
            reply.actions += extra.actions
            reply.quick_replies = [q for q in reply.quick_replies if q in extra.quick_replies]
        return reply
    if intent in (Intent.START_RETURN, Intent.RETURN_EXCEPTION):
        return _start_return(turn, customer, intent)
    return Reply(turn.say(CLARIFY), Intent.UNKNOWN, quick_replies=list(CLARIFY_REPLIES))


# ---- identity -----------------------------------------------------------------------------------


def _verified_customer(turn: Turn) -> Customer | None:
    return turn.customer


def _normal_zip(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def _zip_matches(given: str, expected: str) -> bool:
    a, b = _normal_zip(given), _normal_zip(expected)
    if not a or not b:
        return False
    # US ZIP+4 against a five-digit ZIP (either way round).
    return a == b or (a.isdigit() and b.isdigit() and a[:5] == b[:5] and min(len(a), len(b)) == 5)


def _find_zip(text: str, order_token: str | None) -> str | None:
    labelled = _ZIP_LABELLED.search(text)
    if labelled:
        return labelled.group(1).strip()
    for found in _ZIP_BARE.finditer(text):
        if order_token is None or found.group(1) != order_token:
            return found.group(1)
    return None


def _find_order(session: Session, text: str) -> tuple[str | None, Order | None]:
    """The order number named in the text (as written) and the order, if one has that name."""
    found = _ORDER.search(text)
    if found is None:
        return None, None
    token = found.group(1)
    candidates = list(session.scalars(select(Order).where(Order.name.in_([f"#{token}", token]))))
    # "#1234" is the usual spelling of order names; prefer it over a bare "1234".
    candidates.sort(key=lambda o: o.name != f"#{token}")
    return token, (candidates[0] if candidates else None)


def _try_verify(turn: Turn) -> Customer | Reply:
    """Verify from this message (order + ZIP, or a claimed email then a ZIP), or ask."""
    state, session, text = turn.state, turn.session, turn.text
    email_match = _EMAIL.search(text)
    order_token, order = _find_order(session, text)
    zip_code = _find_zip(text, order_token)
    claimed = state.get("claimed_customer")

    if order_token is not None and zip_code is not None:
        ok = (
            order is not None
            and _zip_matches(zip_code, order.shipping_zip)
            and (claimed is None or claimed == order.customer_id)
        )
        turn.step("verify_order_zip", order=order_token, result=ok)
        if ok and order is not None:
            return _verified(turn, order.customer_id, "order_zip", order)
        return _verify_failed(turn)
    if email_match is not None:
        try:
            email = normalize_email(email_match.group(0), field="email")
        except DomainError:
            email = email_match.group(0).lower()
        found = routing.identify(session, routing.CustomerRef(email=email), "US")
        # Remember the claim (or a sentinel): the next step asks for a ZIP either way, so the
        # reply does not reveal whether the email is known.
        state["claimed_customer"] = found.key if found else -1
        state["awaiting"] = "identity"
        turn.step("claimed_email", known=found is not None)
        return Reply(
            turn.say(
                "Thanks. To confirm it's you, what's the ZIP code of the shipping address on one "
                "of your orders?",
                "Thanks. What's the ZIP code of your shipping address?",
            ),
            Intent(state.get("pending_intent") or Intent.UNKNOWN),
        )
    if zip_code is not None and claimed is not None:
        ok = False
        if claimed > 0:
            zips = session.scalars(select(Order.shipping_zip).where(Order.customer_id == claimed))
            ok = any(_zip_matches(zip_code, z) for z in zips)
        turn.step("verify_email_zip", result=ok)
        if ok:
            return _verified(turn, int(claimed), "email_zip", None)
        return _verify_failed(turn)
    if order_token is not None and state.get("awaiting") == "identity":
        state["claimed_order"] = order_token
    if zip_code is not None and state.get("claimed_order"):
        return _try_verify_text(turn, f"#{state['claimed_order']} {zip_code}")
    state["awaiting"] = "identity"
    turn.step("ask_identity")
    return Reply(
        turn.say(ASK_IDENTITY, "Please send your order email, or order number + ZIP."),
        Intent(state.get("pending_intent") or Intent.UNKNOWN),
    )


def _try_verify_text(turn: Turn, text: str) -> Customer | Reply:
    turn.state.pop("claimed_order", None)
    original, turn.text = turn.text, text
    try:
        return _try_verify(turn)
    finally:
        turn.text = original


def _verified(turn: Turn, customer_key: int, how: str, order: Order | None) -> Customer:
    state = turn.state
    turn.conversation.customer_id = customer_key
    state["verified_by"] = how
    state["verify_failures"] = 0
    for key in ("claimed_customer", "claimed_order", "awaiting"):
        state.pop(key, None)
    if order is not None:
        state["order_id"] = order.public_id
    customer = turn.session.get(Customer, customer_key)
    assert customer is not None
    turn.customer = customer
    return customer


def _verify_failed(turn: Turn) -> Reply:
    state = turn.state
    state["verify_failures"] = int(state.get("verify_failures", 0)) + 1
    state.pop("claimed_customer", None)
    state.pop("claimed_order", None)
    intent = Intent(state.get("pending_intent") or Intent.UNKNOWN)
    if state["verify_failures"] >= MAX_VERIFY_FAILURES:
        state.pop("awaiting", None)
        return _handoff(turn, intent, "the customer could not be verified")
    state["awaiting"] = "identity"
    return Reply(
        turn.say(NOT_VERIFIED, "I couldn't verify that. Check order number + ZIP."), intent
    )


# ---- return and refund status -------------------------------------------------------------------


def _customer_returns(turn: Turn, customer: Customer) -> list[Return]:
    query = (
        select(Return)
        .where(Return.customer_id == customer.id)
        .options(joinedload(Return.order))
        .order_by(Return.created_at.desc(), Return.id.desc())
        .limit(20)
    )
    order_id = turn.state.get("order_id")
    returns = list(turn.session.scalars(query))
    if order_id:
        mine = [r for r in returns if r.order.public_id == order_id]
        returns = mine or returns
    return returns


def _state_words(state: str) -> str:
    return {
        "requested": "requested, waiting for approval",
        "authorized": "approved; waiting for you to ship it",
        "in_transit": "on its way to us",
        "received": "received at our warehouse",
        "flagged": "being reviewed by our team",
        "processed": "processed",
        "closed": "complete",
        "rejected": "not accepted",
        "cancelled": "cancelled",
        "expired": "expired",
    }.get(state, state)


def _return_line(turn: Turn, ret: Return) -> str:
    parts = [f"Return {ret.number} for order {ret.order.name} is {_state_words(ret.state)}."]
    if ret.label_tracking_number:
        parts.append(
            f"{ret.label_carrier or 'Tracking'}: {ret.label_tracking_number}."
            if turn.short
            else f"Carrier {ret.label_carrier or 'unknown'}, tracking number "
            f"{ret.label_tracking_number}."
        )
    if ret.status_page_url:
        parts.append(
            ret.status_page_url if turn.short else f"Details: [{ret.number}]({ret.status_page_url})"
        )
    return " ".join(parts)


def _return_facts(ret: Return) -> dict[str, Any]:
    return {
        "number": ret.number,
        "order": ret.order.name,
        "state": ret.state,
        "carrier": ret.label_carrier,
        "tracking_number": ret.label_tracking_number,
        "status_page_url": ret.status_page_url,
        "refund_state": ret.refund_state,
        "refund_amount": ret.refund_amount,
    }


def _return_status(turn: Turn, customer: Customer) -> Reply:
    returns = _customer_returns(turn, customer)
    open_ = [r for r in returns if ReturnState(r.state) in OPEN_STATES]
    shown = open_ or returns[:1]
    turn.facts["returns"] = [_return_facts(r) for r in shown]
    turn.step("returns", open=len(open_), total=len(returns))
    if not shown:
        return Reply(
            turn.say(
                "I don't see any returns for you yet. Would you like to start one?",
                "No returns found. Reply START to begin one.",
            ),
            Intent.RETURN_STATUS,
            quick_replies=["Start a return", "Talk to a person"],
        )
    if len(shown) == 1:
        text = _return_line(turn, shown[0])
    else:
        intro = f"You have {len(shown)} open returns:"
        text = (
            intro
            + ("\n" if not turn.short else " ")
            + ("\n" if not turn.short else " ").join(
                f"- {_return_line(turn, r)}" if not turn.short else _return_line(turn, r)
                for r in shown
            )
        )
    return Reply(
        turn.say(text),
        Intent.RETURN_STATUS,
        quick_replies=["Where's my refund?", "Talk to a person"],
        actions=[{"type": "shared_return_status", "returns": [r.number for r in shown]}],
    )


def _refund_status(turn: Turn, customer: Customer) -> Reply:
    days = turn.settings.guide_refund_days_after_receipt
    returns = [r for r in _customer_returns(turn, customer) if r.refund_amount > 0]
    live = [r for r in returns if r.refund_state in ("pending", "issued")]
    shown = [r for r in live if r.refund_state == "pending"] or live[:1]
    turn.facts["refund_days_after_receipt"] = days
    lines: list[str] = []
    facts: list[dict[str, Any]] = []
    for ret in shown:
        amount = Money(ret.refund_amount, ret.currency).format()
        method = (ret.refund_method or "original payment").replace("_", " ")
        fact = {**_return_facts(ret), "refund_method": ret.refund_method}
        if ret.refund_state == "issued" and ret.refund_issued_at is not None:
            lines.append(
                f"Your refund of {amount} for return {ret.number} was issued to your {method} "
                f"on {ret.refund_issued_at:%b %d, %Y}."
            )
            fact["issued_at"] = ret.refund_issued_at
        elif ret.received_at is not None:
            expected = ret.received_at + timedelta(days=days)
            fact["expected_at"] = expected
            when = f"by {expected:%b %d, %Y}" if expected >= turn.now else "any day now"
            lines.append(
                f"We received return {ret.number} on {ret.received_at:%b %d}; your refund of "
                f"{amount} to your {method} is expected {when}."
            )
        else:
            lines.append(
                f"Your refund of {amount} for return {ret.number} will be issued to your {method} "
                f"within {days} days after we receive the return (it is "
                f"{_state_words(ret.state)})."
            )
        facts.append(fact)
    turn.facts["refunds"] = facts
    turn.step("refunds", shown=len(shown))
    if not lines:
        return Reply(
            turn.say(
                "I don't see a refund on any of your returns. Refunds are issued within "
                f"{days} days after we receive a return.",
                f"No refund found. Refunds are issued within {days} days of receipt.",
            ),
            Intent.REFUND_STATUS,
            quick_replies=["Where's my return?", "Talk to a person"],
        )
    return Reply(
        turn.say(" ".join(lines)),
        Intent.REFUND_STATUS,
        quick_replies=["Where's my return?", "Talk to a person"],
        actions=[{"type": "shared_refund_status", "returns": [r.number for r in shown]}],
    )


# ---- starting a return and exceptions -----------------------------------------------------------


def _pick_order(turn: Turn, customer: Customer) -> Order | Reply:
    session = turn.session
    token, named = _find_order(session, turn.text)
    if named is not None and named.customer_id == customer.id:
        turn.state["order_id"] = named.public_id
    elif token is not None:
        turn.step("order_not_found", order=token)
        turn.state.pop("order_id", None)
    if turn.state.get("order_id"):
        order = (
            session.scalars(
                select(Order)
                .where(Order.public_id == turn.state["order_id"], Order.customer_id == customer.id)
                .options(joinedload(Order.lines))
            )
            .unique()
            .one_or_none()
        )
        if order is not None:
            return order
    recent = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer.id)
            .options(joinedload(Order.lines))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(5)
        ).unique()
    )
    words = set(turn.text.lower().split())
    by_item = [o for o in recent if any(_line_mentioned(line.title, words) for line in o.lines)]
    if len(by_item) == 1:
        turn.state["order_id"] = by_item[0].public_id
        return by_item[0]
    if len(recent) == 1:
        turn.state["order_id"] = recent[0].public_id
        return recent[0]
    if not recent:
        return Reply(
            turn.say(
                "I couldn't find an order for you. If you ordered with another email, send "
                "the order number and ZIP code.",
                "No order found. Send order number + ZIP.",
            ),
            Intent(turn.state.get("pending_intent") or Intent.START_RETURN),
        )
    turn.state["awaiting"] = "order"
    return Reply(
        turn.say(
            "Which order is it about? "
            + ", ".join(
                f"{o.name} ({', '.join(line.title for line in o.lines[:3])})" for o in recent
            ),
            "Which order? " + ", ".join(o.name for o in recent),
        ),
        Intent.START_RETURN,
        quick_replies=[o.name for o in recent],
    )


def _line_mentioned(title: str, words: set[str]) -> bool:
    return any(len(w) > 3 and w.strip(".,!?").rstrip("s") in words_of(title) for w in words)


def words_of(title: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 3}


def _start_return(turn: Turn, customer: Customer, intent: Intent) -> Reply:
    turn.state["pending_intent"] = intent.value
    picked = _pick_order(turn, customer)
    if isinstance(picked, Reply):
        picked.intent = intent
        return picked
    order = picked
    turn.state.pop("awaiting", None)
    turn.state.pop("pending_intent", None)
    turn.facts["order"] = order.name
    verdicts = evaluate_order(_order_facts(turn, customer, order), turn.policy, turn.now)
    words = set(turn.text.lower().split())
    named = [
        v
        for v, line in zip(verdicts, order.lines, strict=True)
        if _line_mentioned(line.title, words)
    ]
    considered = named or verdicts
    eligible = [v for v in considered if v.eligible]
    turn.facts["eligibility"] = [_verdict_facts(v) for v in considered]
    turn.step("eligibility", order=order.name, eligible=len(eligible), lines=len(considered))
    if eligible:
        return _send_link(turn, order, intent, exception=None)
    # Lines kept back only by the window (not final sale, not undelivered, not used up) may get
    # an exception; the rest can only be explained.
    late = [v for v in considered if v.returnable_quantity > 0 and _only_window_closed(v)]
    if late:
        return _exception(turn, customer, order, late)
    return _not_eligible(turn, order, considered, intent)


def _order_facts(turn: Turn, customer: Customer, order: Order) -> OrderFacts:
    """``orders.order_facts``, but the allowlist is read for the whole customer in the same one
    query, so the exception check needs no query of its own."""
    returned = orders.returned_quantities(turn.session, order)
    if turn.allowlisted is None:
        turn.allowlisted = allowlist.customer_entries(turn.session, customer.id)
    return OrderFacts(
        delivered_at=order.delivered_at,
        lines=[
            LineFacts(
                line_id=line.public_id,
                quantity=line.quantity,
                final_sale=line.final_sale,
                returned_quantity=returned.get(line.id, 0),
            )
            for line in order.lines
        ],
        allowlist_reason=allowlist.reason_among(turn.allowlisted, order),
    )


def _only_window_closed(v: LineEligibility) -> bool:
    codes = {r.code for o in v.outcomes.values() for r in o.reasons}
    return ReasonCode.WINDOW_CLOSED in codes and codes <= {ReasonCode.WINDOW_CLOSED}


def _verdict_facts(v: LineEligibility) -> dict[str, Any]:
    return {
        "line_id": v.line_id,
        "eligible": v.eligible,
        "returnable_quantity": v.returnable_quantity,
        "reasons": sorted({r.message for o in v.outcomes.values() for r in o.reasons}),
    }


def _send_link(turn: Turn, order: Order, intent: Intent, exception: str | None) -> Reply:
    link = return_links.for_order(turn.settings, order, False, turn.now)
    turn.facts["return_link_expires_at"] = link.expires_at
    turn.step("return_link", order=order.name)
    lead = (
        "Good news: I've made an exception for your order. "
        if exception
        else "I've created a return link for you. "
    )
    long = (
        f"{lead}Start your return for order {order.name} here: [return link]({link.url}) "
        f"(valid until {link.expires_at:%b %d, %Y}). You'll choose the items and how you'd like "
        "to be refunded."
    )
    short = f"{lead.strip()} Return order {order.name}: {link.url}"
    actions: list[dict[str, Any]] = [
        {"type": "return_link_created", "order": order.name, "url": link.url}
    ]
    if exception:
        actions.insert(0, {"type": "allowlisted", "order": order.name, "entry": exception})
    return Reply(turn.say(long, short), intent, actions=actions)


def _exception(
    turn: Turn, customer: Customer, order: Order, verdicts: list[LineEligibility]
) -> Reply:
    s = turn.settings
    ends = [o.window_ends_at for v in verdicts for o in v.outcomes.values() if o.window_ends_at]
    closed_at = max(ends) if ends else None
    vip = VIP_TAG in (customer.tags or [])
    days_late = (turn.now - closed_at).days if closed_at else None
    within_grace = days_late is not None and days_late <= s.guide_exception_grace_days
    if turn.allowlisted is None:
        turn.allowlisted = allowlist.customer_entries(turn.session, customer.id)
    previous = sum(1 for e in turn.allowlisted if e.created_by == GUIDE_ACTOR and e.kind == "order")
    checks = {
        "vip": {"enabled": s.guide_exception_vip, "value": vip},
        "grace_days": {
            "limit": s.guide_exception_grace_days,
            "days_since_window_closed": days_late,
            "value": within_grace,
        },
        "first_exception": {
            "enabled": s.guide_exception_first_only,
            "previous_guide_exceptions": previous,
            "value": previous == 0,
        },
    }
    qualifies = (s.guide_exception_vip and vip) or within_grace
    granted = qualifies and (not s.guide_exception_first_only or previous == 0)
    turn.facts["exception"] = {"criteria": checks, "granted": granted}
    turn.step("exception_criteria", granted=granted, **checks)
    if granted:
        why = "VIP customer" if s.guide_exception_vip and vip else f"{days_late} days late"
        entry = allowlist.add_entry(
            turn.session,
            AllowlistIn(
                kind="order",
                value=order.name,
                reason=f"self-service exception ({why}); conversation "
                f"{turn.conversation.public_id}",
            ),
            GUIDE_ACTOR,
        )
        return _send_link(turn, order, Intent.RETURN_EXCEPTION, exception=entry.public_id)
    return _not_eligible(turn, order, verdicts, Intent.RETURN_EXCEPTION)


def _not_eligible(
    turn: Turn, order: Order, verdicts: list[LineEligibility], intent: Intent
) -> Reply:
    reasons = sorted({r.message for v in verdicts for o in v.outcomes.values() for r in o.reasons})
    policy = turn.policy.windows
    explanation = (
        f"Order {order.name} can't be returned online: {'; '.join(reasons[:3])}. Our policy "
        f"allows returns within {min(policy.values())} days of delivery "
        f"({max(policy.values())} days for store credit), and final-sale items can't be returned."
    )
    return _handoff(
        turn,
        intent,
        f"order {order.name} is not eligible for a self-service return",
        lead=explanation,
        short_lead=f"Order {order.name} is outside our return policy.",
    )


# ---- handoff ------------------------------------------------------------------------------------


def _handoff(
    turn: Turn, intent: Intent, reason: str, lead: str = "", short_lead: str = ""
) -> Reply:
    customer = _verified_customer(turn)
    contact = Contact(turn.channel, turn.text)
    try:
        rules = routing.active_rules(turn.settings)
        # The customer is verified already: the same facts route_contact would build, without
        # identifying them again.
        snapshot = (
            routing.customer_snapshot(turn.session, customer.id, customer.tags or ())
            if customer is not None
            else None
        )
        facts = routing_facts(contact, snapshot, turn.now)
        decision = rules.evaluate(facts)
        queue, priority = decision.queue, decision.priority.value
        rule_reason = decision.reason
        turn.facts["routing"] = facts
        turn.step(
            "routing",
            rule=decision.rule,
            queue=queue,
            priority=priority,
            trace=[entry.as_dict() for entry in decision.trace],
        )
    except routing.RulesUnavailable as exc:
        queue, priority, rule_reason = "general", "normal", f"routing rules unavailable: {exc}"
        turn.step("routing", error=str(exc))
    handoff = {"queue": queue, "priority": priority, "reason": f"{reason} ({rule_reason})"}
    turn.state["handed_off"] = True
    turn.state["handoff"] = handoff
    body = "I'm passing you to a member of our team, who will pick this up shortly."
    text = turn.say(
        f"{lead} {body}".strip(),
        f"{short_lead} A team member will reply shortly.".strip(),
    )
    return Reply(
        text,
        intent,
        actions=[{"type": "handoff", "queue": queue, "priority": priority}],
        handoff=handoff,
    )


def transcript(session: Session, public_id: str) -> tuple[Conversation, str | None]:
    conversation = get(session, public_id)
    return conversation, customer_public_id(session, conversation)


__all__ = [
    "ConversationNotFound",
    "Reply",
    "get",
    "handle_message",
    "start",
    "transcript",
]
