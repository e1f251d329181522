"""POST /api/v1/routing/evaluate end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from returnhub.api.app import create_app
from returnhub.services import routing
from returnhub.services.keys import create_key
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import Customer
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, create_return

EVALUATE = "/api/v1/routing/evaluate"
# For what does not touch the ledger (input checks, auth, the rules file): one engine is enough.
sqlite_only = pytest.mark.parametrize("migrated_url", ["sqlite"], indirect=True)


def evaluate(
    client: TestClient, customer: dict[str, Any], channel: str = "email", text: str = ""
) -> dict[str, Any]:
    response = client.post(
        EVALUATE, json={"contact": {"channel": channel, "text": text}, "customer": customer}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def received_return(client: TestClient, clock: Clock, customer_id: str) -> dict[str, Any]:
    ret = create_return(client, create_order(client, clock.now, customer_id))
    for action in ("authorize", "receive"):
        response = client.post(f"/api/v1/returns/{ret['id']}/{action}")
        assert response.status_code == 200, response.text
    return ret


def test_refund_pending_eight_days_goes_to_senior_with_high_priority(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    received_return(client, clock, customer["id"])
    clock.advance(days=8)

    decision = evaluate(client, {"customer_id": customer["id"]}, "chat", "Where is my refund?")

    assert decision["queue"] == "returns-senior"
    assert decision["priority"] == "high"
    assert decision["tags"] == ["refund-delayed"]
    assert decision["actions"] == ["check-refund-status"]
    assert decision["rule"] == "refund-pending"
    assert decision["reason"] == (
        "rule refund-pending (refund pending for 7 days or more) matched: "
        "refund.pending_days is 8 (gte 7: yes)"
    )
    assert decision["trace"] == [
        {
            "rule": "refund-pending",
            "attr": "refund.pending_days",
            "op": "gte",
            "value": 7,
            "actual": 8,
            "result": True,
            "line": 16,
        }
    ]
    assert decision["customer"] == {"id": customer["id"], "matched_by": "customer_id"}
    assert decision["facts"] == {
        "contact.channel": "chat",
        "contact.text": "Where is my refund?",
        "customer.known": True,
        "customer.tags": [],
        "customer.vip": False,
        "customer.lifetime_returns": 1,
        "returns.open_count": 1,
        "returns.has_flagged": False,
        "returns.latest_state": "received",
        "returns.latest_outcomes": ["refund"],
        "returns.latest_refund_amount": 12900,
        "returns.latest_refund_state": "pending",
        "refund.pending_days": 8,
        "order.value": 28300,
        "order.days_since_delivery": 18,
    }


def test_six_days_pending_is_an_open_return_for_the_returns_queue(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    received_return(client, clock, customer["id"])
    clock.advance(days=6)

    decision = evaluate(client, {"email": customer["emails"][0].upper()})

    assert (decision["queue"], decision["priority"], decision["rule"]) == (
        "returns",
        "normal",
        "open-return",
    )
    assert [(e["rule"], e["attr"], e["actual"], e["result"]) for e in decision["trace"]] == [
        ("refund-pending", "refund.pending_days", 6, False),
        ("vip-open-return", "customer.vip", False, False),
        ("open-return", "returns.has_flagged", False, False),
        ("open-return", "returns.open_count", 1, True),
    ]
    assert decision["customer"] == {"id": customer["id"], "matched_by": "email"}


def test_a_requested_return_is_open_and_a_vip_with_one_is_ahead(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    vip = create_customer(client, tags=["vip"])
    for who in (customer, vip):
        create_return(client, create_order(client, clock.now, who["id"]))

    decision = evaluate(client, {"customer_id": customer["id"]})
    assert (decision["queue"], decision["priority"], decision["rule"]) == (
        "returns",
        "normal",
        "open-return",
    )
    assert decision["actions"] == ["share-return-status"]
    # requested: the refund is pending, but the goods are not back, so nobody is late yet
    assert "refund.pending_days" not in decision["facts"]

    decision = evaluate(client, {"customer_id": vip["id"]})
    assert (decision["queue"], decision["priority"], decision["rule"]) == (
        "returns",
        "high",
        "vip-open-return",
    )


def test_an_issued_refund_is_not_pending(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    ret = received_return(client, clock, customer["id"])
    for step in ("process", "close"):
        assert client.post(f"/api/v1/returns/{ret['id']}/{step}").status_code == 200
    assert client.post(f"/api/v1/returns/{ret['id']}/refund").status_code == 200
    clock.advance(days=40)

    decision = evaluate(client, {"customer_id": customer["id"]})

    assert (decision["queue"], decision["priority"], decision["rule"]) == (
        "general",
        "normal",
        "default",
    )
    assert decision["facts"]["returns.latest_refund_state"] == "issued"


def test_vip_without_returns_gets_high_priority(client: TestClient) -> None:
    customer = create_customer(client, tags=["VIP"])

    decision = evaluate(client, {"phone": customer["phones"][0]["number"]}, "voice")

    assert (decision["queue"], decision["priority"], decision["rule"]) == ("general", "high", "vip")
    assert decision["tags"] == ["vip"]
    assert decision["customer"] == {"id": customer["id"], "matched_by": "phone"}


def test_a_recent_delivery_suggests_a_return_link(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    create_order(client, clock.now, customer["id"], delivered_days_ago=3)

    decision = evaluate(client, {"customer_id": customer["id"]})

    assert (decision["queue"], decision["rule"]) == ("general", "recent-delivery")
    assert decision["actions"] == ["offer-return-link"]


@sqlite_only
def test_nobody_still_gets_an_answer(client: TestClient) -> None:
    for identifiers in (
        {"customer_id": "cus_nobody"},
        {"email": "stranger@example.com"},
        {"phone": "anonymous"},  # a withheld caller id identifies nobody; it is not an error
        {},
    ):
        decision = evaluate(client, identifiers, "sms")

        assert (decision["queue"], decision["priority"], decision["rule"]) == (
            "general",
            "normal",
            "default",
        ), identifiers
        assert decision["customer"] is None
        assert decision["facts"]["customer.known"] is False
        assert decision["reason"] == "none of the 5 rules matched; the default route applies"


def test_identifiers_are_tried_in_order_and_a_shared_phone_identifies_nobody(
    client: TestClient,
) -> None:
    vip = create_customer(client, tags=["vip"])
    other = create_customer(client, phones=vip["phones"])

    decision = evaluate(client, {"customer_id": "cus_gone", "email": vip["emails"][0]})
    assert decision["customer"] == {"id": vip["id"], "matched_by": "email"}
    decision = evaluate(client, {"customer_id": other["id"], "email": vip["emails"][0]})
    assert decision["customer"] == {"id": other["id"], "matched_by": "customer_id"}
    # the household phone belongs to both: nobody is identified, so no VIP priority
    decision = evaluate(client, {"phone": vip["phones"][0]["number"]})
    assert decision["customer"] is None
    assert decision["priority"] == "normal"


@sqlite_only
def test_channel_names_are_case_insensitive(client: TestClient) -> None:
    assert evaluate(client, {}, "WhatsApp")["facts"]["contact.channel"] == "whatsapp"


BAD_BODIES: list[tuple[dict[str, Any], str, str]] = [
    ({"contact": {"channel": "fax"}}, "contact.channel", "enum"),
    ({"contact": {}}, "contact.channel", "missing"),
    ({}, "contact", "missing"),
    (
        {"contact": {"channel": "sms"}, "customer": {"id": "cus_1"}},
        "customer.id",
        "extra_forbidden",
    ),
    (
        # Refused for every API body before the route sees it (api/request_guard.py).
        {"contact": {"channel": "sms"}, "customer": {"email": "a\x00b"}},
        "customer.email",
        "invalid_text",
    ),
]


@sqlite_only
def test_bad_input_is_422_naming_the_field(client: TestClient) -> None:
    for body, field, code in BAD_BODIES:
        response = client.post(EVALUATE, json=body)
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)]


@sqlite_only
def test_a_bad_channel_says_which_are_allowed(client: TestClient) -> None:
    response = client.post(EVALUATE, json={"contact": {"channel": "fax"}})
    assert response.json()["errors"][0]["message"] == (
        "Input should be 'voice', 'email', 'chat', 'sms', 'facebook', 'instagram' or 'whatsapp'"
    )


@sqlite_only
def test_without_a_key_is_401(client: TestClient) -> None:
    response = client.post(
        EVALUATE, json={"contact": {"channel": "sms"}}, headers={"Authorization": ""}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"


@sqlite_only
def test_help_desks_and_agents_may_ask(client: TestClient, db: Database) -> None:
    for scope, status in (("helpdesk", 200), ("agent", 200), ("warehouse", 403)):
        with db.write() as session:
            _, raw = create_key(session, [scope])
        response = client.post(
            EVALUATE,
            json={"contact": {"channel": "sms"}},
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert response.status_code == status, (scope, response.text)


# ---- a merchant's own rules file ----------------------------------------------------------------

OWN_RULES = """
rules:
  - name: instagram
    when: {attr: contact.channel, op: eq, value: instagram}
    then: {queue: social, priority: low}
