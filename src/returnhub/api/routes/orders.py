from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict

from returnhub.api.deps import NoteWriter, Reader, Writer
from returnhub.api.schemas import EligibilityOut, OrderOut, eligibility_out, order_out
from returnhub.runtime import Context
from returnhub.services import orders, return_links
from returnhub.services.commands import OrderCreate

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Create an order, or import one together with its customer",
)
def create_order(body: OrderCreate, ctx: Context, _: Writer) -> OrderOut:
    with ctx.db.write() as session:
        return order_out(orders.create_order(session, body, ctx.settings.default_phone_region))


@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: str, ctx: Context, _: Reader) -> OrderOut:
    with ctx.db.read() as session:
        return order_out(orders.get_order(session, order_id))


@router.get(
    "/{order_id}/eligibility",
    response_model=EligibilityOut,
    summary="Which lines may be returned, for which outcome, and why",
)
def order_eligibility(order_id: str, ctx: Context, _: Reader) -> EligibilityOut:
    now = ctx.clock()
    with ctx.db.read() as session:
        order, lines = orders.eligibility(session, order_id, ctx.policy, now)
        return eligibility_out(order, lines, now)


class ReturnLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gift: bool = False


class ReturnLinkOut(BaseModel):
    url: str
    token: str
    order_id: str
    order_name: str
    gift: bool
    expires_at: datetime


def return_link_out(link: return_links.ReturnLink) -> ReturnLinkOut:
    return ReturnLinkOut(**asdict(link))


@router.post(
    "/{order_id}/return-link",
    status_code=201,
    response_model=ReturnLinkOut,
    summary="Create a personalised, expiring return link for the order",
)
def create_return_link(
    order_id: str, ctx: Context, _: NoteWriter, body: Annotated[ReturnLinkIn | None, Body()] = None
) -> ReturnLinkOut:
    with ctx.db.read() as session:
        link = return_links.create(
            session, ctx.settings, order_id, (body or ReturnLinkIn()).gift, ctx.clock()
        )
        return return_link_out(link)


class ReturnLinkCheckOut(BaseModel):
    order_id: str
    gift: bool
    expires_at: datetime


links_router = APIRouter(prefix="/api/v1/return-links", tags=["orders"])


@links_router.get(
    "/{token}",
    response_model=ReturnLinkCheckOut,
    summary="Check a return link (403 when tampered, expired or its order is gone)",
)
def check_return_link(token: str, ctx: Context, _: Reader) -> ReturnLinkCheckOut:
    with ctx.db.read() as session:
        claims = return_links.check(session, ctx.settings, token, ctx.clock())
        return ReturnLinkCheckOut(
            order_id=claims.order_id, gift=claims.gift, expires_at=claims.expires_at
        )
