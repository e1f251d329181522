"""The self-service guide ("Where's my return?") over chat, email and SMS.

One customer message in, one reply out, in one write transaction. The conversation's ``state``
(JSON) is the guide's memory between turns: who the customer is (and how that was verified), what
the guide asked last ("which order?", "which item?", "your email or order number + ZIP?") and for
which intent, and how many unclear messages in a row it has seen.

Identity first: nothing about an order is disclosed before the customer is verified, by the
channel's own email or phone, or by an order number plus the ZIP of that order's shipping address.
An email typed into the conversation is only a claim: it still needs the ZIP of one of that
customer's orders. So is the email channel's sender address, unless the help desk authenticated
it (RETURNHUB_GUIDE_TRUST_EMAIL_SENDER). Every failure answers with the same words, whether the
order or email exists or not, so the guide never tells a stranger what the ledger holds. Wrong
ZIPs are counted per order (or claimed customer) and per client across conversations
(services/throttle): past the limit, verification is refused unchecked for a doubling delay, so
starting a new conversation does not buy new guesses.

Every reply records the intent, the facts it used and a trace of the steps (classifier evidence,
identity, eligibility reasons, exception criteria, routing rule trace).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload, selectinload

from returnhub.domain.contact import normalize_email
from returnhub.domain.errors import DomainError, FieldError, NotFound
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.intents import DEFAULT_CLASSIFIER, Classification, Classifier, Intent
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
from returnhub.services import allowlist, orders, return_links, routing, throttle
from returnhub.services.commands import AllowlistIn
from returnhub.settings import Settings
from returnhub.store.tables import (
    AllowlistEntry,
    Conversation,
    ConversationMessage,
    Customer,
    Order,
    OrderLine,
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
    also: Intent | None = None
    returns: list[Return] | None = None
    """A second request in the same message, answered briefly or named in a handoff."""
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
    client: str = "",
) -> Conversation:
    """A new conversation; the channel's email or phone identifies the customer when it can.

    ``client`` names who is writing as the channel sees them (an address, a device): with the
    channel's phone or email it keys the limit on ZIP guesses across conversations.
    """
    email, phone = (email or "").strip().lower()[:320], (phone or "").strip()[:40]
    state: dict[str, Any] = {
        "unclear": 0,
        "verify_failures": 0,
        "client": (phone or email or client)[:320],
    }
    conversation = Conversation(
        public_id=new_id(Prefix.CONVERSATION), channel=channel.value, email=email, phone=phone
    )
    trusted_email = channel is not Channel.EMAIL or settings.guide_trust_email_sender
    region = settings.default_phone_region
    match = None
    if (email and trusted_email) or phone:
        ref = routing.CustomerRef(
            email=(email if trusted_email else "") or None, phone=phone or None
        )
        match = routing.identify(session, ref, region)
    if match is not None:
        conversation.customer_id = match.key
        state["verified_by"] = f"channel_{match.matched_by}"
    elif email and not trusted_email:
        # An unauthenticated From: is a claim like a typed email: the ZIP still decides.
        claimed = routing.identify(session, routing.CustomerRef(email=email), region)
        state["claimed_customer"] = claimed.key if claimed else -1
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
    returning = (Intent.START_RETURN, Intent.RETURN_EXCEPTION)
    # "Which order/item?" answers often read as returning ("the jeans, they don't fit"): the
    # same flow, which checks the window (and an exception) by itself.
    second: Intent | None = None
    if awaiting in ("order", "item") and intent in returning:
        intent = Intent(state.get("pending_intent") or intent)
        turn.step("continue", awaiting=awaiting, intent=intent.value)
    elif awaiting and intent in (Intent.UNKNOWN, state.get("pending_intent")):
        intent = Intent(state.get("pending_intent") or Intent.UNKNOWN)
        turn.step("continue", awaiting=awaiting, intent=intent.value)
    else:
        if awaiting and awaiting != "identity":
            state.pop("awaiting", None)
            state.pop("order_id", None)
        second = _second_intent(result)
    turn.facts["intent"] = intent.value
    turn.facts["intent_score"] = result.score
    if second is not None:
        turn.facts["also_intent"] = second.value

    # A person wins over anything else in the same message; the handoff says what else they
    # asked, so whoever picks it up answers that too.
    if Intent.HUMAN in (intent, second):
        state["unclear"] = 0
        turn.also = second if intent is Intent.HUMAN else intent
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

    if second is not None:
        state["also_intent"] = second.value  # kept while the guide verifies who they are
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

    second = Intent(state.pop("also_intent")) if state.get("also_intent") else None
    turn.also = second if second is not intent else None
    if intent is Intent.RETURN_STATUS:
        reply = _return_status(turn, customer)
    elif intent is Intent.REFUND_STATUS:
        reply = _refund_status(turn, customer)
    elif intent in returning:
        reply = _start_return(turn, customer, intent)
    else:
        return Reply(turn.say(CLARIFY), Intent.UNKNOWN, quick_replies=list(CLARIFY_REPLIES))
    if turn.also is not None and reply.handoff is None:
        _add_brief(turn, customer, reply, turn.also)
    return reply


SECOND_INTENT_MIN_SCORE = 3.0
ALSO_WORDS = {
    Intent.RETURN_STATUS: "the status of a return",
    Intent.REFUND_STATUS: "a refund",
    Intent.START_RETURN: "starting a return",
    Intent.RETURN_EXCEPTION: "a return outside the window",
    Intent.HUMAN: "talking to a person",
}


def _second_intent(result: Classification) -> Intent | None:
    """A second, distinct request in the same message, when the classifier is sure enough of it.
    Starting a return and a late return are one flow (it checks the window itself)."""
    # The classifier's precedence may have picked an intent that did not score highest, so the
    # second request is the best-ranked one that is not the first.
    others = [(i, score) for i, score in result.ranked if i is not result.intent]
    if not others:
        return None
    second, score = others[0]
    if score < SECOND_INTENT_MIN_SCORE or Intent.UNKNOWN in (result.intent, second):
        return None
    returning = {Intent.START_RETURN, Intent.RETURN_EXCEPTION}
    if {result.intent, second} <= returning:
        return None
    return second


def _add_brief(turn: Turn, customer: Customer, reply: Reply, second: Intent) -> None:
    """Answer the second request in a sentence (statuses), or offer it as a quick reply (flows
    that need their own turns). On SMS the sentence goes only if the whole reply still fits."""
    extra: Reply | None = None
    offer = {
        Intent.START_RETURN: (
            "Start a return",
            'If you\'d also like to start a return, tap "Start a return".',
            'Reply "start a return" to begin one.',
        ),
        Intent.RETURN_EXCEPTION: (
            "Return after the window",
            'About returning something after the window closed: tap "Return after the '
            "window\" and I'll check whether an exception is possible.",
            'Reply "return after the window" for a late return.',
        ),
    }
    if second is Intent.RETURN_STATUS:
        extra = _return_status(turn, customer, brief=True)
    elif second is Intent.REFUND_STATUS:
        extra = _refund_status(turn, customer, brief=True)
    if extra is not None:
        long_extra, short_extra, quick = extra.text, extra.text, extra.quick_replies[:1]
        reply.actions += extra.actions
    elif second in offer:
        quick_reply, long_extra, short_extra = offer[second]
        quick = [quick_reply]
    else:
        return
    sep = " " if turn.short else "\n\n"
    combined = f"{reply.text}{sep}{short_extra if turn.short else long_extra}"
    fits = not turn.short or len(combined) <= SMS_MAX
    if fits:
        reply.text = combined
    reply.quick_replies = list(dict.fromkeys([*quick, *reply.quick_replies]))
    turn.step("second_intent", intent=second.value, answered="brief" if fits else "offered")


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
        counted = _guess_keys(turn, f"guide-order:{order_token.lower()}")
        if _throttled(turn, counted):
            return _verify_failed(turn)
        ok = (
            order is not None
            and _zip_matches(zip_code, order.shipping_zip)
            and (claimed is None or claimed == order.customer_id)
        )
        turn.step("verify_order_zip", order=order_token, result=ok)
        if ok and order is not None:
            return _verified(turn, order.customer_id, "order_zip", order)
        return _verify_failed(turn, counted)
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
        return _ask_zip(turn)
    if zip_code is not None and claimed is not None:
        counted = _guess_keys(turn, f"guide-customer:{claimed}" if claimed > 0 else None)
        if _throttled(turn, counted):
            return _verify_failed(turn)
        ok = False
        if claimed > 0:
            zips = session.scalars(select(Order.shipping_zip).where(Order.customer_id == claimed))
            ok = any(_zip_matches(zip_code, z) for z in zips)
        turn.step("verify_email_zip", result=ok)
        if ok:
            return _verified(turn, int(claimed), "email_zip", None)
        return _verify_failed(turn, counted)
    if order_token is not None and state.get("awaiting") == "identity":
        state["claimed_order"] = order_token
    if zip_code is not None and state.get("claimed_order"):
        return _try_verify_text(turn, f"#{state['claimed_order']} {zip_code}")
    if claimed is not None:
        return _ask_zip(turn)
    state["awaiting"] = "identity"
    turn.step("ask_identity")
    return Reply(
        turn.say(ASK_IDENTITY, "Please send your order email, or order number + ZIP."),
        Intent(state.get("pending_intent") or Intent.UNKNOWN),
    )


def _ask_zip(turn: Turn) -> Reply:
    turn.state["awaiting"] = "identity"
    return Reply(
        turn.say(
            "Thanks. To confirm it's you, what's the ZIP code of the shipping address on one "
            "of your orders?",
            "Thanks. What's the ZIP code of your shipping address?",
        ),
        Intent(turn.state.get("pending_intent") or Intent.UNKNOWN),
    )


Counted = list[tuple[str, throttle.Limit]]
# Past the free guesses a key waits a minute, doubling per wrong guess up to six hours; a key
# with no wrong guess for a day starts again.
GUESS_BLOCK_SECONDS, GUESS_BLOCK_MAX_SECONDS, GUESS_FORGET_SECONDS = 60.0, 6 * 3600.0, 86400.0


def _guess_keys(turn: Turn, target: str | None) -> Counted:
    """The counters a ZIP guess is charged to: what is guessed at, and who is guessing."""
    s = turn.settings

    def limit(free: int) -> throttle.Limit:
        return throttle.Limit(
            free, GUESS_BLOCK_SECONDS, GUESS_BLOCK_MAX_SECONDS, GUESS_FORGET_SECONDS
        )

    counted: Counted = []
    if target is not None:
        counted.append((target, limit(s.guide_verify_failures_per_order)))
    client = str(turn.state.get("client") or "")
    if client:
        counted.append((f"guide-client:{client}", limit(s.guide_verify_failures_per_client)))
    return counted


def _throttled(turn: Turn, counted: Counted) -> bool:
    """Whether a guess must be refused unchecked (its order or client made too many)."""
    wait = throttle.wait_seconds(turn.session, [key for key, _ in counted], turn.now)
    if wait:
        turn.step("verify_throttled", retry_after_seconds=int(wait))
    return bool(wait)


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


def _verify_failed(turn: Turn, counted: Counted | None = None) -> Reply:
    """The same answer for a wrong guess and a refused one; ``counted`` are the counters a
    checked wrong guess is charged to."""
    for key, limit in counted or []:
        throttle.fail(turn.session, key, limit, turn.now)
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
    # Read once a turn: a second question in the same message (status and refund) reuses it.
    if turn.returns is None:
        turn.returns = list(turn.session.scalars(query))
    returns = turn.returns
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


def _return_status(turn: Turn, customer: Customer, brief: bool = False) -> Reply:
    returns = _customer_returns(turn, customer)
    open_ = [r for r in returns if ReturnState(r.state) in OPEN_STATES]
    shown = (open_ or returns)[:1] if brief else open_ or returns[:1]
    turn.facts["returns"] = [_return_facts(r) for r in shown]
    turn.step("returns", open=len(open_), total=len(returns))
    if not shown:
        return Reply(
            turn.say(
                "I don't see any returns for you yet. Would you like to start one?",
                'No returns found. Reply "start a return" to begin one.',
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


def _refund_status(turn: Turn, customer: Customer, brief: bool = False) -> Reply:
    days = turn.settings.guide_refund_days_after_receipt
    returns = [r for r in _customer_returns(turn, customer) if r.refund_amount > 0]
    live = [r for r in returns if r.refund_state in ("pending", "issued")]
    shown = [r for r in live if r.refund_state == "pending"] or live[:1]
    if brief:
        shown = shown[:1]
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


def words_of(title: str, shortest: int = 4) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", title.lower()) if len(w) >= shortest}


def _start_return(turn: Turn, customer: Customer, intent: Intent) -> Reply:
    state = turn.state
    answering_item = state.get("awaiting") == "item"
    state["pending_intent"] = intent.value
    picked = _pick_order(turn, customer)
    if isinstance(picked, Reply):
        picked.intent = intent
        return picked
    order = picked
    if answering_item and state.get("order_id") != state.get("item_order"):
        answering_item = False  # they named another order instead: start its items afresh
    state.pop("awaiting", None)
    turn.facts["order"] = order.name
    verdicts = evaluate_order(_order_facts(turn, customer, order), turn.policy, turn.now)
    lines = [ItemChoice(line, v) for line, v in zip(order.lines, verdicts, strict=True)]
    exception = _exception_check(turn, customer, [c.verdict for c in lines])
    if answering_item:
        chosen = _chosen_items(turn, lines)
        if chosen is None:
            return _item_not_understood(turn, order, lines, intent)
    else:
        words = set(turn.text.lower().split())
        chosen = [c for c in lines if _line_mentioned(c.line.title, words)]
        # Ask only when the answer changes the outcome: two or more lines that could go back now
        # (or with the exception the criteria would grant). Otherwise every line is considered
        # and the reply says which can go back and why the others can't.
        actionable = [c for c in lines if c.actionable(exception.granted)]
        if not chosen and len(actionable) >= 2:
            return _ask_item(turn, order, actionable, intent)
    for key in ("pending_intent", "item_order", "item_choices", "item_retries"):
        state.pop(key, None)
    considered = chosen or lines
    eligible = [c for c in considered if c.verdict.eligible]
    turn.facts["eligibility"] = [_verdict_facts(c) for c in considered]
    turn.step("eligibility", order=order.name, eligible=len(eligible), lines=len(considered))
    if eligible:
        blocked = [c for c in considered if not c.verdict.eligible]
        return _send_link(turn, order, intent, None, eligible if chosen else [], blocked)
    # Lines kept back only by the window (not final sale, not undelivered, not used up) may get
    # an exception; the rest can only be explained.
    late = [c for c in considered if c.late]
    if late:
        return _exception(turn, order, exception, late, [c for c in considered if not c.late])
    return _not_eligible(turn, order, considered, intent)


@dataclass(frozen=True)
class ItemChoice:
    line: OrderLine
    verdict: LineEligibility

    @property
    def late(self) -> bool:
        """Held back by a closed window and nothing else."""
        v = self.verdict
        return v.returnable_quantity > 0 and _only_window_closed(v)

    def actionable(self, exception_granted: bool) -> bool:
        return self.verdict.eligible or (exception_granted and self.late)

    @property
    def name(self) -> str:
        variant = f" ({self.line.variant})" if self.line.variant else ""
        return f"{self.line.title}{variant}"


_ALL_ITEMS = re.compile(r"\b(all|both|everything|every ?thing|every item|the lot|whole order)\b")
_EXCEPT = re.compile(r"\b(except|but|not|apart from|other than|without|minus)\b")
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "last": -1}
_ITEM_STOPWORDS = frozenset(
    {"the", "and", "one", "ones", "item", "items", "please", "pls", "return", "want", "them"}
)
MAX_ITEM_OPTIONS = 9


def _ask_item(turn: Turn, order: Order, options: list[ItemChoice], intent: Intent) -> Reply:
    options = options[:MAX_ITEM_OPTIONS]
    state = turn.state
    state["awaiting"] = "item"
    state["item_order"] = order.public_id
    state["item_choices"] = [c.line.public_id for c in options]
    state.setdefault("item_retries", 0)
    turn.step("ask_item", order=order.name, options=[c.name for c in options])
    listed = "\n".join(f"{n}. {c.name}" for n, c in enumerate(options, 1))
    short_list = " ".join(f"{n}) {c.line.title[:28]}" for n, c in enumerate(options, 1))
    return Reply(
        turn.say(
            f"Which item(s) from order {order.name} would you like to return?\n{listed}\n"
            'Reply with the number(s) or the name(s), or "all".',
            f"Which item(s) from {order.name}? {short_list}. Reply with number(s) or ALL.",
        ),
        intent,
        quick_replies=[c.name for c in options] + ["All of them"],
    )


def _item_not_understood(
    turn: Turn, order: Order, lines: list[ItemChoice], intent: Intent
) -> Reply:
    state = turn.state
    state["item_retries"] = int(state.get("item_retries", 0)) + 1
    if state["item_retries"] >= 2:
        for key in ("pending_intent", "item_order", "item_choices", "item_retries", "awaiting"):
            state.pop(key, None)
        return _handoff(
            turn,
            intent,
            f"could not tell which item of order {order.name} the customer means",
            lead="Sorry, I still couldn't tell which item you mean.",
            short_lead="Sorry, I couldn't tell which item.",
        )
    by_id = {c.line.public_id: c for c in lines}
    options = [by_id[i] for i in state.get("item_choices", []) if i in by_id] or lines
    reply = _ask_item(turn, order, options, intent)
    reply.text = turn.say(
        "Sorry, I couldn't tell which item you mean. " + reply.text,
        "Sorry, which item? " + reply.text,
    )
    return reply


def _chosen_items(turn: Turn, lines: list[ItemChoice]) -> list[ItemChoice] | None:
    """The lines an answer to "which item?" picks: by number (as listed), by name (typos
    tolerated), "all"/"both", several at once, or all but some ("all except the tee"). None
    when nothing in the answer points at a line."""
    by_id = {c.line.public_id: c for c in lines}
    listed = [by_id[i] for i in turn.state.get("item_choices", []) if i in by_id]
    text = turn.text.lower()
    split = _EXCEPT.search(text)
    head = text[: split.start()] if split else text
    excluded_text = text[split.end() :] if split else ""
    picked: list[ItemChoice] = []
    how: list[str] = []
    if _ALL_ITEMS.search(head):
        picked, how = list(listed or lines), ["all"]
    for number in _numbers(head, len(listed)):
        if listed[number] not in picked:
            picked.append(listed[number])
            how.append(f"number {number + 1}")
    for choice, matched in _named(head, lines):
        if choice not in picked:
            picked.append(choice)
            how.append(f"name {matched!r}")
    excluded = [c for c, _ in _named(excluded_text, lines)] + [
        listed[n] for n in _numbers(excluded_text, len(listed))
    ]
    if excluded:
        picked = [c for c in picked if c not in excluded]
        how.append("except " + ", ".join(c.name for c in excluded))
    turn.step("items_chosen", answer=turn.text[:200], how=how, items=[c.name for c in picked])
    if not picked:
        return None
    turn.facts["items"] = [c.name for c in picked]
    return picked


def _numbers(text: str, count: int) -> list[int]:
    """Zero-based positions named by digits or ordinals, within the listed count."""
    found: list[int] = []
    for token in re.findall(r"[a-z]+|\d+", text):
        if token.isdigit() and len(token) <= 2:
            position = int(token) - 1
        elif token in _ORDINALS:
            position = _ORDINALS[token] - 1 if _ORDINALS[token] > 0 else count - 1
        else:
            continue
        if 0 <= position < count and position not in found:
            found.append(position)
    return found


def _named(text: str, lines: list[ItemChoice]) -> list[tuple[ItemChoice, str]]:
    """Lines whose title or variant words the text names, typos tolerated; when one line matches
    more words than another that shares a word ("rain jacket" against "denim jacket"), the
    better match wins."""
    tokens = [t.rstrip("s") for t in re.findall(r"[a-z]+", text) if len(t) > 2]
    tokens = [t for t in tokens if t not in _ITEM_STOPWORDS]
    scored: list[tuple[int, ItemChoice, str]] = []
    for choice in lines:
        vocabulary = words_of(f"{choice.line.title} {choice.line.variant or ''}", 3)
        hits = [
            t
            for t in tokens
            if t in vocabulary or difflib.get_close_matches(t, vocabulary, n=1, cutoff=0.8)
        ]
        if hits:
            scored.append((len(hits), choice, " ".join(hits)))
    if not scored:
        return []
    # A word shared by several lines only counts where nothing names a line more precisely.
    best: dict[str, int] = {}
    for score, _, matched in scored:
        for word in matched.split():
            best[word] = max(best.get(word, 0), score)
    return [
        (choice, matched)
        for score, choice, matched in scored
        if any(best[w] == score for w in matched.split())
    ]


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


def _reasons(v: LineEligibility) -> list[str]:
    return sorted({r.message for o in v.outcomes.values() for r in o.reasons})


def _verdict_facts(c: ItemChoice) -> dict[str, Any]:
    v = c.verdict
    return {
        "line_id": v.line_id,
        "item": c.name,
        "eligible": v.eligible,
        "returnable_quantity": v.returnable_quantity,
        "reasons": _reasons(v),
    }


def _why_not(items: list[ItemChoice]) -> str:
    return " ".join(
        f"{c.line.title} can't be returned: {'; '.join(_reasons(c.verdict)[:2])}." for c in items
    )


def _send_link(
    turn: Turn,
    order: Order,
    intent: Intent,
    exception: str | None,
    items: list[ItemChoice],
    blocked: list[ItemChoice],
) -> Reply:
    link = return_links.for_order(turn.settings, order, False, turn.now)
    # The portal pre-fills the chosen lines; the link itself (the signed part) is unchanged.
    url = link.url + ("?items=" + ",".join(c.line.public_id for c in items) if items else "")
    turn.facts["return_link_expires_at"] = link.expires_at
    turn.step("return_link", order=order.name, items=[c.name for c in items])
    lead = (
        "Good news: I've made an exception for your order. "
        if exception
        else "I've created a return link for you. "
    )
    names = ", ".join(c.line.title for c in items)
    picked = (
        f"I've selected {names} for you; choose how you'd like to be refunded."
        if items
        else "You'll choose the items and how you'd like to be refunded."
    )
    long = (
        f"{lead}Start your return for order {order.name} here: [return link]({url}) "
        f"(valid until {link.expires_at:%b %d, %Y}). {picked}"
    )
    if blocked:
        long += " " + _why_not(blocked)
    # The link must survive the SMS limit whole: the item names go first when there is room.
    short = f"{lead.strip()} Return {order.name}: {url}"
    if items and len(short) + len(names) + 3 <= SMS_MAX:
        short = f"{lead.strip()} Return {names} from {order.name}: {url}"
    if len(short) > SMS_MAX:
        short = f"Return {order.name}: {link.url}"
    actions: list[dict[str, Any]] = [
        {
            "type": "return_link_created",
            "order": order.name,
            "url": url,
            "items": [c.line.public_id for c in items],
        }
    ]
    if exception:
        actions.insert(0, {"type": "allowlisted", "order": order.name, "entry": exception})
    return Reply(turn.say(long, short), intent, actions=actions)


@dataclass(frozen=True)
class ExceptionCheck:
    granted: bool
    why: str
    checks: dict[str, Any]


def _exception_check(
    turn: Turn, customer: Customer, verdicts: list[LineEligibility]
) -> ExceptionCheck:
    """Whether the merchant's criteria would grant an exception for this order (no side effect;
    the allowlist was read with the order's facts, so this costs no query)."""
    s = turn.settings
    ends = [
        o.window_ends_at
        for v in verdicts
        if v.returnable_quantity > 0 and _only_window_closed(v)
        for o in v.outcomes.values()
        if o.window_ends_at
    ]
    closed_at = max(ends) if ends else None
    vip = VIP_TAG in (customer.tags or [])
    days_late = (turn.now - closed_at).days if closed_at else None
    within_grace = days_late is not None and days_late <= s.guide_exception_grace_days
    previous = sum(
        1 for e in turn.allowlisted or [] if e.created_by == GUIDE_ACTOR and e.kind == "order"
    )
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
    qualifies = closed_at is not None and ((s.guide_exception_vip and vip) or within_grace)
    granted = qualifies and (not s.guide_exception_first_only or previous == 0)
    why = "VIP customer" if s.guide_exception_vip and vip else f"{days_late} days late"
    return ExceptionCheck(granted, why, checks)


