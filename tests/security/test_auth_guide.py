"""Finding 14: the guide's ZIP check cannot be guessed by starting conversation after
conversation, and the email channel's sender address is not an identity unless the help desk
authenticated it (RETURNHUB_GUIDE_TRUST_EMAIL_SENDER)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, create_return
from tests.security.auth_support import app_client


def start(api: TestClient, **body: str) -> str:
    response = api.post("/api/v1/conversations", json={"channel": "chat", **body})
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def guess(client: TestClient, client_id: str, order: str, zip_code: str) -> dict[str, Any]:
    """One guess in a brand-new conversation, as a guesser would do to dodge the per-conversation
    limit; the transcript of that conversation."""
    cid = start(client, client=client_id)
    said = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"text": f"where is my return? order {order} zip {zip_code}"},
    )
    assert said.status_code == 200, said.text
    transcript: dict[str, Any] = client.get(f"/api/v1/conversations/{cid}").json()
    return transcript


def test_wrong_zips_for_one_order_lock_it_across_conversations(
    client: TestClient, clock: Clock
) -> None:
    order = create_order(client, clock.now)
    # Six guessers (or one changing its client id) try six ZIPs: five are free, the sixth
    # blocks the order for a minute.
    for n in range(6):
        assert guess(client, f"guesser-{n}", order["name"], f"1000{n}")["customer_id"] is None
    locked = guess(client, "guesser-7", order["name"], "94107")  # the right ZIP, now refused
    assert locked["customer_id"] is None
    assert any(s.get("step") == "verify_throttled" for s in locked["messages"][-1]["trace"])
    clock.advance(minutes=1)  # the first block is a minute
    assert guess(client, "customer", order["name"], "94107")["customer_id"] == order["customer_id"]


def test_one_client_guessing_many_orders_is_locked(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    for n in range(11):  # ten are free, the eleventh blocks the client
        assert guess(client, "203.0.113.9", f"#99{n:02d}", "94107")["customer_id"] is None
    assert guess(client, "203.0.113.9", order["name"], "94107")["customer_id"] is None
    # Someone else is not held up by that client.
    assert guess(client, "198.51.100.7", order["name"], "94107")["customer_id"] is not None


def test_the_email_senders_address_is_only_a_claim_by_default(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with app_client(settings, db, clock) as untrusted:
        untrusted.headers.update(AUTH)
        customer = create_customer(untrusted)
        ret = create_return(untrusted, create_order(untrusted, clock.now, customer["id"]))
        started = untrusted.post(
            "/api/v1/conversations", json={"channel": "email", "email": customer["emails"][0]}
        ).json()
        assert started["customer_id"] is None
        ask = untrusted.post(
            f"/api/v1/conversations/{started['id']}/messages",
            json={"text": "Any news on my return?"},
        ).json()
        assert ret["number"] not in ask["text"] and "ZIP" in ask["text"]
        answer = untrusted.post(
            f"/api/v1/conversations/{started['id']}/messages", json={"text": "94107"}
        ).json()
        assert ret["number"] in answer["text"]
    with app_client(settings, db, clock, guide_trust_email_sender=True) as trusted:
        trusted.headers.update(AUTH)
        started = trusted.post(
            "/api/v1/conversations", json={"channel": "email", "email": customer["emails"][0]}
        ).json()
        assert started["customer_id"] == customer["id"]
