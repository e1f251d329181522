"""The self-service guide end to end: conversations over chat, email and SMS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from returnhub.api.app import create_app
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order


@pytest.fixture
def mail(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    """An app whose email channel is authenticated upstream (the sender address identifies)."""
    trusted = settings.model_copy(update={"guide_trust_email_sender": True})
    app = create_app(trusted, Database(db.engine, trusted), clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


def start(client: TestClient, channel: str = "chat", **who: str) -> str:
    response = client.post("/api/v1/conversations", json={"channel": channel, **who})
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    assert conversation_id.startswith("cnv_")
    return conversation_id


def say(client: TestClient, conversation_id: str, text: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/conversations/{conversation_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def returned_with_label(client: TestClient, order: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/api/v1/returns",
        json={
            "order_id": order["id"],
            "items": [
                {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
            ],
            "label": {"carrier": "UPS", "tracking_number": "1ZRETURN0001", "status": "in_transit"},
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_identified_by_email_gets_status_with_tracking(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    ret = returned_with_label(client, order)
    cid = start(client, "chat", email=customer["emails"][0].upper())
    reply = say(client, cid, "where's my return??")
    assert reply["intent"] == "return_status"
    assert ret["number"] in reply["text"]
    assert "1ZRETURN0001" in reply["text"] and "UPS" in reply["text"]
    assert reply["handoff"] is None


def test_several_open_returns_are_listed(mail: TestClient, clock: Clock) -> None:
    client = mail
    customer = create_customer(client)
    first = returned_with_label(client, create_order(client, clock.now, customer["id"]))
    second = returned_with_label(client, create_order(client, clock.now, customer["id"]))
    cid = start(client, "email", email=customer["emails"][0])
    reply = say(client, cid, "Hi,\n\nany update on my returns?\n\nThanks,\nMaya")
    assert "2 open returns" in reply["text"]
    assert first["number"] in reply["text"] and second["number"] in reply["text"]


def test_unknown_customer_is_asked_for_email_or_order(client: TestClient) -> None:
    cid = start(client, "chat")
    reply = say(client, cid, "where is my return")
    assert reply["intent"] == "return_status"
    assert "email" in reply["text"] and "ZIP" in reply["text"]


def test_order_and_zip_verify_and_wrong_zip_answers_like_unknown_order(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    ret = returned_with_label(client, order)

    wrong_zip = start(client, "chat")
    say(client, wrong_zip, "where is my return")
    bad = say(client, wrong_zip, f"order {order['name']} zip 10001")
    unknown = start(client, "chat")
    say(client, unknown, "where is my return")
    nobody = say(client, unknown, "order #999999 zip 94107")
    assert bad["text"] == nobody["text"]
    assert ret["number"] not in bad["text"]

    good = start(client, "chat")
    say(client, good, "where is my return")
    reply = say(client, good, f"{order['name']} 94107")
    assert reply["intent"] == "return_status"
    assert ret["number"] in reply["text"]
    transcript = client.get(f"/api/v1/conversations/{good}").json()
    assert transcript["customer_id"] == customer["id"]
    assert transcript["verified_by"] == "order_zip"


def test_another_customers_order_does_not_verify(client: TestClient, clock: Clock) -> None:
    mine = create_customer(client)
    theirs = create_order(client, clock.now, create_customer(client)["id"])
    returned_with_label(client, theirs)
    cid = start(client, "chat")
    say(client, cid, "where is my return")
    claim = say(client, cid, mine["emails"][0])
    assert "ZIP" in claim["text"]
    reply = say(client, cid, "zip 94107")  # the ZIP of someone else's order, not of mine
    assert "couldn't verify" in reply["text"]


def test_refund_expected_date_from_receipt(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    ret = returned_with_label(client, order)
    for action in ("authorize", "receive"):
        r = client.post(f"/api/v1/returns/{ret['id']}/{action}")
        assert r.status_code == 200, r.text
    cid = start(client, "sms", phone=customer["phones"][0]["number"])
    reply = say(client, cid, "when do i get my money back")
    assert reply["intent"] == "refund_status"
    expected = clock.now + timedelta(days=5)
    assert "$129.00" in reply["text"]
    assert f"{expected:%b %d, %Y}" in reply["text"]
    assert len(reply["text"]) <= 320


def test_start_return_asks_which_order_then_sends_link(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    create_order(client, clock.now, customer["id"])
    second = create_order(client, clock.now, customer["id"])
    cid = start(client, "chat", email=customer["emails"][0])
    ask = say(client, cid, "I want to return something")
    assert ask["intent"] == "start_return"
    assert second["name"] in ask["quick_replies"]
    reply = say(client, cid, second["name"])
    assert reply["intent"] == "start_return"
    assert "/r/" in reply["text"] and second["name"] in reply["text"]
    assert reply["actions"][0]["type"] == "return_link_created"


def test_outside_window_vip_gets_exception_and_link(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client, tags=["vip"])
    order = create_order(client, clock.now, customer["id"], delivered_days_ago=100)
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "I missed the return window but I really need to return this jacket")
    assert reply["intent"] == "return_exception"
    assert [a["type"] for a in reply["actions"]] == ["allowlisted", "return_link_created"]
    assert "/r/" in reply["text"]
    entries = client.get("/api/v1/allowlist").json()["data"]
    assert any(e["value"] == order["name"] and e["created_by"] == "guide" for e in entries)
    # The second exception for the same customer is not the first any more: a person decides.
    other = create_order(client, clock.now, customer["id"], delivered_days_ago=100)
    again = say(client, cid, f"too late to return order {other['name']}, exception please?")
    assert again["handoff"] is not None


def test_outside_window_not_eligible_hands_off_with_queue(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    create_order(client, clock.now, customer["id"], delivered_days_ago=100)
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "is it too late to return the jacket?")
    assert reply["intent"] == "return_exception"
    assert reply["handoff"]["queue"]
    assert reply["handoff"]["priority"] in {"low", "normal", "high", "urgent"}
    assert "window closed" in reply["text"]


def test_human_hands_off_with_routing_decision(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client, tags=["vip"])
    returned_with_label(client, create_order(client, clock.now, customer["id"]))
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "can I speak to a real person please")
    assert reply["intent"] == "human"
    routed = client.post(
        "/api/v1/routing/evaluate",
        json={"contact": {"channel": "chat"}, "customer": {"customer_id": customer["id"]}},
    ).json()
    assert reply["handoff"]["queue"] == routed["queue"] == "returns"
    assert reply["handoff"]["priority"] == routed["priority"] == "high"


def test_unclear_twice_hands_off(client: TestClient) -> None:
    cid = start(client, "chat")
    first = say(client, cid, "hmm")
    assert first["intent"] == "unknown" and first["handoff"] is None
    assert first["quick_replies"]
    second = say(client, cid, "asdf qwerty")
    assert second["handoff"] is not None
    assert "twice" in second["handoff"]["reason"]


def test_sms_replies_are_short_and_transcript_records_why(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    cid = start(client, "sms", phone=customer["phones"][0]["number"])
    reply = say(client, cid, "need a return label for the jacket")
    assert reply["intent"] == "start_return"
    assert len(reply["text"]) <= 320 and "](" not in reply["text"]
    transcript = client.get(f"/api/v1/conversations/{cid}")
    assert transcript.status_code == 200
    messages = transcript.json()["messages"]
    assert [m["role"] for m in messages] == ["customer", "guide"]
    guide_turn = messages[1]
    assert guide_turn["intent"] == "start_return"
    assert guide_turn["facts"]["order"] == order["name"]
    steps = [s["step"] for s in guide_turn["trace"]]
    assert steps[0] == "classify" and "eligibility" in steps and "return_link" in steps


def test_unknown_conversation_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/conversations/cnv_nope").status_code == 404
    missing = client.post("/api/v1/conversations/cnv_nope/messages", json={"text": "hi"})
    assert missing.status_code == 404


def test_status_and_refund_in_one_message_are_both_answered(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    ret = returned_with_label(client, create_order(client, clock.now, customer["id"]))
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "what's the status on my return? also when do i get my refund")
    assert reply["intent"] == "refund_status"
    assert "1ZRETURN0001" in reply["text"] and "$129.00" in reply["text"]
    assert ret["number"] in reply["text"]


def test_after_a_handoff_the_guide_stays_quiet(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    returned_with_label(client, create_order(client, clock.now, customer["id"]))
    cid = start(client, "chat", email=customer["emails"][0])
    handed = say(client, cid, "I want to talk to a human")
    assert handed["handoff"] is not None
    later = say(client, cid, "where is my return??")
    assert later["handoff"] == handed["handoff"]
    assert "member of our team has your conversation" in later["text"]
    assert "tracking" not in later["text"].lower()


# ---- "which item?" ------------------------------------------------------------------------------


def _line(sku: str, title: str, variant: str, final_sale: bool = False) -> dict[str, Any]:
    return {
        "sku": sku,
        "title": title,
        "variant": variant,
        "quantity": 1,
        "unit_price": 4900,
        "final_sale": final_sale,
    }


THREE_LINES = [
    _line("JKT-RAIN-NVY-M", "Rain Jacket", "Navy / M"),
    _line("JNS-DNM-32", "Denim Jeans", "32 / 32"),
    _line("SCF-WOOL-GRY", "Wool Scarf", "Grey"),
    _line("TEE-BASIC-WHT-S", "Basic Tee", "White / S", final_sale=True),
]


def _three_line_order(client: TestClient, clock: Clock, channel: str = "chat") -> tuple[Any, str]:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"], lines=THREE_LINES)
    who = (
        {"phone": customer["phones"][0]["number"]}
        if channel == "sms"
        else {"email": customer["emails"][0]}
    )
    return order, start(client, channel, **who)


def _ids(order: dict[str, Any], *titles: str) -> list[str]:
    return [line["id"] for t in titles for line in order["lines"] if line["title"] == t]


def test_start_return_asks_which_item_and_takes_numbers(client: TestClient, clock: Clock) -> None:
    order, cid = _three_line_order(client, clock)
    ask = say(client, cid, "I want to return something")
    assert ask["intent"] == "start_return" and ask["handoff"] is None
    # The final-sale tee can't go back, so it is not offered.
    assert ask["quick_replies"] == [
        "Rain Jacket (Navy / M)",
        "Denim Jeans (32 / 32)",
        "Wool Scarf (Grey)",
        "All of them",
    ]
    assert "1. Rain Jacket" in ask["text"] and "Basic Tee" not in ask["text"]
    state = client.get(f"/api/v1/conversations/{cid}").json()["state"]
    assert state["awaiting"] == "item"
    reply = say(client, cid, "1 and 3")
    assert reply["intent"] == "start_return"
    link = reply["actions"][0]
    assert link["type"] == "return_link_created"
    assert link["items"] == _ids(order, "Rain Jacket", "Wool Scarf")
    assert link["url"].endswith("?items=" + ",".join(link["items"]))
    assert link["url"] in reply["text"]
    assert "Rain Jacket, Wool Scarf" in reply["text"]
    transcript = client.get(f"/api/v1/conversations/{cid}").json()
    assert "awaiting" not in transcript["state"]
    guide_turns = [m for m in transcript["messages"] if m["role"] == "guide"]
    steps = [[s["step"] for s in m["trace"]] for m in guide_turns]
    assert "ask_item" in steps[0] and "items_chosen" in steps[1]
    chosen = next(s for s in transcript["messages"][3]["trace"] if s["step"] == "items_chosen")
    assert chosen["how"] == ["number 1", "number 3"]
    # The portal opens with those lines pre-filled.
    page = client.get(link["url"].removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    for line_id in link["items"]:
        assert 'value="1"' in page.text.split(f'id="qty_{line_id}"', 1)[1].split(">", 1)[0]


def test_items_by_name_with_typos_all_and_except(client: TestClient, clock: Clock) -> None:
    order, cid = _three_line_order(client, clock)
    say(client, cid, "how do i send stuff back")
    by_name = say(client, cid, "the jaket and the scarff")
    assert by_name["actions"][0]["items"] == _ids(order, "Rain Jacket", "Wool Scarf")

    order, cid = _three_line_order(client, clock)
    say(client, cid, "I'd like to make a return")
    everything = say(client, cid, "all of them please")
    assert everything["actions"][0]["items"] == _ids(
        order, "Rain Jacket", "Denim Jeans", "Wool Scarf"
    )

    order, cid = _three_line_order(client, clock)
    say(client, cid, "I'd like to make a return")
    but = say(client, cid, "everything except the jeans")
    assert but["actions"][0]["items"] == _ids(order, "Rain Jacket", "Wool Scarf")


def test_both_picks_the_two_items_offered(mail: TestClient, clock: Clock) -> None:
    client = mail
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"], lines=THREE_LINES[:2])
    cid = start(client, "email", email=customer["emails"][0])
    ask = say(client, cid, "Hello,\n\nI need to return my order please.\n\nThanks,\nMaya")
    assert ask["quick_replies"][:2] == ["Rain Jacket (Navy / M)", "Denim Jeans (32 / 32)"]
    reply = say(client, cid, "both")
    assert reply["actions"][0]["items"] == _ids(order, "Rain Jacket", "Denim Jeans")
    assert "](" in reply["text"]  # email replies carry Markdown links


def test_an_item_that_cannot_go_back_is_explained(client: TestClient, clock: Clock) -> None:
    order, cid = _three_line_order(client, clock)
    say(client, cid, "I want to return something")
    mixed = say(client, cid, "the tee and the jeans")
    assert mixed["actions"][0]["items"] == _ids(order, "Denim Jeans")
    assert "Basic Tee can't be returned: the item was sold as final sale" in mixed["text"]
    facts = client.get(f"/api/v1/conversations/{cid}").json()["messages"][-1]["facts"]
    assert {f["item"]: f["eligible"] for f in facts["eligibility"]} == {
        "Basic Tee (White / S)": False,
        "Denim Jeans (32 / 32)": True,
    }

    _, cid = _three_line_order(client, clock)
    say(client, cid, "I want to return something")
    only_tee = say(client, cid, "the basic tee")
    assert only_tee["handoff"] is not None
    assert "Basic Tee can't be returned: the item was sold as final sale" in only_tee["text"]


def test_unknown_item_is_asked_again_once_then_handed_off(client: TestClient, clock: Clock) -> None:
    _, cid = _three_line_order(client, clock)
    say(client, cid, "I want to return something")
    again = say(client, cid, "the purple umbrella")
    assert again["handoff"] is None
    assert again["text"].startswith("Sorry, I couldn't tell which item you mean.")
    assert "All of them" in again["quick_replies"]
    assert say(client, cid, "7")["handoff"] is not None  # not one of the 3 offered
    transcript = client.get(f"/api/v1/conversations/{cid}").json()
    assert "which item" in transcript["messages"][-1]["handoff"]["reason"]
    assert transcript["state"]["handed_off"] is True


def test_sms_item_question_and_link_fit_in_one_message(client: TestClient, clock: Clock) -> None:
    order, cid = _three_line_order(client, clock, channel="sms")
    ask = say(client, cid, "wanna return stuff")
    assert len(ask["text"]) <= 320 and "1) Rain Jacket" in ask["text"]
    reply = say(client, cid, "2,3")
    link = reply["actions"][0]
    assert link["items"] == _ids(order, "Denim Jeans", "Wool Scarf")
    assert len(reply["text"]) <= 320 and "](" not in reply["text"]
    assert link["url"] in reply["text"]  # never cut short


def test_one_line_order_skips_the_item_question(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"], lines=THREE_LINES[:1])
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "I want to return my order")
    assert reply["actions"][0]["type"] == "return_link_created"
    assert order["name"] in reply["text"]
    steps = client.get(f"/api/v1/conversations/{cid}").json()["messages"][1]["trace"]
    assert "ask_item" not in [s["step"] for s in steps]


# ---- two requests in one message ----------------------------------------------------------------


def test_start_return_first_and_status_briefly(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    ret = returned_with_label(client, order)
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "where is my return? also I want to start a return for the jacket")
    assert reply["intent"] == "start_return"
    assert [a["type"] for a in reply["actions"]] == ["return_link_created", "shared_return_status"]
    link_part, status_part = reply["text"].split("\n\n")
    assert "/r/" in link_part and ret["number"] in status_part
    guide_turn = client.get(f"/api/v1/conversations/{cid}").json()["messages"][1]
    assert guide_turn["facts"]["also_intent"] == "return_status"
    assert {"step": "second_intent", "intent": "return_status", "answered": "brief"} in (
        guide_turn["trace"]
    )


def test_a_person_wins_and_the_handoff_names_the_other_question(
    client: TestClient, clock: Clock
) -> None:
    customer = create_customer(client)
    returned_with_label(client, create_order(client, clock.now, customer["id"]))
    cid = start(client, "chat", email=customer["emails"][0])
    reply = say(client, cid, "when do i get my refund? and can i speak to a person")
    assert reply["intent"] == "human"
    assert reply["handoff"]["reason"].startswith(
        "the customer asked for a person; they also asked about a refund"
    )
    assert "$" not in reply["text"]  # a person answers both, the guide says nothing over them


def test_a_flow_that_needs_its_own_turns_is_offered(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    ret = returned_with_label(client, create_order(client, clock.now, customer["id"]))
    for action in ("authorize", "receive"):
        assert client.post(f"/api/v1/returns/{ret['id']}/{action}").status_code == 200
    cid = start(client, "sms", phone=customer["phones"][0]["number"])
    reply = say(client, cid, "when will my refund come? also i want to return something else")
    assert reply["intent"] == "refund_status"
    assert "$129.00" in reply["text"] and len(reply["text"]) <= 320
    assert reply["quick_replies"][0] == "Start a return"
    assert 'Reply "start a return"' in reply["text"]
    # The offered reply starts that flow.
    follow = say(client, cid, reply["quick_replies"][0])
    assert follow["intent"] == "start_return"


def test_the_second_question_survives_verification(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"])
    ret = returned_with_label(client, order)
    cid = start(client, "chat")
    ask = say(client, cid, "refund status please, and I want to return the jacket too")
    assert "ZIP" in ask["text"]
    reply = say(client, cid, f"{order['name']} 94107")
    assert reply["intent"] == "start_return"
    assert "/r/" in reply["text"] and ret["number"] in reply["text"]
    assert [a["type"] for a in reply["actions"]] == [
        "return_link_created",
        "shared_refund_status",
    ]
