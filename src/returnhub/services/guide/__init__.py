"""The self-service guide ("Where's my return?") over chat, email and SMS.

One customer message in, one reply out, in one write transaction. The conversation's state
(``state.ConversationState``, stored as JSON) is the guide's memory between turns: who the
customer is (and how that was verified), what the guide asked last ("which order?", "which
item?", "your email or order number + ZIP?") and for which intent, and how many unclear
messages in a row it has seen.

Identity first (``identity``): nothing about an order is disclosed before the customer is
verified, by the channel's own email or phone, or by an order number plus the ZIP of that
order's shipping address. An email typed into the conversation is only a claim: it still needs
the ZIP of one of that customer's orders. So is the email channel's sender address, unless the
help desk authenticated it (RETURNHUB_GUIDE_TRUST_EMAIL_SENDER). Wrong ZIPs are counted per
order (or claimed customer) and per client across conversations (services/throttle).

``decide`` settles what to do with a message and why; ``answers`` says it, ``returns`` reads the
return facts, ``returning`` runs the start-a-return flow, ``handoff`` routes to a person. Every
reply records the intent, the facts it used and a trace of the steps (classifier evidence,
identity, eligibility reasons, exception criteria, routing rule trace).
"""

from __future__ import annotations

from returnhub.services.guide.conversations import (
    ConversationNotFound,
    customer_public_id,
    get,
    handle_message,
    start,
    transcript,
)
from returnhub.services.guide.turn import Reply

__all__ = [
    "ConversationNotFound",
    "Reply",
    "customer_public_id",
    "get",
    "handle_message",
    "start",
    "transcript",
]
