"""Reconciling a warehouse receipt with its RA: pure, explainable, no I/O.

Per SKU, what arrived is compared with what the RA expected: missing (none arrived), short,
over, unexpected SKU, and units whose condition the merchant does not accept. Each discrepancy
says what and how much, and what it puts at risk (unit price times units missing or not accepted).
The merchant's ``Criteria`` say which kinds flag the return, the tolerances, and how long a
partial receipt may wait for the rest before it is flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    MISSING = "missing"
    SHORT = "short"
    OVER = "over"
    UNEXPECTED_SKU = "unexpected_sku"
    CONDITION_NOT_ACCEPTED = "condition_not_accepted"


class Outcome(StrEnum):
    PROCESS = "process"
    FLAG = "flag"
    WAIT = "wait"


class CriteriaError(ValueError):
    """The criteria file is wrong; the message lists every problem."""


@dataclass(frozen=True)
class Criteria:
    accepted_conditions: frozenset[str] = frozenset({"good"})
    # The condition of units received without an exception.
    default_condition: str = "good"
    # Warehouse condition codes (944 W13-03) → the merchant's condition names.
    condition_codes: Mapping[str, str] = field(default_factory=lambda: {"01": "damaged"})
    flag_on: frozenset[Kind] = frozenset(Kind)
    short_tolerance: int = 0
    over_tolerance: int = 0
    partial_wait_days: int = 3

    def condition(self, code: str) -> str:
        """The merchant's name for a condition code; unmapped codes keep their own name."""
        if not code:
            return self.default_condition
        return self.condition_codes.get(code, code)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "criteria") -> Criteria:
        problems: list[str] = []
        known = {
            "accepted_conditions",
            "default_condition",
            "condition_codes",
            "flag_on",
            "tolerances",
            "partial_receipt",
        }
        problems += [f"{source}: unknown key {k!r}" for k in data if k not in known]

        def _int(value: Any, where: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{source}: {where} must be a whole number ≥ 0, got {value!r}")
                return 0
            return value

        accepted = data.get("accepted_conditions", ["good"])
        if not isinstance(accepted, list) or not all(isinstance(a, str) for a in accepted):
            problems.append(f"{source}: accepted_conditions must be a list of names")
            accepted = []
        codes = data.get("condition_codes", {"01": "damaged"})
        if not isinstance(codes, dict):
            problems.append(f"{source}: condition_codes must map codes to names")
            codes = {}
        flag_on_raw = data.get("flag_on", [k.value for k in Kind])
        flag_on: set[Kind] = set()
        for name in flag_on_raw if isinstance(flag_on_raw, list) else []:
            try:
                flag_on.add(Kind(name))
            except ValueError:
                choices = ", ".join(k.value for k in Kind)
                problems.append(f"{source}: flag_on {name!r} is not one of {choices}")
        tolerances = data.get("tolerances") or {}
        partial = data.get("partial_receipt") or {}
        criteria = cls(
            accepted_conditions=frozenset(accepted),
            default_condition=str(data.get("default_condition", "good")),
            condition_codes={str(k): str(v) for k, v in codes.items()},
            flag_on=frozenset(flag_on),
            short_tolerance=_int(tolerances.get("short", 0), "tolerances.short"),
            over_tolerance=_int(tolerances.get("over", 0), "tolerances.over"),
            partial_wait_days=_int(partial.get("wait_days", 3), "partial_receipt.wait_days"),
        )
        if problems:
            raise CriteriaError("; ".join(problems))
        return criteria


@dataclass(frozen=True)
class ExpectedLine:
    sku: str
    quantity: int
    unit_price: int = 0  # minor units


@dataclass(frozen=True)
class ReceivedLine:
    sku: str
    quantity: int
    condition: str  # already the merchant's name (see Criteria.condition)
    reason: str = ""  # why, as the warehouse said it (e.g. a 944's W13-05 damage reason)


@dataclass(frozen=True)
class Discrepancy:
    kind: Kind
    sku: str
    expected: int
    received: int
    units: int
    value_at_risk: int
    flags: bool
    condition: str = ""
    reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind is Kind.MISSING:
            text = f"{self.sku}: missing, expected {self.expected}, none received"
        elif self.kind is Kind.SHORT:
            text = (
                f"{self.sku}: short by {self.units}, expected {self.expected}, got {self.received}"
            )
        elif self.kind is Kind.OVER:
            text = (
                f"{self.sku}: over by {self.units}, expected {self.expected}, got {self.received}"
            )
        elif self.kind is Kind.UNEXPECTED_SKU:
            text = f"{self.sku}: not on the RA, {self.received} received"
        else:
            why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
            text = f"{self.sku}: {self.units} {self.condition}{why}, condition not accepted"
        return text if self.flags else f"{text} (within criteria)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "sku": self.sku,
            "expected": self.expected,
            "received": self.received,
            "units": self.units,
            "condition": self.condition,
            "reasons": list(self.reasons),
            "value_at_risk": self.value_at_risk,
            "flags": self.flags,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    discrepancies: tuple[Discrepancy, ...]
    value_at_risk: int
    note: str
    wait_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "discrepancies": [d.as_dict() for d in self.discrepancies],
            "value_at_risk": self.value_at_risk,
            "note": self.note,
            "wait_until": self.wait_until.isoformat() if self.wait_until else None,
        }


