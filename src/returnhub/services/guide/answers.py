"""What the guide says: its fixed texts, and the answers about returns and refunds (in full, or
in a sentence when they are the second request of a message)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from returnhub.domain.intents import Intent
from returnhub.domain.lifecycle import OPEN_STATES, ReturnState
from returnhub.domain.money import Money
from returnhub.services.guide.returns import customer_returns, return_facts
from returnhub.services.guide.turn import SMS_MAX, Reply, Turn
from returnhub.services.guide.vocabulary import RETURN_STATE_WORDS, SECOND_REQUEST_OFFERS
from returnhub.store.tables import Customer, Return

NOT_VERIFIED = (
    "I couldn't verify those details. Please check the order number and the ZIP code of the "
    "shipping address, or send the email address you ordered with."
)
ASK_IDENTITY = (
    "To look that up I need to know who you are: please send the email address you ordered "
    "with, or your order number and the ZIP code of the shipping address (e.g. #1234 94107)."
)
ASK_ZIP = (
    "Thanks. To confirm it's you, what's the ZIP code of the shipping address on one "
    "of your orders?",
    "Thanks. What's the ZIP code of your shipping address?",
)
CLARIFY = (
    "Sorry, I didn't quite get that. Is it about the status of a return, a refund, starting a "
    "return, or would you like to talk to a person?"
)
CLARIFY_SHORT = "Is it about a return, a refund, starting a return, or a person?"
CLARIFY_REPLIES = ["Where's my return?", "Where's my refund?", "Start a return", "Talk to a person"]
STILL_HANDED_OFF = (
    "A member of our team has your conversation and will reply here shortly.",
    "A team member will reply shortly.",
)


def _state_words(state: str) -> str:
    return RETURN_STATE_WORDS.get(state, state)


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


def return_status(turn: Turn, customer: Customer, brief: bool = False) -> Reply:
    returns = customer_returns(turn, customer)
    open_ = [r for r in returns if ReturnState(r.state) in OPEN_STATES]
    shown = (open_ or returns)[:1] if brief else open_ or returns[:1]
    turn.facts["returns"] = [return_facts(r) for r in shown]
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


def refund_status(turn: Turn, customer: Customer, brief: bool = False) -> Reply:
    days = turn.settings.guide_refund_days_after_receipt
    returns = [r for r in customer_returns(turn, customer) if r.refund_amount > 0]
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
        fact = {**return_facts(ret), "refund_method": ret.refund_method}
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


def add_brief(turn: Turn, customer: Customer, reply: Reply, second: Intent) -> None:
    """Answer the second request in a sentence (statuses), or offer it as a quick reply (flows
    that need their own turns). On SMS the sentence goes only if the whole reply still fits."""
    extra: Reply | None = None
    if second is Intent.RETURN_STATUS:
        extra = return_status(turn, customer, brief=True)
    elif second is Intent.REFUND_STATUS:
        extra = refund_status(turn, customer, brief=True)
    if extra is not None:
        long_extra, short_extra, quick = extra.text, extra.text, extra.quick_replies[:1]
        reply.actions += extra.actions
    elif second in SECOND_REQUEST_OFFERS:
        quick_reply, long_extra, short_extra = SECOND_REQUEST_OFFERS[second]
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
