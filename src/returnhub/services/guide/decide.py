"""What the guide does with one message, and why: each step of the decision is a function that
either settles it (a ``Decision``) or hands on to the next.

1. A conversation handed to a person stays with them.
2. The message's intent: an answer to the guide's own question keeps the request it was
   pursuing; otherwise the classifier's intent, and a second request when it is sure of one.
3. A person asked for wins; two unclear messages in a row go to a person; one is asked again.
4. The customer must be verified before anything about an order is said.
5. The request is answered: return or refund status, or the start-a-return flow (link,
   exception, or a person who explains).
"""

from __future__ import annotations

from returnhub.domain.intents import Classification, Classifier, Intent
from returnhub.services.guide.answers import (
    CLARIFY,
    CLARIFY_REPLIES,
    CLARIFY_SHORT,
    STILL_HANDED_OFF,
    add_brief,
    refund_status,
    return_status,
)
from returnhub.services.guide.handoff import hand_off
from returnhub.services.guide.identity import verify
from returnhub.services.guide.returning import start_return
from returnhub.services.guide.state import Awaiting
from returnhub.services.guide.turn import Action, Decision, Reply, Turn
from returnhub.store.tables import Customer

SECOND_INTENT_MIN_SCORE = 3.0
RETURNING = (Intent.START_RETURN, Intent.RETURN_EXCEPTION)
"""Starting a return and a late return are one flow, which checks the window by itself."""


def decide(turn: Turn, classifier: Classifier) -> Decision:
    result = classifier.classify(turn.text)
    turn.step("classify", **result.as_dict())
    if turn.state.handed_off:
        return _still_handed_off(turn, result.intent)
    awaiting = turn.state.awaiting
    intent, second = _read_intent(turn, result)
    turn.facts["intent"] = intent.value
    turn.facts["intent_score"] = result.score
    if second is not None:
        turn.facts["also_intent"] = second.value
    settled = _person_or_unclear(turn, intent, second, awaiting)
    if settled is not None:
        return settled
    if second is not None:
        turn.state.also_intent = second  # kept while the guide verifies who they are
    identified = _identify(turn, intent)
    if isinstance(identified, Decision):
        return identified
    customer, intent = identified
    return _answer(turn, customer, intent)


def _still_handed_off(turn: Turn, intent: Intent) -> Decision:
    """A person owns the conversation now: the guide must not answer over them. The handoff is
    repeated so a help desk that reads each reply still routes the new message."""
    handoff = turn.state.handoff.as_dict() if turn.state.handoff else None
    turn.step("handed_off", handoff=handoff)
    turn.facts["intent"] = intent.value
    reply = Reply(turn.say(*STILL_HANDED_OFF), intent, handoff=handoff)
    return Decision(Action.STAY_HANDED_OFF, "a person owns the conversation", reply)


def _read_intent(turn: Turn, result: Classification) -> tuple[Intent, Intent | None]:
    """The request this message pursues, and a second one it makes (if any).

    An answer to our own question keeps the intent we were pursuing, unless the customer
    clearly asked for something else. "Which order/item?" answers often read as returning
    ("the jeans, they don't fit"): the same flow.
    """
    state = turn.state
    intent, awaiting = result.intent, state.awaiting
    if awaiting in (Awaiting.ORDER, Awaiting.ITEM) and intent in RETURNING:
        intent = turn.pending_or(intent)
        turn.step("continue", awaiting=awaiting.value, intent=intent.value)
        return intent, None
    if awaiting is not None and intent in (Intent.UNKNOWN, state.pending_intent):
        intent = turn.pending_or(Intent.UNKNOWN)
        turn.step("continue", awaiting=awaiting.value, intent=intent.value)
        return intent, None
    if awaiting is not None and awaiting is not Awaiting.IDENTITY:
        state.awaiting = None
        state.order_id = None
    return intent, second_intent(result)


def second_intent(result: Classification) -> Intent | None:
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
    if {result.intent, second} <= set(RETURNING):
        return None
    return second


def _person_or_unclear(
    turn: Turn, intent: Intent, second: Intent | None, awaiting: Awaiting | None
) -> Decision | None:
    """A person wins over anything else in the same message (the handoff says what else they
    asked, so whoever picks it up answers that too); an unclear message is asked about once,
    then goes to a person. None when the message is a request the guide handles."""
    state = turn.state
    if Intent.HUMAN in (intent, second):
        state.unclear = 0
        turn.also = second if intent is Intent.HUMAN else intent
        return hand_off(turn, Intent.HUMAN, "the customer asked for a person")
    if intent is Intent.UNKNOWN and awaiting is not Awaiting.IDENTITY:
        state.unclear += 1
        if state.unclear >= 2:
            state.unclear = 0
            return hand_off(turn, Intent.UNKNOWN, "the guide did not understand twice in a row")
        reply = Reply(
            turn.say(CLARIFY, CLARIFY_SHORT), Intent.UNKNOWN, quick_replies=list(CLARIFY_REPLIES)
        )
        return Decision(Action.CLARIFY, "the message is not a request the guide knows", reply)
    state.unclear = 0
    return None


def _identify(turn: Turn, intent: Intent) -> tuple[Customer, Intent] | Decision:
    """The verified customer and the request to answer, or the question that verifies them.
    A request made before verification is pursued once it succeeds."""
    state = turn.state
    customer = turn.customer
    if customer is None:
        if intent is not Intent.UNKNOWN:
            state.pending_intent = intent
        verified = verify(turn)
        if isinstance(verified, Decision):
            return verified
        customer = verified
        intent = turn.pending_or(intent)
        if intent is Intent.UNKNOWN:
            state.awaiting = None
            reply = Reply(
                turn.say("Thanks, you're verified. " + CLARIFY, "Verified. How can I help?"),
                Intent.UNKNOWN,
                quick_replies=list(CLARIFY_REPLIES),
            )
            return Decision(Action.CLARIFY, "verified, and no request is pending", reply)
    turn.facts["customer_id"] = customer.public_id
    turn.facts["verified_by"] = state.verified_by
    state.pending_intent = None
    if state.awaiting is Awaiting.IDENTITY:
        state.awaiting = None
    return customer, intent


def _answer(turn: Turn, customer: Customer, intent: Intent) -> Decision:
    """Answer the request for a verified customer, and the second request briefly when the
    answer is not a handoff."""
    state = turn.state
    second, state.also_intent = state.also_intent, None
    turn.also = second if second is not intent else None
    if intent is Intent.RETURN_STATUS:
        decision = Decision(Action.ANSWER, "return status", return_status(turn, customer))
    elif intent is Intent.REFUND_STATUS:
        decision = Decision(Action.ANSWER, "refund status", refund_status(turn, customer))
    elif intent in RETURNING:
        decision = start_return(turn, customer, intent)
    else:
        reply = Reply(turn.say(CLARIFY), Intent.UNKNOWN, quick_replies=list(CLARIFY_REPLIES))
        return Decision(Action.CLARIFY, "verified, but the message is no request", reply)
    if turn.also is not None and decision.reply.handoff is None:
        add_brief(turn, customer, decision.reply, turn.also)
    return decision
