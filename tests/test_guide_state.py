"""The guide's conversation state: the stored JSON shape reads into the typed state and back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from returnhub.domain.intents import Intent
from returnhub.domain.policy import Outcome, Policy
from returnhub.domain.rules import Channel
from returnhub.services import guide
from returnhub.services.guide.state import (
    UNKNOWN_CLAIM,
    Awaiting,
    ConversationState,
    Handoff,
    ItemQuestion,
)
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import Conversation
from tests.conftest import TEST_NOW

# Every key the guide has stored, as the dict-based guide wrote them.
STORED: dict[str, Any] = {
    "unclear": 1,
    "verify_failures": 2,
    "client": "+14155550100",
    "verified_by": "order_zip",
    "claimed_order": "1234",
    "awaiting": "item",
    "pending_intent": "start_return",
    "also_intent": "refund_status",
    "order_id": "ord_1",
    "item_order": "ord_1",
    "item_choices": ["lin_1", "lin_2"],
    "item_retries": 1,
    "handed_off": True,
    "handoff": {"queue": "returns", "priority": "high", "reason": "asked (rule vip)"},
}


def test_every_stored_key_reads_typed_and_writes_back_unchanged() -> None:
    state = ConversationState.from_json(STORED)
    assert state.awaiting is Awaiting.ITEM
    assert state.pending_intent is Intent.START_RETURN
    assert state.also_intent is Intent.REFUND_STATUS
    assert state.item_question == ItemQuestion("ord_1", ["lin_1", "lin_2"], 1)
    assert state.handoff == Handoff("returns", "high", "asked (rule vip)")
    assert state.to_json() == STORED


def test_a_new_conversation_stores_what_the_dict_guide_stored() -> None:
    assert ConversationState(client="x").to_json() == {
        "unclear": 0,
        "verify_failures": 0,
        "client": "x",
    }
    claimed = ConversationState(claimed_customer=UNKNOWN_CLAIM).to_json()
    assert claimed["claimed_customer"] == -1


def test_old_and_odd_shapes_are_read_tolerantly() -> None:
    # Before the per-client guess limit there was no "client"; counters may come back as text;
    # a value this release does not know is dropped, a key it does not know is kept.
    stored = {
        "unclear": "1",
        "verify_failures": None,
        "awaiting": "colour",
        "pending_intent": "teleport",
        "claimed_customer": 7,
        "future_key": {"kept": True},
    }
    state = ConversationState.from_json(stored)
    assert state.client == "" and state.unclear == 1 and state.verify_failures == 0
    assert state.awaiting is None and state.pending_intent is None
    assert state.claimed_customer == 7
    assert state.to_json()["future_key"] == {"kept": True}
    assert ConversationState.from_json(None) == ConversationState()


def test_a_conversation_stored_in_the_old_shape_continues(db: Database, settings: Settings) -> None:
    """A row written by the dict-based guide, mid-identification, is carried on by this one."""
    policy = Policy({outcome: 30 for outcome in Outcome})
    with db.write() as session:
        conversation = guide.start(session, settings, Channel.CHAT, None, None, "")
        public_id = conversation.public_id
        old = {"unclear": 0, "verify_failures": 1, "awaiting": "identity"}
        session.execute(
            update(Conversation).where(Conversation.id == conversation.id).values(state=old)
        )
    with db.write() as session:
        session.expire_all()
        reply = guide.handle_message(
            session, settings, policy, public_id, "where is my return?", TEST_NOW
        )
    assert reply.intent is Intent.RETURN_STATUS
    with db.read() as session:
        stored = guide.get(session, public_id).state
    assert stored["verify_failures"] == 1
    assert stored["awaiting"] == "identity"
    assert stored["pending_intent"] == "return_status"
    assert stored["client"] == ""
