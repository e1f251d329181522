"""Starting a return from the guide: which order, which items, whether they may go back, and
then a return link, an exception to the policy, or a person who explains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from returnhub.domain.intents import Intent
from returnhub.domain.policy import evaluate_order
from returnhub.services import allowlist, return_links
from returnhub.services.commands import AllowlistIn
from returnhub.services.guide.handoff import hand_off
from returnhub.services.guide.identity import find_order
from returnhub.services.guide.items import chosen_items, listed_choices
from returnhub.services.guide.returns import (
    ExceptionCheck,
    ItemChoice,
    exception_check,
    line_mentioned,
    order_facts,
    reasons,
    verdict_facts,
)
from returnhub.services.guide.state import Awaiting, ItemQuestion
from returnhub.services.guide.turn import GUIDE_ACTOR, SMS_MAX, Action, Decision, Reply, Turn
from returnhub.store.tables import Customer, Order

MAX_ITEM_OPTIONS = 9


def start_return(turn: Turn, customer: Customer, intent: Intent) -> Decision:
    """Pick the order and the items, then send a link, grant an exception or hand off."""
    state = turn.state
    answering_item = state.awaiting is Awaiting.ITEM
    state.pending_intent = intent
    picked = _pick_order(turn, customer)
    if isinstance(picked, Decision):
        picked.reply.intent = intent
        return picked
    order = picked
    asked_about = state.item_question.order_id if state.item_question else None
    if answering_item and state.order_id != asked_about:
        answering_item = False  # they named another order instead: start its items afresh
    state.awaiting = None
    turn.facts["order"] = order.name
    verdicts = evaluate_order(order_facts(turn, customer, order), turn.policy, turn.now)
    lines = [ItemChoice(line, v) for line, v in zip(order.lines, verdicts, strict=True)]
    exception = exception_check(turn, customer, [c.verdict for c in lines])
    if answering_item:
        chosen = chosen_items(turn, lines)
        if chosen is None:
            return _item_not_understood(turn, order, lines, intent)
    else:
        words = set(turn.text.lower().split())
        chosen = [c for c in lines if line_mentioned(c.line.title, words)]
        # Ask only when the answer changes the outcome: two or more lines that could go back now
        # (or with the exception the criteria would grant). Otherwise every line is considered
        # and the reply says which can go back and why the others can't.
        actionable = [c for c in lines if c.actionable(exception.granted)]
        if not chosen and len(actionable) >= 2:
            return _ask_item(turn, order, actionable, intent)
    state.pending_intent = None
    state.forget_item_question()
    considered = chosen or lines
    eligible = [c for c in considered if c.verdict.eligible]
    turn.facts["eligibility"] = [verdict_facts(c) for c in considered]
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


def _pick_order(turn: Turn, customer: Customer) -> Order | Decision:
    session, state = turn.session, turn.state
    token, named = find_order(session, turn.text)
    if named is not None and named.customer_id == customer.id:
        state.order_id = named.public_id
    elif token is not None:
        turn.step("order_not_found", order=token)
        state.order_id = None
    if state.order_id:
        order = (
            session.scalars(
                select(Order)
                .where(Order.public_id == state.order_id, Order.customer_id == customer.id)
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
    by_item = [o for o in recent if any(line_mentioned(line.title, words) for line in o.lines)]
    if len(by_item) == 1:
        state.order_id = by_item[0].public_id
        return by_item[0]
    if len(recent) == 1:
        state.order_id = recent[0].public_id
        return recent[0]
    if not recent:
        reply = Reply(
            turn.say(
                "I couldn't find an order for you. If you ordered with another email, send "
                "the order number and ZIP code.",
                "No order found. Send order number + ZIP.",
            ),
            turn.pending_or(Intent.START_RETURN),
        )
        return Decision(Action.ASK_ORDER, "the verified customer has no order", reply)
    state.awaiting = Awaiting.ORDER
    reply = Reply(
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
    return Decision(Action.ASK_ORDER, f"{len(recent)} recent orders and none named", reply)


def _ask_item(turn: Turn, order: Order, options: list[ItemChoice], intent: Intent) -> Decision:
    options = options[:MAX_ITEM_OPTIONS]
    state = turn.state
    state.awaiting = Awaiting.ITEM
    retries = state.item_question.retries if state.item_question else 0
    state.item_question = ItemQuestion(
        order.public_id, [c.line.public_id for c in options], retries
    )
    turn.step("ask_item", order=order.name, options=[c.name for c in options])
    listed = "\n".join(f"{n}. {c.name}" for n, c in enumerate(options, 1))
    short_list = " ".join(f"{n}) {c.line.title[:28]}" for n, c in enumerate(options, 1))
    reply = Reply(
        turn.say(
            f"Which item(s) from order {order.name} would you like to return?\n{listed}\n"
            'Reply with the number(s) or the name(s), or "all".',
            f"Which item(s) from {order.name}? {short_list}. Reply with number(s) or ALL.",
        ),
        intent,
        quick_replies=[c.name for c in options] + ["All of them"],
    )
    why = f"{len(options)} items of order {order.name} could go back and none was named"
    return Decision(Action.ASK_ITEM, why, reply)


def _item_not_understood(
    turn: Turn, order: Order, lines: list[ItemChoice], intent: Intent
) -> Decision:
    state = turn.state
    if state.item_question is None:
        state.item_question = ItemQuestion(order.public_id)
    state.item_question.retries += 1
    if state.item_question.retries >= 2:
        state.pending_intent = None
        state.forget_item_question()
        state.awaiting = None
        return hand_off(
            turn,
            intent,
            f"could not tell which item of order {order.name} the customer means",
            lead="Sorry, I still couldn't tell which item you mean.",
            short_lead="Sorry, I couldn't tell which item.",
        )
    options = listed_choices(turn, lines) or lines
    decision = _ask_item(turn, order, options, intent)
    decision.reply.text = turn.say(
        "Sorry, I couldn't tell which item you mean. " + decision.reply.text,
        "Sorry, which item? " + decision.reply.text,
    )
    decision.why = "the answer named no item; " + decision.why
    return decision


def _why_not(items: list[ItemChoice]) -> str:
    return " ".join(
        f"{c.line.title} can't be returned: {'; '.join(reasons(c.verdict)[:2])}." for c in items
    )


def _send_link(
    turn: Turn,
    order: Order,
    intent: Intent,
    exception: str | None,
    items: list[ItemChoice],
    blocked: list[ItemChoice],
) -> Decision:
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
    reply = Reply(turn.say(long, short), intent, actions=actions)
    if exception:
        return Decision(Action.EXCEPTION_GRANTED, f"exception {exception} granted", reply)
    return Decision(Action.RETURN_LINK, f"order {order.name} has eligible items", reply)


def _exception(
    turn: Turn,
    order: Order,
    check: ExceptionCheck,
    late: list[ItemChoice],
    blocked: list[ItemChoice],
) -> Decision:
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
        decision = _send_link(
            turn, order, Intent.RETURN_EXCEPTION, entry.public_id, chosen, blocked
        )
        decision.why = f"the exception criteria are met ({check.why})"
        return decision
    decision = _not_eligible(turn, order, late + blocked, Intent.RETURN_EXCEPTION)
    decision.why = "the exception criteria are not met; " + decision.why
    return decision


def _not_eligible(turn: Turn, order: Order, items: list[ItemChoice], intent: Intent) -> Decision:
    policy = turn.policy.windows
    if len(items) == 1 or turn.facts.get("items"):
        why = _why_not(items)
        short_lead = (
            f"{items[0].line.title} can't be returned online."
            if len(items) == 1
            else f"Those items from {order.name} can't be returned online."
        )
    else:
        found = sorted({r for c in items for r in reasons(c.verdict)})
        why = f"Order {order.name} can't be returned online: {'; '.join(found[:3])}."
        short_lead = f"Order {order.name} is outside our return policy."
    explanation = (
        f"{why} Our policy allows returns within {min(policy.values())} days of delivery "
        f"({max(policy.values())} days for store credit), and final-sale items can't be returned."
    )
    return hand_off(
        turn,
        intent,
        f"order {order.name} is not eligible for a self-service return",
        lead=explanation,
        short_lead=short_lead,
    )