def compare(
    expected: Iterable[ExpectedLine], received: Iterable[ReceivedLine], criteria: Criteria
) -> list[Discrepancy]:
    """Every discrepancy, SKU by SKU in RA order, unexpected SKUs last."""
    want: dict[str, int] = {}
    price: dict[str, int] = {}
    for line in expected:
        want[line.sku] = want.get(line.sku, 0) + line.quantity
        price.setdefault(line.sku, line.unit_price)
    got: dict[str, int] = {}
    bad: dict[tuple[str, str], int] = {}
    reasons: dict[tuple[str, str], dict[str, None]] = {}
    accepted = criteria.accepted_conditions
    for r in received:
        got[r.sku] = got.get(r.sku, 0) + r.quantity
        if r.condition not in accepted:
            bad[(r.sku, r.condition)] = bad.get((r.sku, r.condition), 0) + r.quantity
            if r.reason:
                reasons.setdefault((r.sku, r.condition), {})[r.reason] = None
    flag_on = criteria.flag_on
    out: list[Discrepancy] = []
    for sku, n in want.items():
        m = got.get(sku, 0)
        if m == 0 and n > 0:
            out.append(
                Discrepancy(Kind.MISSING, sku, n, 0, n, n * price[sku], Kind.MISSING in flag_on)
            )
        elif m < n:
            flags = Kind.SHORT in flag_on and n - m > criteria.short_tolerance
            out.append(Discrepancy(Kind.SHORT, sku, n, m, n - m, (n - m) * price[sku], flags))
        elif m > n:
            flags = Kind.OVER in flag_on and m - n > criteria.over_tolerance
            out.append(Discrepancy(Kind.OVER, sku, n, m, m - n, 0, flags))
    for sku, m in got.items():
        if sku not in want:
            flags = Kind.UNEXPECTED_SKU in flag_on
            out.append(Discrepancy(Kind.UNEXPECTED_SKU, sku, 0, m, m, 0, flags))
    for (sku, condition), units in bad.items():
        # Only units we expected are at risk; a damaged extra was never going to be refunded.
        at_risk = min(units, want.get(sku, 0)) * price.get(sku, 0)
        out.append(
            Discrepancy(
                Kind.CONDITION_NOT_ACCEPTED,
                sku,
                want.get(sku, 0),
                got[sku],
                units,
                at_risk,
                Kind.CONDITION_NOT_ACCEPTED in flag_on,
                condition,
                tuple(reasons.get((sku, condition), {})),
            )
        )
    return out


def reconcile(
    expected: Iterable[ExpectedLine],
    received: Iterable[ReceivedLine],
    criteria: Criteria,
    *,
    complete: bool,
    first_received_at: datetime,
    now: datetime,
    ra_number: str = "",
    currency: str = "",
) -> Decision:
    """Process when nothing that flags is found; flag otherwise. A partial receipt (the 3PL has
    not closed the ASN) that is still short waits until ``partial_wait_days`` after its first
    receipt, then flags."""
    discrepancies = tuple(compare(expected, received, criteria))
    at_risk = sum(d.value_at_risk for d in discrepancies)
    flagging = [d for d in discrepancies if d.flags]
    deadline = first_received_at + timedelta(days=criteria.partial_wait_days)
    incomplete = any(d.kind in (Kind.MISSING, Kind.SHORT) for d in discrepancies)
    waited = False
    if flagging and incomplete and not complete:
        if now < deadline:
            return Decision(Outcome.WAIT, discrepancies, at_risk, "", deadline)
        waited = True
    outcome = Outcome.FLAG if flagging else Outcome.PROCESS
    return Decision(
        outcome,
        discrepancies,
        at_risk,
        note(outcome, discrepancies, at_risk, ra_number, currency, waited, criteria),
    )


def note(
    outcome: Outcome,
    discrepancies: tuple[Discrepancy, ...],
    at_risk: int,
    ra_number: str,
    currency: str,
    waited: bool,
    criteria: Criteria,
) -> str:
    """One line per discrepancy, the flagging ones first."""
    head = f"RA {ra_number}: " if ra_number else ""
    if outcome is Outcome.PROCESS and not discrepancies:
        return f"{head}processed: every expected item arrived in an accepted condition."
    verb = "flagged" if outcome is Outcome.FLAG else "processed"
    parts = [f"{head}{verb}"]
    if waited:
        parts.append(
            f"(partial receipt, the rest did not arrive within {criteria.partial_wait_days} days)"
        )
    ordered = sorted(discrepancies, key=lambda d: not d.flags)
    lines = "; ".join(d.describe() for d in ordered)
    risk = f". Value at risk: {at_risk / 100:.2f} {currency}".rstrip() if at_risk else ""
    return f"{' '.join(parts)}: {lines}{risk}."
