"""The guide's decision without HTTP: build a state, call decide, assert what it does and why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.intents import DEFAULT_CLASSIFIER, Intent
from returnhub.domain.policy import Outcome, Policy
from returnhub.domain.rules import Channel
from returnhub.services import customers, orders, returns
from returnhub.services.commands import CustomerCreate, OrderCreate, ReturnCreate
from returnhub.services.guide.decide import decide
from returnhub.services.guide.identity import identify_by_channel
from returnhub.services.guide.state import Awaiting, ConversationState
from returnhub.services.guide.turn import Action, Decision, Turn
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import Conversation, Customer, Order
from tests.conftest import TEST_NOW
from tests.factories import customer_body, order_body

NOW = TEST_NOW


def policy_of(settings: Settings) -> Policy:
    return Policy(
        {
            Outcome.REFUND: settings.window_refund_days,
            Outcome.EXCHANGE: settings.window_exchange_days,
            Outcome.STORE_CREDIT: settings.window_store_credit_days,
            Outcome.GIFT_CARD: settings.window_gift_card_days,
        }
    )


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.write() as write:
        yield write


class Guide:
    """One conversation driven turn by turn through ``decide``, its state carried between."""

    def __init__(self, session: Session, settings: Settings, channel: Channel = Channel.CHAT):
        self.session, self.settings = session, settings
        self.state = ConversationState(client="test-client")
        self.customer: Customer | None = None
        self.conversation = Conversation(
            public_id=new_id(Prefix.CONVERSATION),
            channel=channel.value,
            email="",
            phone="",
            state=self.state.to_json(),
        )
        session.add(self.conversation)
        session.flush()
        self.turn: Turn | None = None

    def says(self, text: str) -> Decision:
        # Each turn reads the state as stored, as handle_message does.
        self.state = ConversationState.from_json(self.state.to_json())
        self.turn = Turn(
            self.session,
            self.settings,
            policy_of(self.settings),
            NOW,
            self.conversation,
            text,
            self.state,
            customer=self.customer,
        )
        decision = decide(self.turn, DEFAULT_CLASSIFIER)
        self.customer = self.turn.customer
        return decision


def make_customer(session: Session, **overrides: Any) -> Customer:
    return customers.create_customer(
        session, CustomerCreate.model_validate(customer_body(**overrides))
    )


def make_order(session: Session, customer: Customer, **overrides: Any) -> Order:
    body = order_body(customer.public_id, NOW, **overrides)
    return orders.create_order(session, OrderCreate.model_validate(body))


def test_identified_by_order_number_and_zip(session: Session, settings: Settings) -> None:
    customer = make_customer(session)
    order = make_order(session, customer)
    guide = Guide(session, settings)
    decision = guide.says(f"where's my return? order {order.name} zip 94107")
    assert decision.action is Action.ANSWER
    assert decision.reply.intent is Intent.RETURN_STATUS
    assert guide.customer is not None and guide.customer.id == customer.id
    assert guide.state.verified_by == "order_zip"
    assert guide.state.order_id == order.public_id
    assert guide.state.awaiting is None and guide.state.pending_intent is None


def test_a_typed_email_is_a_claim_until_a_zip_confirms_it(
    session: Session, settings: Settings
) -> None:
    customer = make_customer(session)
    make_order(session, customer)
    guide = Guide(session, settings)
    asked = guide.says(f"where is my refund? I'm {customer.emails[0].email}")
    assert asked.action is Action.ASK_IDENTITY
    assert guide.state.claimed_customer == customer.id
    assert guide.state.awaiting is Awaiting.IDENTITY
    assert guide.state.pending_intent is Intent.REFUND_STATUS
    answered = guide.says("94107")
    assert answered.action is Action.ANSWER
    assert answered.reply.intent is Intent.REFUND_STATUS
    assert guide.state.verified_by == "email_zip"
    assert guide.state.claimed_customer is None


def test_identified_by_the_channel_phone(session: Session, settings: Settings) -> None:
    customer = make_customer(session)
    state = ConversationState()
    phone = customer.phones[0].number
    key = identify_by_channel(session, settings, Channel.SMS, "", phone, state)
    assert key == customer.id
    assert state.verified_by == "channel_phone"


def test_wrong_zips_ask_again_then_hand_off(session: Session, settings: Settings) -> None:
    customer = make_customer(session)
    order = make_order(session, customer)
    guide = Guide(session, settings)
    for _ in range(2):
        decision = guide.says(f"where's my return, order {order.name} zip 10001")
        assert decision.action is Action.ASK_IDENTITY
        assert decision.why == "the details did not verify"
    decision = guide.says(f"where's my return, order {order.name} zip 10001")
    assert decision.action is Action.HANDOFF
    assert decision.why == "the customer could not be verified"
    assert guide.customer is None


def test_status_answer_names_the_return_and_tracking(session: Session, settings: Settings) -> None:
    customer = make_customer(session)
    order = make_order(session, customer)
    ret = returns.create_return(
        session,
        ReturnCreate.model_validate(
            {
                "order_id": order.public_id,
                "items": [
                    {"order_line_id": order.lines[0].public_id, "quantity": 1, "outcome": "refund"}
                ],
                "label": {
                    "carrier": "UPS",
                    "tracking_number": "1ZDECIDE01",
                    "status": "in_transit",
                },
            }
        ),
        policy_of(settings),
        NOW,
        "test",
    )
    guide = Guide(session, settings)
    guide.customer = customer
    decision = guide.says("any update on my return?")
    assert decision.action is Action.ANSWER
    assert ret.number in decision.reply.text and "1ZDECIDE01" in decision.reply.text


def test_one_returnable_line_gets_a_return_link(session: Session, settings: Settings) -> None:
    customer = make_customer(session)
    order = make_order(session, customer)  # a rain jacket, and a final-sale tee
    guide = Guide(session, settings)
    guide.customer = customer
    decision = guide.says("I want to return something")
    assert decision.action is Action.RETURN_LINK
    assert decision.reply.actions[0]["type"] == "return_link_created"
    assert decision.reply.actions[0]["order"] == order.name
    assert guide.state.pending_intent is None and guide.state.item_question is None


def test_two_returnable_lines_ask_which_then_link_the_chosen(
    session: Session, settings: Settings
) -> None:
    customer = make_customer(session)
    lines = [
        {"sku": "JKT", "title": "Rain Jacket", "quantity": 1, "unit_price": 12900},
        {"sku": "JNS", "title": "Slim Jeans", "quantity": 1, "unit_price": 8900},
    ]
    order = make_order(session, customer, lines=lines)
    guide = Guide(session, settings)
    guide.customer = customer
    asked = guide.says("I'd like to start a return")
    assert asked.action is Action.ASK_ITEM
    assert guide.state.awaiting is Awaiting.ITEM
    assert guide.state.item_question is not None
    assert guide.state.item_question.order_id == order.public_id
    choices = list(guide.state.item_question.choices)
    assert len(choices) == 2
    linked = guide.says("the second one")
    assert linked.action is Action.RETURN_LINK
    assert linked.reply.actions[0]["items"] == [choices[1]]
    assert guide.state.item_question is None


def test_late_return_within_grace_is_granted_an_exception(
    session: Session, settings: Settings
) -> None:
    customer = make_customer(session)
    make_order(session, customer, delivered_days_ago=65)  # every window closed 5 days ago
    guide = Guide(session, settings)
    guide.customer = customer
    decision = guide.says("I missed the return window, can I still send it back?")
    assert decision.action is Action.EXCEPTION_GRANTED
    assert decision.why == "the exception criteria are met (5 days late)"
    assert decision.reply.actions[0]["type"] == "allowlisted"
    assert guide.turn is not None and guide.turn.facts["exception"]["granted"] is True


def test_late_return_past_grace_is_denied_and_handed_off(
    session: Session, settings: Settings
) -> None:
    customer = make_customer(session)
    make_order(session, customer, delivered_days_ago=200)
    guide = Guide(session, settings)
    guide.customer = customer
    decision = guide.says("I missed the return window, can I still send it back?")
    assert decision.action is Action.HANDOFF
    assert decision.why.startswith("the exception criteria are not met")
    assert decision.reply.handoff is not None
    assert guide.turn is not None and guide.turn.facts["exception"]["granted"] is False


def test_asking_for_a_person_hands_off_with_a_routing_decision(
    session: Session, settings: Settings
) -> None:
    guide = Guide(session, settings)
    decision = guide.says("I want to talk to a human agent please")
    assert decision.action is Action.HANDOFF
    assert decision.why == "the customer asked for a person"
    handoff = decision.reply.handoff
    assert handoff is not None and handoff["queue"] and handoff["priority"]
    assert "asked for a person" in handoff["reason"]
    assert guide.turn is not None
    assert any(step["step"] == "routing" for step in guide.turn.trace)
    assert guide.state.handed_off and guide.state.handoff is not None
    again = guide.says("hello? where's my refund?")
    assert again.action is Action.STAY_HANDED_OFF
    assert again.reply.handoff == handoff


def test_unknown_intent_is_asked_about_once_then_handed_off(
    session: Session, settings: Settings
) -> None:
    guide = Guide(session, settings)
    first = guide.says("purple monkey dishwasher")
    assert first.action is Action.CLARIFY
    assert first.reply.intent is Intent.UNKNOWN
    assert guide.state.unclear == 1
    second = guide.says("banana")
    assert second.action is Action.HANDOFF
    assert second.why == "the guide did not understand twice in a row"
    assert guide.state.unclear == 0
