"""The guide's memory between turns: a conversation's state, typed, and its stored JSON.

The JSON shape is the one the guide has always stored (and the conversation API shows): flat
keys, absent when unset. ``from_json`` reads any shape a release ever wrote, tolerantly: a
missing key is its default (conversations begun before the per-client guess limit have no
``client``), a counter stored as text is read as a number, and a value it cannot read (an
intent or a question this release does not know) is dropped rather than failing the customer's
next message. Keys it does not know are kept as they were, so a round trip loses nothing. As the
shape is unchanged, stored rows need no data migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from returnhub.domain.intents import Intent


class Awaiting(StrEnum):
    """The question the guide asked last, whose answer the next message probably is."""

    IDENTITY = "identity"
    ORDER = "order"
    ITEM = "item"


UNKNOWN_CLAIM = -1
"""``claimed_customer`` when the claimed email matches nobody: the guide still asks for a ZIP, so
the reply does not reveal whether the email is known."""


@dataclass
class ItemQuestion:
    """ "Which item(s) from this order?": the order, the lines offered (in the listed order) and
    how many answers were not understood."""

    order_id: str
    choices: list[str] = field(default_factory=list)
    retries: int = 0


@dataclass(frozen=True)
class Handoff:
    """Where a person picks the conversation up, and why."""

    queue: str
    priority: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "priority": self.priority, "reason": self.reason}


@dataclass
class ConversationState:
    client: str = ""
    """Who is writing as the channel sees them: keys the limit on ZIP guesses."""
    unclear: int = 0
    """Messages in a row the guide did not understand."""
    verify_failures: int = 0
    verified_by: str | None = None
    """How the customer was verified (``channel_email``, ``order_zip`` ...); None until then."""
    claimed_customer: int | None = None
    """The customer an email claims to be (``UNKNOWN_CLAIM`` for none), until a ZIP confirms."""
    claimed_order: str | None = None
    """An order number sent while the guide waits for identity, until its ZIP comes."""
    awaiting: Awaiting | None = None
    pending_intent: Intent | None = None
    """The request being pursued while the guide asks something first."""
    also_intent: Intent | None = None
    """A second request in the same message, kept while the customer is verified."""
    order_id: str | None = None
    """The order the conversation is about (public id)."""
    item_question: ItemQuestion | None = None
    handed_off: bool = False
    handoff: Handoff | None = None
    unknown: dict[str, Any] = field(default_factory=dict)
    """Stored keys this release does not read, written back unchanged."""

    def forget_item_question(self) -> None:
        self.item_question = None

    def forget_claims(self) -> None:
        self.claimed_customer = None
        self.claimed_order = None

    @classmethod
    def from_json(cls, stored: dict[str, Any] | None) -> ConversationState:
        data = dict(stored or {})
        item_order, item_choices = data.pop("item_order", None), data.pop("item_choices", None)
        item_retries = data.pop("item_retries", None)
        item_question = None
        if item_order is not None or item_choices is not None or item_retries is not None:
            item_question = ItemQuestion(
                order_id=str(item_order or ""),
                choices=[str(c) for c in item_choices or [] if c],
                retries=_int(item_retries),
            )
        handoff = data.pop("handoff", None)
        return cls(
            client=str(data.pop("client", "") or ""),
            unclear=_int(data.pop("unclear", 0)),
            verify_failures=_int(data.pop("verify_failures", 0)),
            verified_by=_text(data.pop("verified_by", None)),
            claimed_customer=_int_or_none(data.pop("claimed_customer", None)),
            claimed_order=_text(data.pop("claimed_order", None)),
            awaiting=_member(Awaiting, data.pop("awaiting", None)),
            pending_intent=_member(Intent, data.pop("pending_intent", None)),
            also_intent=_member(Intent, data.pop("also_intent", None)),
            order_id=_text(data.pop("order_id", None)),
            item_question=item_question,
            handed_off=bool(data.pop("handed_off", False)),
            handoff=(
                Handoff(
                    str(handoff.get("queue", "")),
                    str(handoff.get("priority", "")),
                    str(handoff.get("reason", "")),
                )
                if isinstance(handoff, dict)
                else None
            ),
            unknown=data,
        )

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            **self.unknown,
            "unclear": self.unclear,
            "verify_failures": self.verify_failures,
            "client": self.client,
        }
        optional: dict[str, Any] = {
            "verified_by": self.verified_by,
            "claimed_customer": self.claimed_customer,
            "claimed_order": self.claimed_order,
            "awaiting": self.awaiting.value if self.awaiting else None,
            "pending_intent": self.pending_intent.value if self.pending_intent else None,
            "also_intent": self.also_intent.value if self.also_intent else None,
            "order_id": self.order_id,
            "handed_off": True if self.handed_off else None,
            "handoff": self.handoff.as_dict() if self.handoff else None,
        }
        if self.item_question is not None:
            optional["item_order"] = self.item_question.order_id
            optional["item_choices"] = list(self.item_question.choices)
            optional["item_retries"] = self.item_question.retries
        stored.update({key: value for key, value in optional.items() if value is not None})
        return stored


def _int(value: Any) -> int:
    number = _int_or_none(value)
    return 0 if number is None else number


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


E = TypeVar("E", bound=StrEnum)


def _member(kind: type[E], value: Any) -> E | None:
    try:
        return kind(value) if value not in (None, "") else None
    except ValueError:
        return None
