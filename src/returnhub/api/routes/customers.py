from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from returnhub.api.deps import Reader, Writer
from returnhub.api.pagination import Cursor, Limit, decode_cursor, next_cursor
from returnhub.api.schemas import (
    CustomerList,
    CustomerOut,
    OrderList,
    ReturnList,
    customer_out,
    order_out,
    return_out,
)
from returnhub.runtime import Context
from returnhub.services import customers, lookup, orders, returns
from returnhub.services.commands import CustomerCreate, CustomerUpdate

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerOut)
def create_customer(body: CustomerCreate, ctx: Context, _: Writer) -> CustomerOut:
    with ctx.db.write() as session:
        customer = customers.create_customer(session, body, ctx.settings.default_phone_region)
        return customer_out(customer)


@router.get("", response_model=CustomerList, summary="Search customers by email, phone or name")
def search_customers(
    ctx: Context,
    _: Reader,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> CustomerList:
    with ctx.db.read() as session:
        found = customers.search_customers(
            session,
            email=email,
            phone=phone,
            name=name,
            phone_region=ctx.settings.default_phone_region,
            limit=limit,
        )
        return CustomerList(data=[customer_out(c) for c in found])


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, ctx: Context, _: Reader) -> CustomerOut:
    with ctx.db.read() as session:
        return customer_out(lookup.get_customer(session, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut)
def update_customer(customer_id: str, body: CustomerUpdate, ctx: Context, _: Writer) -> CustomerOut:
    with ctx.db.write() as session:
        customer = customers.update_customer(
            session, customer_id, body, ctx.settings.default_phone_region
        )
        return customer_out(customer)


@router.get("/{customer_id}/orders", response_model=OrderList)
def list_customer_orders(
    customer_id: str, ctx: Context, _: Reader, limit: Limit = 50, cursor: Cursor = None
) -> OrderList:
    with ctx.db.read() as session:
        rows = orders.list_orders(session, customer_id, limit, decode_cursor(cursor))
        return OrderList(data=[order_out(o) for o in rows], next_cursor=next_cursor(rows, limit))


@router.get("/{customer_id}/returns", response_model=ReturnList)
def list_customer_returns(
    customer_id: str, ctx: Context, _: Reader, limit: Limit = 50, cursor: Cursor = None
) -> ReturnList:
    with ctx.db.read() as session:
        rows = returns.list_returns(
            session, customer_id=customer_id, limit=limit, after=decode_cursor(cursor)
        )
        return ReturnList(data=[return_out(r) for r in rows], next_cursor=next_cursor(rows, limit))
