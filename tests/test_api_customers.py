from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import create_customer, customer_body


def test_create_customer_normalises_contacts(client: TestClient) -> None:
    response = client.post(
        "/api/v1/customers",
        json={
            "name": "Ana Ruiz",
            "emails": ["  Ana.Ruiz@Example.COM "],
            "phones": [{"number": "(415) 555-0142", "type": "HOME"}],
            "tags": ["VIP", "vip"],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("cus_")
    assert body["emails"] == ["ana.ruiz@example.com"]
    assert body["phones"] == [{"number": "+14155550142", "type": "HOME"}]
    assert body["tags"] == ["vip"]
    assert client.get(f"/api/v1/customers/{body['id']}").json() == body


def test_bad_email_and_phone_name_the_fields(client: TestClient) -> None:
    response = client.post(
        "/api/v1/customers",
        json={
            "name": "X",
            "emails": ["ok@example.com", "not-an-email"],
            "phones": [{"number": "12"}],
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("emails.1", "invalid_email"),
        ("phones.0.number", "invalid_phone"),
    ]
    assert "+14155550123" in errors[1]["message"]


def test_phone_type_must_be_known(client: TestClient) -> None:
    response = client.post(
        "/api/v1/customers", json=customer_body(phones=[{"number": "+14155550100", "type": "FAX"}])
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "phones.0.type"


def test_email_belongs_to_one_customer(client: TestClient) -> None:
    first = create_customer(client, emails=["dup@example.com"])
    response = client.post("/api/v1/customers", json=customer_body(emails=["DUP@example.com"]))
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "email_taken"
    assert error["customer_id"] == first["id"]


def test_search_by_email_phone_and_name(client: TestClient) -> None:
    ana = create_customer(
        client, name="Ana Ruiz", emails=["ana@example.com"], phones=[{"number": "+14155550101"}]
    )
    create_customer(client, name="Ben Ruiz", emails=["ben@example.com"], phones=[])

    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert ids(email="ANA@example.com") == [ana["id"]]
    assert ids(phone="415-555-0101") == [ana["id"]]
    assert len(ids(name="ruiz")) == 2
    assert ids(name="ana r") == [ana["id"]]
    assert ids(name="100%") == []
    assert ids(email="nobody@example.com") == []


def test_search_needs_a_term(client: TestClient) -> None:
    response = client.get("/api/v1/customers")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing_query"


def test_update_replaces_given_fields_only(client: TestClient) -> None:
    customer = create_customer(client, name="Old Name", tags=["vip"])
    response = client.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"name": "New Name", "emails": ["new@example.com", "second@example.com"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "New Name"
    assert body["emails"] == ["new@example.com", "second@example.com"]
    assert body["tags"] == ["vip"]
    assert body["phones"] == customer["phones"]


def test_update_keeps_own_email(client: TestClient) -> None:
    customer = create_customer(client, emails=["keep@example.com"])
    response = client.patch(
        f"/api/v1/customers/{customer['id']}", json={"emails": ["keep@example.com"]}
    )
    assert response.status_code == 200


def test_update_refuses_other_customers_email(client: TestClient) -> None:
    create_customer(client, emails=["taken@example.com"])
    other = create_customer(client)
    response = client.patch(
        f"/api/v1/customers/{other['id']}", json={"emails": ["taken@example.com"]}
    )
    assert response.status_code == 409
    assert client.get(f"/api/v1/customers/{other['id']}").json()["emails"] == other["emails"]


def test_empty_update_is_refused(client: TestClient) -> None:
    customer = create_customer(client)
    response = client.patch(f"/api/v1/customers/{customer['id']}", json={})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "empty_update"


def test_unknown_customer_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/customers/cus_doesnotexist0000")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "customer_id"


def test_customer_needs_some_identity(client: TestClient) -> None:
    response = client.post("/api/v1/customers", json={})
    assert response.status_code == 422
    assert "at least a name" in response.json()["errors"][0]["message"]
