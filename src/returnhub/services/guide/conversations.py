"""The guide's conversations: start one, take one message through a decision into a reply (in
one write transaction), read one back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.errors import FieldError, NotFound
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.intents import DEFAULT_CLASSIFIER, Classifier
from returnhub.domain.policy import Policy
from returnhub.domain.rules import Channel
from returnhub.services.guide.decide import decide
from returnhub.services.guide.identity import identify_by_channel
from returnhub.services.guide.state import ConversationState
from returnhub.services.guide.turn import Reply, Turn
from returnhub.settings import Settings
from returnhub.store.tables import Conversation, ConversationMessage, Customer


class ConversationNotFound(NotFound):
    pass


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
    state = ConversationState(client=(phone or email or client)[:320])
    conversation = Conversation(
        public_id=new_id(Prefix.CONVERSATION), channel=channel.value, email=email, phone=phone
    )
    conversation.customer_id = identify_by_channel(session, settings, channel, email, phone, state)
    conversation.state = state.to_json()
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


def transcript(session: Session, public_id: str) -> tuple[Conversation, str | None]:
    conversation = get(session, public_id)
    return conversation, customer_public_id(session, conversation)


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
    state = ConversationState.from_json(conversation.state)
    turn = Turn(session, settings, policy, now, conversation, text, state, customer=customer)
    reply = decide(turn, classifier).reply
    reply.facts = {**turn.facts, **reply.facts}
    reply.trace = turn.trace + reply.trace
    conversation.state = turn.state.to_json()
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
