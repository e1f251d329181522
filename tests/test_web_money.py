"""Amounts on the agent and portal pages, in each currency's own minor unit."""

from __future__ import annotations

import pytest

from returnhub.web.common import money


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (12900, "USD", "129.00 USD"),
        (5, "EUR", "0.05 EUR"),
        (-1250, "GBP", "-12.50 GBP"),
        (12900, "JPY", "12900 JPY"),
        (-300, "KRW", "-300 KRW"),
        (12345, "KWD", "12.345 KWD"),
        (7, "BHD", "0.007 BHD"),
        (None, "USD", "0.00 USD"),
        (990, "", "9.90"),
    ],
)
def test_amounts_use_the_currencys_minor_unit(minor: int | None, currency: str, shown: str) -> None:
    assert money(minor, currency) == shown
