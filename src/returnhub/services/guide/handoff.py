"""Handing a conversation to a person, with the routing rules' decision (queue, priority, why)."""

from __future__ import annotations

from returnhub.domain.intents import Intent
from returnhub.domain.routing import Contact, routing_facts
from returnhub.services import routing
from returnhub.services.guide.state import Handoff
from returnhub.services.guide.turn import Action, Decision, Reply, Turn
from returnhub.services.guide.vocabulary import ALSO_WORDS


def hand_off(
    turn: Turn, intent: Intent, reason: str, lead: str = "", short_lead: str = ""
) -> Decision:
    """Route the conversation to a person; from now on the guide only repeats the handoff."""
    customer = turn.customer
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
    handoff = Handoff(queue, priority, f"{reason} ({rule_reason})")
    turn.state.handed_off = True
    turn.state.handoff = handoff
    body = "I'm passing you to a member of our team, who will pick this up shortly."
    text = turn.say(
        f"{lead} {body}".strip(),
        f"{short_lead} A team member will reply shortly.".strip(),
    )
    reply = Reply(
        text,
        intent,
        actions=[{"type": "handoff", "queue": queue, "priority": priority}],
        handoff=handoff.as_dict(),
    )
    return Decision(Action.HANDOFF, reason, reply)
