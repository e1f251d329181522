"""EDI X12: what we write is byte-for-byte the golden files; what we read tolerates any
separators and line endings; what we refuse names the segment position."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from returnhub.connectors.edi import ack997, asn943, receipt944
from returnhub.connectors.edi.x12 import Party, Separators, X12Error, envelope, parse, write

FIXTURES = Path(__file__).parent / "fixtures" / "edi"
WHEN = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
US = Party("ZZ", "RETURNHUB")
THEM = Party("ZZ", "WAREHOUSE3PL")
RECEIPT = (FIXTURES / "receipt_944.edi").read_text()


def sample_asn() -> asn943.Asn:
    return asn943.Asn(
        "RMA-7K3QX9A2",
        "RMA-7K3QX9A2",
        "Maya Lopez",
        "UPS",
        "1Z999AA10123456784",
        [
            asn943.AsnLine("JKT-RAIN-NVY-M", 2, "Rain Jacket"),
            asn943.AsnLine("TEE-BASIC-WHT-S", 1, "Basic Tee"),
        ],
    )


def test_943_matches_the_golden_file() -> None:
    text = asn943.build(sample_asn(), sender=US, receiver=THEM, control_number=42, when=WHEN)
    assert text == (FIXTURES / "asn_943.edi").read_text()
    assert len(text.split("~")[0]) + 1 == 106  # the ISA segment is fixed-width


def test_997_matches_the_golden_file() -> None:
    text = ack997.build(
        groups=[ack997.GroupAck("RE", "17", "A", (ack997.SetAck("944", "0001", "A"),))],
        sender=US,
        receiver=THEM,
        control_number=43,
        when=WHEN,
    )
    assert text == (FIXTURES / "ack_997.edi").read_text()


def test_what_we_write_we_read_back() -> None:
    text = asn943.build(sample_asn(), sender=US, receiver=THEM, control_number=42, when=WHEN)
    interchange = parse(text)
    assert interchange.sender_id == "RETURNHUB"
    assert interchange.control_number == "000000042"
    [group] = interchange.groups
    assert (group.functional_id, group.control_number) == ("AR", "42")
    [tx] = group.transactions
    assert (tx.code, tx.control_number, len(tx.segments)) == ("943", "0001", 13)


def test_data_containing_a_separator_is_cleaned() -> None:
    asn = asn943.Asn("RA-1", "RA-1", "A*B~C", "", "", [asn943.AsnLine("S>1", 1)])
    text = asn943.build(asn, sender=US, receiver=THEM, control_number=1, when=WHEN)
    assert "N1*SF*A B C~" in text
    assert "W04*1*EA**SK*S 1~" in text
    parse(text)


def test_944_is_read() -> None:
    _, [receipt] = receipt944.read(RECEIPT)
    assert receipt.ra_number == "RMA-7K3QX9A2"
    assert receipt.receipt_number == "WR-5521"
    assert receipt.complete is True
    assert receipt.items == (
        receipt944.ReceiptItem("JKT-RAIN-NVY-M", 2, (receipt944.ReceiptException(1, "01", "CC"),)),
        # No SK id: the VN id names the product before the UPC in W07-03.
        receipt944.ReceiptItem("TEE-BASIC-WHT-S", 1),
    )
    assert (receipt.sender_id, receipt.interchange_control) == ("WAREHOUSE3PL", "000000017")
    assert (receipt.group_control, receipt.transaction_control) == ("17", "0001")


def with_separators(text: str, element: str, component: str, segment: str, eol: str) -> str:
    out = text.replace("~\n", "\x00").replace("*", element).replace(">", component)
    return out.replace("\x00", segment + eol)


@pytest.mark.parametrize(
    ("element", "component", "segment", "eol"),
    [
        ("*", ">", "~", "\n"),
        ("*", ">", "~", "\r\n"),
        ("*", ">", "~", ""),
        ("|", "^", "~", "\r\n"),
        ("^", ":", "\n", ""),
        ("\x1d", "\x1f", "\x1e", ""),
    ],
)
def test_944_with_other_separators_and_line_endings(
    element: str, component: str, segment: str, eol: str
) -> None:
    text = with_separators(RECEIPT, element, component, segment, eol)
    _, [receipt] = receipt944.read(text)
    assert receipt.ra_number == "RMA-7K3QX9A2"
    assert [(i.sku, i.quantity) for i in receipt.items] == [
        ("JKT-RAIN-NVY-M", 2),
        ("TEE-BASIC-WHT-S", 1),
    ]


def test_a_partial_receipt_is_flagged_as_such() -> None:
    _, [receipt] = receipt944.read(RECEIPT.replace("W17*F*", "W17*P*"))
    assert receipt.complete is False


def _lines(text: str) -> list[str]:
    return text.strip().split("~\n")


def _join(lines: list[str]) -> str:
    return "~\n".join(lines) + "~\n"


def _replace(index: int, segment: str) -> str:
    lines = _lines(RECEIPT)
    lines[index] = segment
    return _join(lines)


INVALID_944 = [
    ("GS*RE*X~", 1, "ISA", "must start with an ISA"),
    (_replace(9, "SE*9*0001"), 10, "SE", "SE01 says 9 segments, the document has 8"),
    (_replace(9, "SE*8*0002"), 10, "SE", "does not match ST02"),
    (_replace(10, "GE*2*17"), 11, "GE", "GE01 says 2 transaction sets"),
    (_replace(11, "IEA*1*000000099"), 12, "IEA", "does not match ISA13"),
    (_replace(4, "ZZZ*1"), 5, "ZZZ", "unknown segment ZZZ in a 944"),
    (_replace(8, "W14*4"), 9, "W14", "W14-01 says 4 units received"),
    (_replace(4, "W07*x*EA**SK*A"), 5, "W07", "'x' is not a quantity"),
    (_replace(6, "W13*3*EA*01"), 6, "W07", "more than the W07 quantity 2"),
    (_replace(3, "W17*F*20300116*WR-5521*"), 4, "W17", "W17-04 (the RA number) is empty"),
    (_join(_lines(RECEIPT)[:-1]), 12, "", "missing IEA"),
    (_join([*_lines(RECEIPT)[:9], *_lines(RECEIPT)[10:]]), 10, "GE", "GE before the SE"),
    (_replace(4, "W07*1e30*EA**SK*A"), 5, "W07", "'1e30' is not a quantity"),
    (_replace(4, "W07*inf*EA**SK*A"), 5, "W07", "'inf' is not a quantity"),
    (_replace(4, "W07*nan*EA**SK*A"), 5, "W07", "'nan' is not a quantity"),
    (_replace(4, "W07*-1*EA**SK*A"), 5, "W07", "'-1' is not a quantity"),
    (_replace(4, "W07*1.5*EA**SK*A"), 5, "W07", "'1.5' is not a whole number"),
    (_replace(4, "W07*12345678*EA**SK*A"), 5, "W07", "W0701 is 8 characters, at most 7"),
    (_replace(6, "W13*1*EA*01**CCC"), 7, "W13", "W1305 is 3 characters, at most 2"),
]


@pytest.mark.parametrize(("document", "position", "segment", "words"), INVALID_944)
def test_invalid_944_is_refused_with_the_segment_position(
    document: str, position: int, segment: str, words: str
) -> None:
    with pytest.raises(X12Error) as caught:
        receipt944.read(document)
    assert caught.value.position == position
    assert caught.value.segment == segment
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"segment {position} ({segment}): ")


def test_a_943_is_not_a_receipt() -> None:
    text = asn943.build(sample_asn(), sender=US, receiver=THEM, control_number=1, when=WHEN)
    with pytest.raises(X12Error, match=r"segment 3 \(ST\): transaction set 943 is not a 944"):
        receipt944.read(text)


skus = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)


@given(
    items=st.lists(st.tuples(skus, st.integers(0, 500)), min_size=1, max_size=20),
    control=st.integers(1, 999_999_999),
    seps=st.sampled_from(
        [Separators(), Separators("|", "^", "\n"), Separators("\x1d", "\x1f", "\x1e")]
    ),
)
def test_any_944_we_can_write_reads_back(
    items: list[tuple[str, int]], control: int, seps: Separators
) -> None:
    body = [["W17", "F", "20300116", "WR-1", "RA-9"]]
    body += [["W07", str(q), "EA", "", "SK", sku] for sku, q in items]
    body.append(["W14", str(sum(q for _, q in items))])
    text = write(
        sender=THEM,
        receiver=US,
        control_number=control,
        functional_id="RE",
        when=WHEN,
        transactions=[("944", body)],
        separators=seps,
    )
    _, [receipt] = receipt944.read(text)
    assert [(i.sku, i.quantity) for i in receipt.items] == items
    assert int(receipt.interchange_control) == control


def _ack_body(document: str) -> list[str]:
    """The segments between ST and SE of the 997 we write for ``document``."""
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
    text = ack997.build(groups=groups, sender=US, receiver=THEM, control_number=1, when=WHEN)
    return text.split("ST*997*0001~\n")[1].split("~\nSE*")[0].split("~\n")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (RECEIPT, ["AK5*A", "AK9*A*1*1*1"]),
        # The set's own trailer: AK502 4 (count), 3 (control number), 2 (missing).
        (_replace(9, "SE*9*0001"), ["AK5*R*4", "AK9*R*1*1*0"]),
        (_replace(9, "SE*8*0002"), ["AK5*R*3", "AK9*R*1*1*0"]),
        (_join([*_lines(RECEIPT)[:9], *_lines(RECEIPT)[10:]]), ["AK5*R*2", "AK9*R*1*1*0"]),
        # The group's trailer: AK905 5 (count).
        (_replace(10, "GE*2*17"), ["AK5*R", "AK9*R*1*1*0*5"]),
        # A segment, and an element of it, at fault: positions counted from ST = 1.
        (_replace(4, "ZZZ*1"), ["AK3*ZZZ*3**6", "AK5*R*5", "AK9*R*1*1*0"]),
        (
            _replace(4, "W07*1e30*EA**SK*A"),
            ["AK3*W07*3**8", "AK4*1**6*1e30", "AK5*R*5", "AK9*R*1*1*0"],
        ),
        (_replace(8, "W14*4"), ["AK3*W14*7**8", "AK4*1**6*4", "AK5*R*5", "AK9*R*1*1*0"]),
        (
            _replace(3, "W17*F*20300116*WR-5521*"),
            ["AK3*W17*2**8", "AK4*4**1", "AK5*R*5", "AK9*R*1*1*0"],
        ),
        # Tolerated: accepted with errors, still saying where.
        (_replace(6, "W13*1*EA*01"), ["AK3*W13*5**8", "AK4*5**2", "AK5*E*5", "AK9*E*1*1*1"]),
    ],
)
def test_the_997_says_accepted_with_errors_or_rejected_and_where(
    document: str, expected: list[str]
) -> None:
    body = _ack_body(document)
    assert body[:2] == ["AK1*RE*17", "AK2*944*0001"]
    assert body[2:] == expected


def test_a_document_without_a_readable_isa_gets_no_997() -> None:
    assert envelope("GS*RE*X~") is None
    assert envelope(RECEIPT.replace("ISA*00", "ISA|00", 1)) is None


def test_997s_are_never_acknowledged() -> None:
    env = envelope((FIXTURES / "ack_997.edi").read_text())
    assert env is not None
    assert ack997.plan(env, []) == []


def test_the_997_plan_survives_the_job_payload() -> None:
    env = envelope(_replace(4, "W07*1e30*EA**SK*A"))
    assert env is not None
    try:
        receipt944.read(_replace(4, "W07*1e30*EA**SK*A"))
    except X12Error as exc:
        [group] = ack997.plan(env, [exc])
    assert ack997.GroupAck.from_dict(group.as_dict()) == group


@pytest.mark.parametrize(
    ("w13", "exceptions"),
    [
        # 02 short and 03 over: W13-01 counts units missing or extra, beyond the W07 quantity.
        ("W13*5*EA*02", (receipt944.ReceiptException(5, "02"),)),
        ("W13*1*EA*03", (receipt944.ReceiptException(1, "03"),)),
        ("W13*2*EA*07", (receipt944.ReceiptException(2, "07"),)),
    ],
)
def test_quantity_exceptions_are_not_units_of_the_w07(
    w13: str, exceptions: tuple[receipt944.ReceiptException, ...]
) -> None:
    _, [receipt] = receipt944.read(_replace(6, w13))
    assert receipt.items[0] == receipt944.ReceiptItem("JKT-RAIN-NVY-M", 2, exceptions)
