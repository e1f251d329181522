"""Prepared reads (store/prepared.py) run Core statements on the driver's cursor; what they
return must equal what SQLAlchemy returns for the same statement, on both engines."""

from __future__ import annotations

import gc
import threading
from datetime import datetime

import pytest
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import DBAPIError

from returnhub.demo import load_demo
from returnhub.services import customer_lookup, routing
from returnhub.services.customer_lookup import LookupQuery
from returnhub.store.db import Database
from returnhub.store.prepared import PreparedSelect, fetch
from returnhub.store.tables import Customer, CustomerEmail, CustomerPhone, Order, Return
from tests.conftest import TEST_NOW


def test_lookups_on_the_driver_equal_lookups_through_sqlalchemy(db: Database) -> None:
    load_demo(db, customers=40, seed=5, now=TEST_NOW)
    with db.read() as session:
        customers = session.execute(select(Customer.id, Customer.public_id)).all()
        emails = session.scalars(select(CustomerEmail.email)).all()
        phones = session.scalars(select(CustomerPhone.number)).all()
        orders = session.scalars(select(Order.name).limit(15)).all()
        names = session.scalars(select(Customer.name).limit(5)).all()
    with db.read() as session, db.read_cursor() as reader:
        for _, public_id in customers:
            assert customer_lookup.profile(reader, public_id) == customer_lookup.profile(
                session, public_id
            )
        for email in emails:
            query = LookupQuery(emails=(email.upper(), "nobody@example.com"))
            assert customer_lookup.auto_link(reader, query, "US") == customer_lookup.auto_link(
                session, query, "US"
            )
        queries = [
            LookupQuery(phones=tuple(phones[:3])),
            LookupQuery(order_numbers=tuple(o.lstrip("#") for o in orders)),
            *(LookupQuery(name=name.split()[0]) for name in names),
            LookupQuery(name="100%_\\"),  # LIKE wildcards match literally, on both paths
        ]
        for query in queries:
            found = customer_lookup.search(reader, query, "US")
            assert found == customer_lookup.search(session, query, "US")
        assert any(customer_lookup.search(reader, q, "US") for q in queries)


def test_in_lists_of_any_length_including_none(db: Database) -> None:
    load_demo(db, customers=12, seed=4, now=TEST_NOW)
    by_email = PreparedSelect(
        select(CustomerEmail.customer_id)
        .where(CustomerEmail.email.in_(bindparam("emails", expanding=True)))
        .order_by(CustomerEmail.customer_id)
    )
    with db.read() as session:
        emails = session.scalars(select(CustomerEmail.email).order_by(CustomerEmail.id)).all()
    with db.read() as session, db.read_cursor() as reader:
        for chosen in ([], emails[:1], emails[:5], emails[2:4], emails[:1], [], emails):
            expected = fetch(session, by_email, {"emails": chosen})
            assert fetch(reader, by_email, {"emails": chosen}) == expected
            assert len(expected) == len(chosen)


def test_a_type_that_needs_a_bind_processor_is_refused(db: Database) -> None:
    after = PreparedSelect(select(Return.id).where(Return.created_at > bindparam("after")))
    with db.read_cursor() as reader, pytest.raises(TypeError, match="bind processor"):
        fetch(reader, after, {"after": TEST_NOW})


def test_values_go_through_the_columns_result_processors(db: Database) -> None:
    load_demo(db, customers=10, seed=3, now=TEST_NOW)
    statement = PreparedSelect(
        select(Return.id, Return.created_at, Customer.tags, Return.received_at)
        .join(Customer, Customer.id == Return.customer_id)
        .order_by(Return.id)
    )
    with db.read_cursor() as reader:
        rows = fetch(reader, statement, {})
    assert rows
    for _, created_at, tags, _ in rows:
        assert isinstance(created_at, datetime) and created_at.utcoffset() is not None
        assert isinstance(tags, list)
    with db.read() as session:
        assert list(rows) == list(fetch(session, statement, {}))


def test_routing_snapshot_reads_processed_times_on_the_driver(db: Database) -> None:
    load_demo(db, customers=60, seed=11, now=TEST_NOW)
    with db.read() as session:
        ids = session.scalars(select(Return.id)).all()
    with db.read() as session, db.read_cursor() as reader:
        assert routing._processed_at(reader, ids) == routing._processed_at(session, ids)


def test_each_thread_reads_on_its_own_connection(db: Database) -> None:
    load_demo(db, customers=5, seed=1, now=TEST_NOW)
    count = PreparedSelect(select(Customer.id))
    seen: list[int] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                with db.read_cursor() as reader:
                    seen.append(len(fetch(reader, count, {})))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    assert seen == [5] * 80
    # Ended threads give their connections back to the pool.
    del threads
    gc.collect()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failed_statement_leaves_the_reader_usable(db: Database) -> None:
    load_demo(db, customers=3, seed=1, now=TEST_NOW)
    broken = PreparedSelect(select(func.returnhub_no_such_function(Customer.id)))
    ids = PreparedSelect(select(Customer.id))
    for _ in range(2):
        with pytest.raises(DBAPIError), db.read_cursor() as reader:
            fetch(reader, broken, {})
        with db.read_cursor() as reader:
            assert len(fetch(reader, ids, {})) == 3


def test_a_read_survives_its_connection_being_killed(db: Database) -> None:
    """A database restart (or a proxy dropping idle connections) kills held connections; the
    next lookup must still answer, on a new connection."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite connections are in-process file handles: nothing can drop them")
    load_demo(db, customers=3, seed=1, now=TEST_NOW)
    ids = PreparedSelect(select(Customer.id))
    pid = PreparedSelect(select(func.pg_backend_pid()))
    [(first,)] = db.run_read(lambda reader: fetch(reader, pid, {}))
    with db.engine.connect() as other:
        other.execute(select(func.pg_terminate_backend(first)))
    assert len(db.run_read(lambda reader: fetch(reader, ids, {}))) == 3
    [(second,)] = db.run_read(lambda reader: fetch(reader, pid, {}))
    assert second != first


def test_postgresql_reads_see_commits_made_after_the_connection_was_taken(db: Database) -> None:
    """Held connections run in autocommit on PostgreSQL: no read may sit in a transaction
    that hides later commits."""
    ids = PreparedSelect(select(Customer.id))
    assert db.run_read(lambda reader: fetch(reader, ids, {})) == []
    load_demo(db, customers=2, seed=1, now=TEST_NOW)
    assert len(db.run_read(lambda reader: fetch(reader, ids, {}))) == 2