default: {queue: %s}
"""


@pytest.fixture
def own_rules(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(OWN_RULES % "everyone")
    return path


@pytest.fixture
def own_client(
    settings: Settings, db: Database, clock: Clock, own_rules: Path
) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"routing_rules_file": str(own_rules)})
    app = create_app(configured, db, clock)
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


@sqlite_only
def test_the_configured_file_decides(own_client: TestClient) -> None:
    decision = evaluate(own_client, {}, "instagram")
    assert (decision["queue"], decision["priority"], decision["rule"]) == (
        "social",
        "low",
        "instagram",
    )
    assert decision["trace"][0]["line"] == 4
    assert evaluate(own_client, {}, "email")["queue"] == "everyone"


@sqlite_only
def test_edits_are_picked_up_and_a_broken_edit_keeps_the_last_good_rules(
    own_client: TestClient, own_rules: Path
) -> None:
    assert evaluate(own_client, {}, "email")["queue"] == "everyone"

    own_rules.write_text(OWN_RULES % "general-support")
    _touch_later(own_rules, 1)
    assert evaluate(own_client, {}, "email")["queue"] == "general-support"

    own_rules.write_text(OWN_RULES.replace("op: eq", "op: gt") % "broken")
    _touch_later(own_rules, 2)
    assert evaluate(own_client, {}, "email")["queue"] == "general-support"


@sqlite_only
def test_a_rules_file_that_never_loaded_answers_503(
    own_client: TestClient, own_rules: Path
) -> None:
    own_rules.write_text("rules: [\n")
    response = own_client.post(EVALUATE, json={"contact": {"channel": "sms"}})
    assert response.status_code == 503
    message = response.json()["errors"][0]["message"]
    assert message.startswith(f"the routing rules file {own_rules} does not load")
    assert f"returnhub rules check {own_rules}" in message


def _touch_later(path: Path, seconds: int) -> None:
    # Same-size rewrites within one mtime tick would look unchanged; move mtime on explicitly.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_settings_refuse_a_rules_file_that_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules: []\n")
    with pytest.raises(ValueError, match="missing default"):
        Settings(routing_rules_file=str(path))
    with pytest.raises(ValueError, match="cannot read"):
        Settings(routing_rules_file=str(tmp_path / "absent.yaml"))


# ---- the Gladly lookup's routing attributes ------------------------------------------------------


def test_gladly_attributes(
    client: TestClient, clock: Clock, db: Database, settings: Settings
) -> None:
    customer = create_customer(client)
    received_return(client, clock, customer["id"])
    clock.advance(days=9)
    with db.read() as session:
        row = session.query(Customer).filter_by(public_id=customer["id"]).one()
        snapshot = routing.customer_snapshot(session, row.id, row.tags)
        attributes = routing.gladly_attributes(settings, snapshot, clock.now)
    assert attributes == {"routingQueue": "returns-senior", "routingPriority": "high"}
