"""One turn of a conversation: what it needs (``Turn``), what it answers (``Reply``), and the
decision that produced the answer (``Decision``: what the guide does and why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from returnhub.domain.intents import Intent
from returnhub.domain.policy import Policy
from returnhub.domain.rules import Channel
from returnhub.services.guide.state import ConversationState
from returnhub.settings import Settings
from returnhub.store.tables import AllowlistEntry, Conversation, Customer, Return

GUIDE_ACTOR = "guide"
SMS_MAX = 320


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


class Action(StrEnum):
    """What the guide does with a message."""

    STAY_HANDED_OFF = "stay_handed_off"
    """A person owns the conversation: the guide only repeats the handoff."""
    HANDOFF = "handoff"
    CLARIFY = "clarify"
    ASK_IDENTITY = "ask_identity"
    ANSWER = "answer"
    """A status answer: returns, refunds."""
    ASK_ORDER = "ask_order"
    ASK_ITEM = "ask_item"
    RETURN_LINK = "return_link"
    EXCEPTION_GRANTED = "exception_granted"


@dataclass
class Decision:
    action: Action
    why: str
    reply: Reply


@dataclass
class Turn:
    """Everything one message needs: the session, settings, policy, clock and conversation."""

    session: Session
    settings: Settings
    policy: Policy
    now: datetime
    conversation: Conversation
    text: str
    state: ConversationState
    customer: Customer | None = None
    """The verified customer, read with the conversation (one query instead of two)."""
    also: Intent | None = None
    """A second request in the same message, answered briefly or named in a handoff."""
    returns: list[Return] | None = None
    """The customer's returns, read once a turn."""
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

    def pending_or(self, fallback: Intent) -> Intent:
        """The intent being pursued across turns, or ``fallback`` when there is none."""
        return self.state.pending_intent or fallback
