from __future__ import annotations

import pytest

from returnhub.domain.contact import normalize_email, normalize_phone
from returnhub.domain.errors import InvalidInput
from returnhub.domain.money import Money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Maya@Example.COM ", "maya@example.com"), ("a.b+tag@example.org", "a.b+tag@example.org")],
)
def test_emails_are_lowercased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@", "@example.com", "a b@example.com"])
def test_bad_emails(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email(raw, field="emails.0")
    assert caught.value.errors[0].field == "emails.0"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0142", "US", "+14155550142"),
        ("415.555.0142", "US", "+14155550142"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 20 7946 0018", "US", "+442079460018"),
    ],
)
def test_phones_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["12", "not a phone", "+1 555", ""])
def test_bad_phones(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_phone(raw)


def test_money() -> None:
    assert (Money(1050, "USD") + Money(50, "USD")).format() == "$11.00"
    assert (Money(1999, "EUR") * 3).amount == 5997
    assert Money(1500, "JPY").format() == "¥1,500"
    with pytest.raises(ValueError, match="cannot add"):
        Money(1, "USD") + Money(1, "EUR")
