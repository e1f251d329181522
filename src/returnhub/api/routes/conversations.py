"""The self-service guide's conversations: start one, send a message, read the transcript."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from returnhub.api.deps import NoteWriter, Reader
from returnhub.domain.intents import Intent
from returnhub.domain.rules import Channel
from returnhub.runtime import Context
from returnhub.services import guide
from returnhub.services.commands import StrictModel

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _no_nul(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; drop it rather than fail the customer's message.
    return value.replace("\x00", "") if isinstance(value, str) else value


Contactable = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None,
    BeforeValidator(_no_nul),
]


class ConversationIn(StrictModel):
    channel: Annotated[Channel, BeforeValidator(_lower)] = Field(
        description="chat, email or sms (any routing channel is accepted)"
    )
    email: Contactable = Field(default=None, description="the channel's email, if it knows one")
    phone: Contactable = Field(default=None, description="the channel's phone, if it knows one")
    client: Contactable = Field(
        default=None,
        description="who is writing as the channel sees them (their network address or a "
        "device id); without phone or email it keys the limit on wrong ZIP guesses across "
        "conversations (default: the caller's address)",
    )


class MessageIn(StrictModel):
    text: Annotated[
        str,
        BeforeValidator(_no_nul),
        StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000),
    ]


class HandoffOut(BaseModel):
    queue: str
    priority: str
    reason: str


class ReplyOut(BaseModel):
    conversation_id: str
    text: str
    quick_replies: list[str]
    actions: list[dict[str, Any]]
    intent: Intent
    handoff: HandoffOut | None = Field(description="set when the guide hands off to a person")


class MessageOut(BaseModel):
    role: str
    text: str
    intent: str | None
    quick_replies: list[str] = []
    actions: list[dict[str, Any]] = []
    handoff: HandoffOut | None = None
    facts: dict[str, Any]
    trace: list[Any]
    created_at: datetime


class ConversationOut(BaseModel):
    id: str
    channel: str
    customer_id: str | None = Field(description="the verified customer, once known")
    verified_by: str | None
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut] = []


def _out(
    conversation: Any, customer_id: str | None, with_messages: bool = False
) -> ConversationOut:
    state = dict(conversation.state or {})
    messages = []
    if with_messages:
        for m in conversation.messages:
            reply = m.reply or {}
            messages.append(
                MessageOut(
                    role=m.role,
                    text=m.text,
                    intent=m.intent or None,
                    quick_replies=reply.get("quick_replies") or [],
                    actions=reply.get("actions") or [],
                    handoff=HandoffOut(**reply["handoff"]) if reply.get("handoff") else None,
                    facts=m.facts or {},
                    trace=m.trace or [],
                    created_at=m.created_at,
                )
            )
    return ConversationOut(
        id=conversation.public_id,
        channel=conversation.channel,
        customer_id=customer_id,
        verified_by=state.get("verified_by"),
        state=state,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=messages,
    )


@router.post(
    "",
    status_code=201,
    response_model=ConversationOut,
    summary="Start a self-service conversation; the channel's email or phone identify the customer",
)
def start(body: ConversationIn, request: Request, ctx: Context, _: NoteWriter) -> ConversationOut:
    now = ctx.clock()
    client = body.client or (f"address:{request.client.host}" if request.client else "")
    with ctx.db.write() as session:
        conversation = guide.start(
            session, ctx.settings, body.channel, body.email, body.phone, client
        )
        conversation.created_at = conversation.updated_at = now
        session.flush()
        return _out(conversation, guide.customer_public_id(session, conversation))


@router.post(
    "/{conversation_id}/messages",
    response_model=ReplyOut,
    summary="Send the customer's message; answers with the guide's reply",
)
def message(conversation_id: str, body: MessageIn, ctx: Context, _: NoteWriter) -> ReplyOut:
    with ctx.db.write() as session:
        reply = guide.handle_message(
            session, ctx.settings, ctx.policy, conversation_id, body.text, ctx.clock()
        )
    return ReplyOut(
        conversation_id=conversation_id,
        text=reply.text,
        quick_replies=reply.quick_replies,
        actions=reply.actions,
        intent=reply.intent,
        handoff=HandoffOut(**reply.handoff) if reply.handoff else None,
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationOut,
    summary="The transcript, with each reply's intent, facts and rule trace",
)
def transcript(conversation_id: str, ctx: Context, _: Reader) -> ConversationOut:
    with ctx.db.read() as session:
        conversation, customer_id = guide.transcript(session, conversation_id)
        return _out(conversation, customer_id, with_messages=True)
