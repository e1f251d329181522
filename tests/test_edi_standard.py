"""What we write and what we accept, checked against an independent implementation of X12
4010 (the Bots grammars, see tests/x12_validator.py), not only against our own reading."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from returnhub.connectors.edi import ack997, asn943, receipt944
from returnhub.connectors.edi.x12 import Party, X12Error, envelope
from tests.test_edi import INVALID_944, RECEIPT, sample_asn
from tests.test_warehouse import receipt_944
from tests.x12_validator import x12_problems

FIXTURES = Path(__file__).parent / "fixtures" / "edi"
README = Path(__file__).parent.parent / "README.md"
WHEN = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
US = Party("ZZ", "RETURNHUB")
THEM = Party("ZZ", "WAREHOUSE3PL")


def ack_for(document: str) -> str:
    """The 997 we write for ``document``, through the same reading as the import."""
    errors: list[X12Error] = []
    notes: list[X12Error] = []
    try:
        _, receipts = receipt944.read(document)
        notes = [note for r in receipts for note in r.notes]
    except X12Error as exc:
        errors = [exc]
    env = envelope(document)
    assert env is not None
    groups = ack997.plan(env, errors, notes)
    return ack997.build(groups=groups, sender=US, receiver=THEM, control_number=7, when=WHEN)


def test_the_validator_is_not_a_rubber_stamp() -> None:
    # The 943 layout we sent before (the tracking N9 after W27) and a miscounted 944.
    old_943 = (FIXTURES / "asn_943.edi").read_text()
    old_943 = old_943.replace(
        "N9*CN*1Z999AA10123456784~\nG62*10*20300115~\nW27*U*UPS~\n",
        "G62*10*20300115~\nW27*U*UPS~\nN9*CN*1Z999AA10123456784~\n",
    )
    assert any('record:"N9"' in p for p in x12_problems(old_943))
    assert any("Count in SE-SE01 is 9" in p for p in x12_problems(RECEIPT.replace("SE*8", "SE*9")))


@pytest.mark.parametrize("name", ["asn_943.edi", "ack_997.edi", "receipt_944.edi"])
def test_the_fixtures_are_valid_4010(name: str) -> None:
    assert x12_problems((FIXTURES / name).read_text()) == []


text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@settings(max_examples=60, deadline=None)
@given(
    name=text,
    carrier=text,
    tracking=text,
    lines=st.lists(
        st.tuples(st.from_regex(r"[A-Z0-9-]{1,48}", fullmatch=True), st.integers(1, 999), text),
        min_size=1,
        max_size=5,
    ),
)
def test_every_943_we_write_is_valid_4010(
    name: str, carrier: str, tracking: str, lines: list[tuple[str, int, str]]
) -> None:
    asn = asn943.Asn(
        "RMA-7K3QX9A2",
        "RMA-7K3QX9A2",
        name,
        carrier,
        tracking,
        [asn943.AsnLine(sku, quantity, title) for sku, quantity, title in lines],
    )
    document = asn943.build(asn, sender=US, receiver=THEM, control_number=42, when=WHEN)
    assert x12_problems(document) == []


def test_the_943_of_the_golden_file_is_valid() -> None:
    document = asn943.build(sample_asn(), sender=US, receiver=THEM, control_number=42, when=WHEN)
    assert x12_problems(document) == []


def _readme_944() -> str:
    """The 944 the README tells a new user to drop in the inbound folder."""
    found = re.search(r"<<EDI\n(.*?)\nEDI\n", README.read_text(), re.S)
    assert found is not None
    return found.group(1).replace("$RA", "RMA-7K3QX9A2").replace("$SKU", "JKT-RAIN-NVY-M") + "\n"


ACCEPTED_944 = {
    "fixture": RECEIPT,
    "readme": _readme_944(),
    "plain": receipt_944("RMA-7K3QX9A2"),
    "damaged": receipt_944("RMA-7K3QX9A2", damaged=1),
    "partial": receipt_944("RMA-7K3QX9A2", jackets=1, reporting="P"),
    "short": receipt_944("RMA-7K3QX9A2", jackets=1, w13=["W13*1*EA*02"]),
    "over": receipt_944("RMA-7K3QX9A2", jackets=3, w13=["W13*1*EA*03"]),
    "good": receipt_944("RMA-7K3QX9A2", w13=["W13*2*EA*07"]),
}


@pytest.mark.parametrize("name", ACCEPTED_944)
def test_the_944_samples_we_accept_are_valid_4010(name: str) -> None:
    document = ACCEPTED_944[name]
    _, [receipt] = receipt944.read(document)
    assert receipt.notes == ()
    assert x12_problems(document) == []
    assert "AK5*A~" in ack_for(document)


def test_a_944_we_accept_with_errors_is_one_bots_refuses_too() -> None:
    # No N1 loop: 4010 makes it mandatory; we read the receipt and say so in the 997 (E).
    document = RECEIPT.replace("N1*WH*Returns DC~\n", "").replace("SE*8*", "SE*7*")
    assert any('"ST-N1" occurs 0 times' in p for p in x12_problems(document))
    ack = ack_for(document)
    assert "AK3*N1*3**3~\nAK5*E*5~\nAK9*E*1*1*1~" in ack
    assert x12_problems(ack) == []


# Every refusal whose envelope can be read (only "GS*RE*X~", with no ISA, cannot).
ANSWERABLE = [case for case in INVALID_944 if envelope(case[0]) is not None]


def test_every_refusal_but_one_without_an_isa_is_answerable() -> None:
    assert [case[3] for case in INVALID_944 if case not in ANSWERABLE] == ["must start with an ISA"]


@pytest.mark.parametrize(
    ("document", "position", "segment", "words"), ANSWERABLE, ids=[c[3] for c in ANSWERABLE]
)
def test_every_997_rejecting_a_944_is_valid_4010(
    document: str, position: int, segment: str, words: str
) -> None:
    ack = ack_for(document)
    assert "AK5*R" in ack and "AK9*R*1*1*0" in ack
    assert x12_problems(ack) == []


def test_the_997_we_write_for_every_kind_of_answer_is_valid_4010() -> None:
    accepted = ack_for(RECEIPT)
    assert x12_problems(accepted) == []
    assert x12_problems((FIXTURES / "ack_997.edi").read_text()) == []
