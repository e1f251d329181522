"""Reconciliation: received vs expected per SKU, decided by the merchant's criteria."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from returnhub.domain.reconciliation import (
    Criteria,
    CriteriaError,
    ExpectedLine,
    Kind,
    Outcome,
    ReceivedLine,
    reconcile,
)
from returnhub.services.warehouse import DEFAULT_CRITERIA

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
CRITERIA = Criteria.from_mapping(yaml.safe_load(DEFAULT_CRITERIA.read_text()))
JACKET = ExpectedLine("JKT", 2, 12900)
TEE = ExpectedLine("TEE", 1, 2500)


def decide(
    received: list[ReceivedLine],
    criteria: Criteria = CRITERIA,
    *,
    complete: bool = True,
    now: datetime = NOW,
) -> tuple[Outcome, list[tuple[Kind, str, int, int]], str, int]:
    d = reconcile(
        [JACKET, TEE],
        received,
        criteria,
        complete=complete,
        first_received_at=NOW,
        now=now,
        ra_number="RMA-1",
        currency="USD",
    )
    return (
        d.outcome,
        [(x.kind, x.sku, x.units, x.value_at_risk) for x in d.discrepancies],
        d.note,
        d.value_at_risk,
    )


def test_the_shipped_criteria_file_loads() -> None:
    assert CRITERIA.accepted_conditions == frozenset(
        {"good", "new", "unopened", "non_standard_container"}
    )
    assert CRITERIA.condition("01") == "damaged"
    assert CRITERIA.condition("") == "good"
    assert CRITERIA.partial_wait_days == 3


def test_everything_arrived_in_good_condition_is_processed() -> None:
    outcome, found, note, risk = decide(
        [ReceivedLine("JKT", 2, "good"), ReceivedLine("TEE", 1, "new")]
    )
    assert (outcome, found, risk) == (Outcome.PROCESS, [], 0)
    assert note == "RA RMA-1: processed: every expected item arrived in an accepted condition."


def test_short_is_flagged_with_the_value_at_risk() -> None:
    outcome, found, note, risk = decide(
        [ReceivedLine("JKT", 1, "good"), ReceivedLine("TEE", 1, "good")]
    )
    assert outcome is Outcome.FLAG
    assert found == [(Kind.SHORT, "JKT", 1, 12900)]
    assert note == (
        "RA RMA-1: flagged: JKT: short by 1, expected 2, got 1. Value at risk: 129.00 USD."
    )
    assert risk == 12900


def test_missing_sku() -> None:
    outcome, found, _, _ = decide([ReceivedLine("JKT", 2, "good")])
    assert (outcome, found) == (Outcome.FLAG, [(Kind.MISSING, "TEE", 1, 2500)])


def test_over_and_unexpected_sku() -> None:
    outcome, found, note, _ = decide(
        [
            ReceivedLine("JKT", 3, "good"),
            ReceivedLine("TEE", 1, "good"),
            ReceivedLine("HAT", 1, "good"),
        ]
    )
    assert outcome is Outcome.FLAG
    assert found == [(Kind.OVER, "JKT", 1, 0), (Kind.UNEXPECTED_SKU, "HAT", 1, 0)]
    assert "JKT: over by 1, expected 2, got 3; HAT: not on the RA, 1 received" in note


def test_damaged_units_are_not_accepted() -> None:
    received = [
        ReceivedLine("JKT", 1, "good"),
        ReceivedLine("JKT", 1, CRITERIA.condition("01")),
        ReceivedLine("TEE", 1, "good"),
    ]
    outcome, found, note, risk = decide(received)
    assert outcome is Outcome.FLAG
    assert found == [(Kind.CONDITION_NOT_ACCEPTED, "JKT", 1, 12900)]
    assert "JKT: 1 damaged, condition not accepted" in note
    assert risk == 12900


def test_tolerance_notes_without_flagging() -> None:
    lenient = Criteria.from_mapping({"tolerances": {"short": 1, "over": 1}})
    outcome, found, note, _ = decide(
        [ReceivedLine("JKT", 1, "good"), ReceivedLine("TEE", 2, "good")], lenient
    )
    assert outcome is Outcome.PROCESS
    assert [k for k, *_ in found] == [Kind.SHORT, Kind.OVER]
    assert note.startswith("RA RMA-1: processed: JKT: short by 1")
    assert "(within criteria)" in note


def test_a_kind_left_out_of_flag_on_is_noted_only() -> None:
    criteria = Criteria.from_mapping({"flag_on": ["missing", "short"]})
    outcome, _, _, _ = decide(
        [
            ReceivedLine("JKT", 2, "good"),
            ReceivedLine("TEE", 1, "good"),
            ReceivedLine("HAT", 1, "good"),
        ],
        criteria,
    )
    assert outcome is Outcome.PROCESS


def test_a_partial_receipt_waits_then_flags_after_n_days() -> None:
    partial = [ReceivedLine("JKT", 2, "good")]
    d = reconcile([JACKET, TEE], partial, CRITERIA, complete=False, first_received_at=NOW, now=NOW)
    assert (d.outcome, d.wait_until) == (Outcome.WAIT, NOW + timedelta(days=3))
    later = NOW + timedelta(days=3)
    d = reconcile(
        [JACKET, TEE], partial, CRITERIA, complete=False, first_received_at=NOW, now=later
    )
    assert d.outcome is Outcome.FLAG
    assert "partial receipt, the rest did not arrive within 3 days" in d.note


def test_a_partial_receipt_with_everything_in_is_processed_at_once() -> None:
    outcome, *_ = decide(
        [ReceivedLine("JKT", 2, "good"), ReceivedLine("TEE", 1, "good")], complete=False
    )
    assert outcome is Outcome.PROCESS


def test_bad_criteria_are_refused_when_loaded_with_every_problem() -> None:
    with pytest.raises(CriteriaError) as caught:
        Criteria.from_mapping(
            {"flag_on": ["late"], "tolerances": {"short": -1}, "colour": 1}, "c.yaml"
        )
    message = str(caught.value)
    assert "c.yaml: unknown key 'colour'" in message
    assert "flag_on 'late' is not one of" in message
    assert "tolerances.short must be a whole number" in message


def test_a_criteria_file_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("accepted_conditions: [good, damaged]\n")
    criteria = Criteria.from_mapping(yaml.safe_load(path.read_text()))
    outcome, *_ = decide(
        [ReceivedLine("JKT", 2, "damaged"), ReceivedLine("TEE", 1, "good")], criteria
    )
    assert outcome is Outcome.PROCESS


quantities = st.integers(0, 5)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["JKT", "TEE", "HAT"]), quantities, st.sampled_from(["good", "damaged"])
        ),
        max_size=8,
    )
)
def test_processed_exactly_when_received_equals_expected_in_good_condition(
    lines: list[tuple[str, int, str]],
) -> None:
    received = [ReceivedLine(sku, q, c) for sku, q, c in lines]
    outcome, found, note, _ = decide(received)
    totals = {"JKT": 0, "TEE": 0, "HAT": 0}
    for sku, q, _c in lines:
        totals[sku] += q
    perfect = totals == {"JKT": 2, "TEE": 1, "HAT": 0} and all(
        c == "good" for _s, q, c in lines if q
    )
    assert (outcome is Outcome.PROCESS) == perfect
    assert (found == []) == perfect
    # Every discrepancy is in the note, so a person sees why.
    for _kind, sku, _units, _risk in found:
        assert sku in note
