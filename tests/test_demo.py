"""The demo dataset: loads fast, is deterministic, covers every state and plays by the rules."""

from __future__ import annotations

import io
import os
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import psycopg
import pytest
from email_validator import validate_email
from rich.console import Console
from sqlalchemy import func, make_url, select

from returnhub.demo import DatabaseNotEmpty, DemoSummary, load_demo
from returnhub.domain.contact import PhoneType
from returnhub.domain.lifecycle import ReturnAction, ReturnState, next_state
from returnhub.domain.policy import Outcome, Policy
from returnhub.services import customers, orders, returns
from returnhub.services.commands import (
    ActionIn,
    CustomerCreate,
    OrderCreate,
    OrderLineIn,
    ReturnCreate,
    ReturnItemIn,
)
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    DomainEvent,
    ExchangeItem,
    Fulfillment,
    Order,
    OrderLine,
    Return,
    ReturnItem,
    TimelineEntry,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CUSTOMERS = 60
SEED = 11


def _database(url: str) -> Database:
    db = Database.from_settings(Settings(mode="demo", database_url=url))
    upgrade(db.engine)
    return db


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Database]:
    db = _database(f"sqlite:///{tmp_path / 'demo.db'}")
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, DemoSummary]]:
    """One read-only demo database for the tests that only look."""
    db = _database(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    summary = load_demo(db, customers=CUSTOMERS, seed=SEED, now=NOW)
    yield db, summary
    db.dispose()


def _count(db: Database, table: type[object]) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _fingerprint(db: Database) -> dict[str, list[tuple[object, ...]]]:
    with db.read() as session:
        return {
            "customers": [
                tuple(r)
                for r in session.execute(
                    select(Customer.public_id, Customer.name, Customer.created_at).order_by(
                        Customer.id
                    )
                )
            ],
            "emails": [
                tuple(r)
                for r in session.execute(select(CustomerEmail.email).order_by(CustomerEmail.id))
            ],
            "phones": [
                tuple(r)
                for r in session.execute(select(CustomerPhone.number).order_by(CustomerPhone.id))
            ],
            "orders": [
                tuple(r)
                for r in session.execute(
                    select(Order.public_id, Order.name, Order.placed_at).order_by(Order.id)
                )
            ],
            "returns": [
                tuple(r)
                for r in session.execute(
                    select(
                        Return.public_id, Return.number, Return.state, Return.refund_amount
                    ).order_by(Return.id)
                )
            ],
            "timeline": [
                tuple(r)
                for r in session.execute(
                    select(TimelineEntry.kind, TimelineEntry.created_at).order_by(TimelineEntry.id)
                )
            ],
        }


# ---- what gets loaded ------------------------------------------------------------------------


def test_summary_matches_the_rows(loaded: tuple[Database, DemoSummary]) -> None:
    db, summary = loaded
    assert summary.customers == CUSTOMERS
    assert _count(db, Customer) == CUSTOMERS
    assert _count(db, Order) == summary.orders
    assert _count(db, Return) == summary.returns
    # 1-3 orders per customer; roughly a quarter of them returned.
    assert CUSTOMERS <= summary.orders <= 3 * CUSTOMERS
    assert 0.1 * summary.orders <= summary.returns <= 0.45 * summary.orders


def test_every_return_state_appears(loaded: tuple[Database, DemoSummary]) -> None:
    db, _ = loaded
    with db.read() as session:
        states = set(session.scalars(select(Return.state).distinct()))
    assert states == {s.value for s in ReturnState}


def test_order_names_are_sequential_in_placement_order(
    loaded: tuple[Database, DemoSummary],
) -> None:
    db, summary = loaded
    with db.read() as session:
        rows = session.execute(select(Order.name, Order.placed_at)).all()
    by_number = sorted(rows, key=lambda r: int(r.name.removeprefix("#")))
    assert [r.name for r in by_number] == [f"#{1001 + i}" for i in range(summary.orders)]
    placed = [r.placed_at for r in by_number]
    assert placed == sorted(placed)
    assert min(placed) >= NOW - timedelta(days=200)
    assert max(placed) <= NOW - timedelta(days=1)


def test_orders_lines_and_fulfillments_look_real(loaded: tuple[Database, DemoSummary]) -> None:
    db, summary = loaded
    with db.read() as session:
        order_rows = session.scalars(select(Order)).all()
        lines = session.scalars(select(OrderLine)).all()
        parcels = session.scalars(select(Fulfillment)).all()
    assert {o.currency for o in order_rows} == {"USD"}
    assert all(len(o.shipping_zip) == 5 and o.shipping_zip.isdigit() for o in order_rows)
    for o in order_rows:
        if o.delivered_at is not None:
            assert timedelta(days=2) <= o.delivered_at - o.placed_at <= timedelta(days=7)
            assert o.delivered_at <= NOW
    per_order = Counter(line.order_id for line in lines)
    assert set(per_order.values()) <= {1, 2, 3, 4}
    assert len(per_order) == summary.orders
    for line in lines:
        assert line.quantity in (1, 2)
        assert 1700 <= line.unit_price <= 18900
        assert line.sku.count("-") >= 3
        assert " / " in line.variant
    assert {p.carrier for p in parcels} <= {"UPS", "USPS", "FedEx"}
    assert all(p.tracking_number for p in parcels)


def test_contacts_are_valid(loaded: tuple[Database, DemoSummary]) -> None:
    db, _ = loaded
    with db.read() as session:
        emails = list(session.scalars(select(CustomerEmail.email)))
        phones = session.execute(select(CustomerPhone.number, CustomerPhone.type)).all()
        tags = list(session.scalars(select(Customer.tags)))
    assert len(emails) == len(set(emails))
    for email in emails:
        assert validate_email(email, check_deliverability=False).normalized.lower() == email
        assert email.split("@")[1] in {"example.com", "example.net", "example.org"}
    assert len(phones) > CUSTOMERS // 2
    for number, kind in phones:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
        assert kind in {t.value for t in PhoneType}
    assert Counter(kind for _, kind in phones).most_common(1)[0][0] == "MOBILE"
    assert all(t in ([], ["vip"]) for t in tags)


def test_phone_generator_makes_valid_numbers_at_scale() -> None:
    """A larger sample than the loaded demo, straight from the generator."""
    import random

    from returnhub.demo import _Generator

    generator = _Generator(random.Random(3), NOW)
    for _ in range(5000):
        number = generator._phone()
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number


def test_returns_agree_with_their_orders_and_dates(loaded: tuple[Database, DemoSummary]) -> None:
    db, _ = loaded
    with db.read() as session:
        rets = session.scalars(select(Return)).all()
        orders_by_id = {o.id: o for o in session.scalars(select(Order))}
        lines = {line.id: line for line in session.scalars(select(OrderLine))}
        items = defaultdict(list)
        for item in session.scalars(select(ReturnItem)):
            items[item.return_id].append(item)
        swaps = Counter(x.return_id for x in session.scalars(select(ExchangeItem)))
        timeline = defaultdict(list)
        for entry in session.scalars(select(TimelineEntry).order_by(TimelineEntry.id)):
            timeline[entry.return_id].append(entry)
        events = session.scalar(select(func.count()).select_from(DomainEvent))
    assert events == 0  # demo data announces nothing to the outside world
    methods = {"refund": "original_payment", "store_credit": "store_credit"}
    methods["gift_card"] = "gift_card"
    for ret in rets:
        order = orders_by_id[ret.order_id]
        assert ret.customer_id == order.customer_id
        assert order.delivered_at is not None and order.delivered_at < ret.created_at <= NOW
        assert ret.status_page_url == f"https://returns.example.com/status/{ret.number}"
        amount = 0
        for item in items[ret.id]:
            line = lines[item.order_line_id]
            assert line.order_id == order.id
            assert 1 <= item.quantity <= line.quantity
            assert not line.final_sale
            assert item.expected_condition in {"new", "used", "damaged"}
            assert item.parent_reason and item.reason
            if item.outcome != Outcome.EXCHANGE:
                amount += line.unit_price * item.quantity
        assert ret.refund_amount == amount
        exchanges = sum(i.outcome == Outcome.EXCHANGE for i in items[ret.id])
        assert (swaps[ret.id] > 0) == (exchanges > 0)
        first_paid = next((i.outcome for i in items[ret.id] if i.outcome in methods), None)
        assert ret.refund_method == (methods[first_paid] if first_paid else "")

        # The timeline walks the real state machine from requested to the current state.
        entries = timeline[ret.id]
        assert entries[0].kind == "created"
        assert entries[0].to_state == "requested"
        state = ReturnState.REQUESTED
        for entry in entries[1:]:
            if entry.kind.startswith("state."):
                action = ReturnAction(entry.kind.removeprefix("state."))
                assert entry.from_state == state.value
                state = next_state(state, action)
                assert entry.to_state == state.value
        assert state.value == ret.state
        times = [e.created_at for e in entries]
        assert times == sorted(times)
        assert ret.created_at == times[0]
        assert ret.updated_at == times[-1] <= NOW

        received = [e.created_at for e in entries if e.kind == "state.receive"]
        assert ret.received_at == (received[0] if received else None)
        authorized = any(e.kind == "state.authorize" for e in entries)
        assert bool(ret.label_carrier and ret.label_tracking_number) == authorized
        assert (ret.label_updated_at is not None) == authorized
        if ret.label_updated_at is not None:
            assert ret.created_at < ret.label_updated_at <= ret.updated_at
        assert (ret.external_id is None) == (ret.source_system == "returnhub")
        assert ret.source_updated_at == (None if ret.external_id is None else ret.updated_at)

        if amount == 0:
            assert ret.refund_state == "none"
        elif ret.state in ("rejected", "cancelled", "expired") or any(
            e.kind == "state.reject" for e in entries
        ):
            assert ret.refund_state == "void"
        elif ret.state == "closed":
            assert ret.refund_state == "issued"
        else:
            assert ret.refund_state in ("pending", "issued")
        if ret.refund_state == "issued":
            assert ret.refund_issued_at is not None
            assert ret.received_at is not None
            assert ret.received_at <= ret.refund_issued_at <= NOW
            assert [e.kind for e in entries].count("refund.issued") == 1
        else:
            assert ret.refund_issued_at is None


def test_progress_goes_to_the_console(empty_db: Database) -> None:
    out = io.StringIO()
    load_demo(empty_db, customers=5, seed=1, now=NOW, console=Console(file=out, width=100))
    assert "loading demo customers" in out.getvalue()
    assert "5/5" in out.getvalue()


def test_describe() -> None:
    summary = DemoSummary(customers=1200, orders=2034, returns=511, seconds=1.26)
    assert summary.describe() == (
        "demo data loaded: 1,200 customers, 2,034 orders and 511 returns in 1.3s"
    )


def test_naive_now_is_refused(empty_db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        load_demo(empty_db, customers=1, seed=1, now=datetime(2026, 11, 22, 12, 0))


# ---- determinism and refusal -----------------------------------------------------------------


def test_same_seed_same_rows_and_other_seed_other_rows(
    loaded: tuple[Database, DemoSummary], tmp_path: Path
) -> None:
    db, _ = loaded
    again = _database(f"sqlite:///{tmp_path / 'again.db'}")
    other = _database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        load_demo(again, customers=CUSTOMERS, seed=SEED, now=NOW)
        load_demo(other, customers=CUSTOMERS, seed=SEED + 1, now=NOW)
        first, second, third = _fingerprint(db), _fingerprint(again), _fingerprint(other)
    finally:
        again.dispose()
        other.dispose()
    assert second == first
    ids = {row[0] for row in first["customers"]} | {row[0] for row in first["returns"]}
    other_ids = {row[0] for row in third["customers"]} | {row[0] for row in third["returns"]}
    assert ids.isdisjoint(other_ids)
    assert {r[0] for r in third["emails"]} != {r[0] for r in first["emails"]}


def test_a_second_load_is_refused(loaded: tuple[Database, DemoSummary]) -> None:
    db, _ = loaded
    with pytest.raises(DatabaseNotEmpty, match="already has 60 customers"):
        load_demo(db, customers=5, seed=SEED, now=NOW)
    assert _count(db, Customer) == CUSTOMERS


# ---- the services work on demo data --------------------------------------------------------


def _exercise_services(db: Database, summary: DemoSummary) -> None:
    """Act on demo rows through the service layer and insert new rows after them."""
    with db.read() as session:
        requested = session.scalar(
            select(Return.public_id).where(Return.state == "requested").order_by(Return.id)
        )
        customer_id = session.scalar(select(Customer.public_id).order_by(Customer.id))
    assert requested is not None and customer_id is not None

    with db.read() as session:
        ret = returns.get_return(session, requested)
        assert ret.state == "requested"
        assert ret.timeline[0].kind == "created"
    with db.write() as session:
        ret = returns.apply_action(
            session, requested, ReturnAction.AUTHORIZE, ActionIn(), "test", NOW
        )
        assert ret.state == "authorized"
        assert ret.timeline[-1].kind == "state.authorize"

    # New rows get fresh keys after the demo's (on PostgreSQL: the sequences were moved on).
    with db.write() as session:
        order = orders.create_order(
            session,
            OrderCreate(
                name="#900001",
                customer_id=customer_id,
                placed_at=NOW - timedelta(days=6),
                delivered_at=NOW - timedelta(days=2),
                currency="USD",
                lines=[
                    OrderLineIn(
                        sku="TEE-CREW-BLK-M", title="Crew Neck Tee", quantity=2, unit_price=2900
                    )
                ],
            ),
        )
        assert order.id == summary.orders + 1
        line_id = order.lines[0].public_id
        order_id = order.public_id
        customer = customers.create_customer(
            session, CustomerCreate(name="New Person", emails=["new.person@example.com"])
        )
        assert customer.id == CUSTOMERS + 1
    with db.write() as session:
        created = returns.create_return(
            session,
            ReturnCreate(
                order_id=order_id,
                items=[ReturnItemIn(order_line_id=line_id, quantity=1, outcome=Outcome.REFUND)],
            ),
            Policy.default(),
            NOW,
            "test",
        )
        assert created.id == summary.returns + 1
        assert created.refund_amount == 2900


def test_services_act_on_demo_data_on_sqlite(empty_db: Database) -> None:
    summary = load_demo(empty_db, customers=CUSTOMERS, seed=SEED, now=NOW)
    _exercise_services(empty_db, summary)


def test_a_recent_demo_order_is_eligible_for_a_return(loaded: tuple[Database, DemoSummary]) -> None:
    db, _ = loaded
    with db.read() as session:
        recent = session.scalars(
            select(Order.public_id)
            .where(
                Order.delivered_at > NOW - timedelta(days=20),
                ~Order.id.in_(select(Return.order_id)),
            )
            .order_by(Order.id)
        ).all()
        assert recent
        order, verdicts = orders.eligibility(session, recent[0], Policy.default(), NOW)
    assert len(verdicts) == len(order.lines)
    for line, verdict in zip(order.lines, verdicts, strict=True):
        assert verdict.eligible == (not line.final_sale)


PG_URL = os.environ.get("RETURNHUB_TEST_DATABASE_URL", "")


@pytest.mark.postgres
def test_loads_on_postgresql(loaded: tuple[Database, DemoSummary]) -> None:
    """Same rows as on SQLite; the id sequences are moved past the demo's keys."""
    if not PG_URL:
        pytest.skip("set RETURNHUB_TEST_DATABASE_URL to run the PostgreSQL demo load")
    server = make_url(PG_URL)
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"rh_demo_{secrets.token_hex(5)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        db = _database(server.set(database=name).render_as_string(hide_password=False))
        try:
            summary = load_demo(db, customers=CUSTOMERS, seed=SEED, now=NOW)
            assert summary.returns == loaded[1].returns
            assert _fingerprint(db) == _fingerprint(loaded[0])
            _exercise_services(db, summary)
        finally:
            db.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