def _exception(
    turn: Turn,
    order: Order,
    check: ExceptionCheck,
    late: list[ItemChoice],
    blocked: list[ItemChoice],
) -> Reply:
    turn.facts["exception"] = {"criteria": check.checks, "granted": check.granted}
    turn.step("exception_criteria", granted=check.granted, **check.checks)
    if check.granted:
        entry = allowlist.add_entry(
            turn.session,
            AllowlistIn(
                kind="order",
                value=order.name,
                reason=f"self-service exception ({check.why}); conversation "
                f"{turn.conversation.public_id}",
            ),
            GUIDE_ACTOR,
        )
        chosen = late if turn.facts.get("items") else []
        return _send_link(turn, order, Intent.RETURN_EXCEPTION, entry.public_id, chosen, blocked)
    return _not_eligible(turn, order, late + blocked, Intent.RETURN_EXCEPTION)


def _not_eligible(turn: Turn, order: Order, items: list[ItemChoice], intent: Intent) -> Reply:
    policy = turn.policy.windows
    if len(items) == 1 or turn.facts.get("items"):
        why = _why_not(items)
        short_lead = (
            f"{items[0].line.title} can't be returned online."
            if len(items) == 1
            else f"Those items from {order.name} can't be returned online."
        )
    else:
        reasons = sorted({r for c in items for r in _reasons(c.verdict)})
        why = f"Order {order.name} can't be returned online: {'; '.join(reasons[:3])}."
        short_lead = f"Order {order.name} is outside our return policy."
    explanation = (
        f"{why} Our policy allows returns within {min(policy.values())} days of delivery "
        f"({max(policy.values())} days for store credit), and final-sale items can't be returned."
    )
    return _handoff(
        turn,
        intent,
        f"order {order.name} is not eligible for a self-service return",
        lead=explanation,
        short_lead=short_lead,
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
    if turn.also is not None and turn.also is not intent:
        reason += f"; they also asked about {ALSO_WORDS.get(turn.also, turn.also.value)}"
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
