from __future__ import annotations

from fastapi import APIRouter

from returnhub.api.deps import Context, Reader, Writer
from returnhub.api.schemas import EligibilityOut, OrderOut, eligibility_out, order_out
from returnhub.services import orders
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
