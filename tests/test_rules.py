"""The routing rules language: every operator, negation, nesting, load-time errors with rule and
line, the shipped default rules, and properties of the evaluator."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from returnhub.domain.rules import (
    FACTS,
    OPERATORS,
    AllOf,
    AnyOf,
    AttrType,
    Compare,
    Condition,
    Not,
    Op,
    Priority,
    Route,
    Rule,
    RulesError,
    RuleSet,
    SuggestedAction,
    TraceEntry,
    build_rules,
    check_facts,
    condition_data,
    count_comparisons,
    parse_rules,
)
from returnhub.services.routing import DEFAULT_RULES_FILE, load_rules_file


def rules_with(when: Any) -> RuleSet:
    return build_rules(
        {"rules": [{"name": "r", "when": when, "then": {"queue": "q"}}], "default": {"queue": "d"}}
    )


def holds(when: Any, facts: dict[str, Any]) -> bool:
    return rules_with(when).evaluate(facts).rule == "r"


def cmp(attr: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"attr": attr, "op": op}
    if value is not None:
        node["value"] = value
    return node


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(textwrap.dedent(text).lstrip("\n"), "rules.yaml")
    return [str(p) for p in caught.value.problems]


MISSING: dict[str, Any] = {}

# ---- one block per operator -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "value", "facts", "expected"),
    [
        ("order.value", 12900, {"order.value": 12900}, True),
        ("order.value", 12900, {"order.value": 12900.0}, True),
        ("order.value", 12900, {"order.value": 12899}, False),
        ("order.value", 12900, MISSING, False),
        ("contact.text", "hello", {"contact.text": "hello"}, True),
        ("contact.text", "hello", {"contact.text": "Hello"}, False),
        ("contact.channel", "sms", {"contact.channel": "sms"}, True),
        ("contact.channel", "sms", {"contact.channel": "chat"}, False),
        ("customer.vip", True, {"customer.vip": True}, True),
        ("customer.vip", False, {"customer.vip": True}, False),
        ("customer.vip", False, MISSING, False),
    ],
)
def test_eq(attr: str, value: Any, facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp(attr, "eq", value), facts) is expected


@pytest.mark.parametrize(
    ("value", "facts", "expected"),
    [
        (7, {"refund.pending_days": 7}, False),
        (7, {"refund.pending_days": 8}, True),
        # ne is exactly `not eq`, so it holds for a missing fact
        (7, MISSING, True),
    ],
)
def test_ne(value: int, facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp("refund.pending_days", "ne", value), facts) is expected


@pytest.mark.parametrize(
    ("op", "days", "expected"),
    [
        ("gt", 6, False),
        ("gt", 7, False),
        ("gt", 8, True),
        ("gte", 6, False),
        ("gte", 7, True),
        ("gte", 8, True),
        ("lt", 6, True),
        ("lt", 7, False),
        ("lt", 8, False),
        ("lte", 6, True),
        ("lte", 7, True),
        ("lte", 8, False),
    ],
)
def test_ordering_operators_at_the_boundary(op: str, days: int, expected: bool) -> None:
    assert holds(cmp("refund.pending_days", op, 7), {"refund.pending_days": days}) is expected


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_ordering_operators_never_hold_for_a_missing_fact(op: str) -> None:
    assert holds(cmp("refund.pending_days", op, 7), MISSING) is False


@pytest.mark.parametrize(
    ("attr", "value", "facts", "expected"),
    [
        (
            "returns.latest_state",
            ["received", "flagged"],
            {"returns.latest_state": "flagged"},
            True,
        ),
        (
            "returns.latest_state",
            ["received", "flagged"],
            {"returns.latest_state": "closed"},
            False,
        ),
        ("returns.latest_state", ["received"], MISSING, False),
        ("returns.open_count", [1, 2], {"returns.open_count": 2}, True),
        ("returns.open_count", [1, 2], {"returns.open_count": 3}, False),
        ("contact.text", ["hi", "hello"], {"contact.text": "hi"}, True),
    ],
)
def test_in(attr: str, value: list[Any], facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp(attr, "in", value), facts) is expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"contact.channel": "voice"}, True),
        ({"contact.channel": "email"}, False),
        # not_in is exactly `not in`, so it holds for a missing fact
        (MISSING, True),
    ],
)
def test_not_in(facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp("contact.channel", "not_in", ["email", "chat"]), facts) is expected


@pytest.mark.parametrize(
    ("attr", "value", "facts", "expected"),
    [
        ("customer.tags", "vip", {"customer.tags": ["wholesale", "vip"]}, True),
        ("customer.tags", "vip", {"customer.tags": ["vipp"]}, False),
        ("customer.tags", "vip", {"customer.tags": []}, False),
        ("returns.latest_outcomes", "exchange", {"returns.latest_outcomes": ["exchange"]}, True),
        # on a string: a substring, ignoring case
        ("contact.text", "refund", {"contact.text": "Where is my REFUND?"}, True),
        ("contact.text", "refund", {"contact.text": "Where is my parcel?"}, False),
        ("contact.text", "refund", MISSING, False),
    ],
)
def test_contains(attr: str, value: str, facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp(attr, "contains", value), facts) is expected


@pytest.mark.parametrize(
    ("value", "facts", "expected"),
    [
        (True, {"refund.pending_days": 0}, True),  # zero is a value, not a missing fact
        (True, {"refund.pending_days": None}, False),
        (True, MISSING, False),
        (False, MISSING, True),
        (False, {"refund.pending_days": 3}, False),
    ],
)
def test_exists(value: bool, facts: dict[str, Any], expected: bool) -> None:
    assert holds(cmp("refund.pending_days", "exists", value), facts) is expected


def test_exists_defaults_to_true() -> None:
    assert holds({"attr": "refund.pending_days", "op": "exists"}, {"refund.pending_days": 1})
    assert not holds({"attr": "refund.pending_days", "op": "exists"}, MISSING)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"(?i)\bcancel", "Please CANCEL my return", True),
        (r"\bcancel", "Please CANCEL my return", False),  # case matters unless (?i)
        (r"RMA-\d{4}", "about RMA-1042 please", True),  # a search, not a full match
        (r"^RMA-\d{4}$", "about RMA-1042 please", False),
    ],
)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    assert holds(cmp("contact.text", "matches", pattern), {"contact.text": text}) is expected


def test_matches_never_holds_for_a_missing_fact() -> None:
    assert holds(cmp("contact.text", "matches", ".*"), MISSING) is False


def test_a_fact_of_the_wrong_type_matches_nothing_and_raises_nothing() -> None:
    facts = {"refund.pending_days": "eight", "contact.text": 12, "customer.tags": 3}
    assert holds(cmp("refund.pending_days", "gte", 7), facts) is False
    assert holds(cmp("contact.text", "matches", "1"), facts) is False
    assert holds(cmp("customer.tags", "contains", "vip"), facts) is False
    assert holds(cmp("refund.pending_days", "in", [1]), {"refund.pending_days": [1]}) is False


# ---- negation and nesting ----------------------------------------------------------------------


def test_not_inverts_a_comparison() -> None:
    vip = cmp("customer.vip", "eq", True)
    assert holds({"not": vip}, {"customer.vip": False}) is True
    assert holds({"not": vip}, {"customer.vip": True}) is False
    assert holds({"not": {"not": vip}}, {"customer.vip": True}) is True


def test_not_of_a_comparison_on_a_missing_fact_holds() -> None:
    assert holds({"not": cmp("refund.pending_days", "gte", 7)}, MISSING) is True


def test_all_any_not_nest() -> None:
    # VIP, or: an open return that is not an exchange
    when = {
        "any": [
            cmp("customer.vip", "eq", True),
            {
                "all": [
                    cmp("returns.open_count", "gt", 0),
                    {"not": cmp("returns.latest_outcomes", "contains", "exchange")},
                ]
            },
        ]
    }
    base = {"customer.vip": False, "returns.open_count": 1}
    assert holds(when, {**base, "returns.latest_outcomes": ["refund"]}) is True
    assert holds(when, {**base, "returns.latest_outcomes": ["exchange", "refund"]}) is False
    assert holds(when, {**base, "returns.open_count": 0}) is False
    assert holds(when, {**base, "customer.vip": True, "returns.open_count": 0}) is True


def test_a_list_is_shorthand_for_all() -> None:
    when = [cmp("customer.vip", "eq", True), cmp("returns.open_count", "gt", 0)]
    assert rules_with(when).rules[0].when == AllOf(
        (Compare("customer.vip", Op.EQ, True), Compare("returns.open_count", Op.GT, 0))
    )
    assert holds(when, {"customer.vip": True, "returns.open_count": 1}) is True
    assert holds(when, {"customer.vip": True, "returns.open_count": 0}) is False


def test_all_and_any_stop_at_the_first_decisive_condition() -> None:
    when = {
        "any": [
            {"all": [cmp("customer.vip", "eq", True), cmp("order.value", "gt", 100)]},
            cmp("returns.open_count", "gt", 0),
            cmp("refund.pending_days", "gte", 7),
        ]
    }
    decision = rules_with(when).evaluate({"customer.vip": False, "returns.open_count": 2})
    assert [(e.attr, e.result) for e in decision.trace] == [
        ("customer.vip", False),
        ("returns.open_count", True),
    ]


# ---- decisions, reasons and the trace ----------------------------------------------------------

TWO_RULES = """
version: 1
rules:
  - name: refund-pending
    description: refund pending for 7 days or more
    when:
      attr: refund.pending_days
      op: gte
      value: 7
    then:
      queue: returns-senior
      priority: high
      tags: [refund-delayed]
      actions: [check-refund-status]
  - name: vip
    when: {attr: customer.vip, op: eq, value: true}
    then: {queue: general, priority: high}
default:
  queue: general
"""


def test_the_first_matching_rule_decides_with_its_reason_and_trace() -> None:
    rules = parse_rules(TWO_RULES)
    decision = rules.evaluate({"refund.pending_days": 8, "customer.vip": True})
    assert decision.queue == "returns-senior"
    assert decision.priority is Priority.HIGH
    assert decision.tags == ("refund-delayed",)
    assert decision.actions == (SuggestedAction.CHECK_REFUND_STATUS,)
    assert decision.rule == "refund-pending"
    assert decision.reason == (
        "rule refund-pending (refund pending for 7 days or more) matched: "
        "refund.pending_days is 8 (gte 7: yes)"
    )
    assert decision.trace == (
        TraceEntry("refund-pending", "refund.pending_days", "gte", 7, 8, True, 7),
    )


def test_later_rules_see_the_earlier_failures_in_the_trace() -> None:
    decision = parse_rules(TWO_RULES).evaluate({"refund.pending_days": 2, "customer.vip": True})
    assert (decision.rule, decision.queue, decision.priority) == ("vip", "general", Priority.HIGH)
    assert [e.as_dict() for e in decision.trace] == [
        {
            "rule": "refund-pending",
            "attr": "refund.pending_days",
            "op": "gte",
            "value": 7,
            "actual": 2,
            "result": False,
            "line": 7,
        },
        {
            "rule": "vip",
            "attr": "customer.vip",
            "op": "eq",
            "value": True,
            "actual": True,
            "result": True,
            "line": 16,
        },
    ]
    assert decision.reason == "rule vip matched: customer.vip is true (eq true: yes)"


def test_no_rule_matching_gives_the_default() -> None:
    decision = parse_rules(TWO_RULES).evaluate({"customer.vip": False})
    assert (decision.queue, decision.priority, decision.rule) == ("general", "normal", "default")
    assert decision.reason == "none of the 2 rules matched; the default route applies"
    assert [(e.rule, e.actual, e.result) for e in decision.trace] == [
        ("refund-pending", None, False),
        ("vip", False, False),
    ]


def test_a_file_with_only_a_default() -> None:
    decision = parse_rules("rules: []\ndefault: {queue: general, priority: low}").evaluate({})
    assert (decision.queue, decision.priority, decision.rule) == ("general", "low", "default")
    assert decision.reason == "no rules; the default route applies"


# ---- load-time errors: each names the rule and its line -----------------------------------------


def test_operator_that_does_not_fit_the_attribute_type() -> None:
    assert problems(
        """
        rules:
          - name: refund-pending
            when: {attr: contact.text, op: gt, value: 7}
            then: {queue: q}
        default: {queue: d}
        """
    ) == [
        "rule 'refund-pending' (line 3): operator gt does not fit string attribute contact.text "
        "(string attributes take eq, ne, in, not_in, contains, matches, exists)"
    ]


@pytest.mark.parametrize(
    ("attr_type", "attr", "op"),
    [
        (AttrType.NUMBER, "order.value", "matches"),
        (AttrType.NUMBER, "order.value", "contains"),
        (AttrType.BOOL, "customer.vip", "gt"),
        (AttrType.BOOL, "customer.vip", "in"),
        (AttrType.ENUM, "contact.channel", "matches"),
        (AttrType.ENUM, "contact.channel", "lt"),
        (AttrType.LIST, "customer.tags", "eq"),
        (AttrType.LIST, "customer.tags", "in"),
        (AttrType.STRING, "contact.text", "lte"),
    ],
)
def test_every_type_refuses_the_operators_that_do_not_fit(
    attr_type: AttrType, attr: str, op: str
) -> None:
    assert Op(op) not in OPERATORS[attr_type]
    found = problems(
        f"""
        rules:
          - name: r
            when: {{attr: {attr}, op: {op}, value: x}}
            then: {{queue: q}}
        default: {{queue: d}}
        """
    )
    assert found == [
        f"rule 'r' (line 3): operator {op} does not fit {attr_type.value} attribute {attr} "
        f"({attr_type.value} attributes take "
        f"{', '.join(o.value for o in OPERATORS[attr_type])})"
    ]


def test_unknown_attribute_suggests_the_closest() -> None:
    assert problems(
        """
        rules:
          - name: refund-pending
            when:
              all:
                - attr: customer.vip
                  op: eq
                  value: true
                - attr: refund.pending_day
                  op: gte
                  value: 7
            then: {queue: q}
        default: {queue: d}
        """
    ) == [
        "rule 'refund-pending' (line 8): unknown attribute refund.pending_day; "
        "did you mean refund.pending_days?"
    ]


def test_bad_regex() -> None:
    assert problems(
        """
        rules:
          - name: cancel
            when: {attr: contact.text, op: matches, value: "(cancel"}
            then: {queue: q}
        default: {queue: d}
        """
    ) == [
        "rule 'cancel' (line 3): bad regular expression '(cancel' for contact.text: "
        "missing ), unterminated subpattern at position 0"
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            "{attr: refund.pending_days, op: gte, value: '7'}",
            "refund.pending_days is a number; gte cannot compare it with the string '7'",
        ),
        (
            "{attr: refund.pending_days, op: gte, value: true}",
            "refund.pending_days is a number; gte cannot compare it with the boolean true",
        ),
        (
            "{attr: contact.text, op: eq, value: no}",
            "contact.text holds strings; eq needs a string, not the boolean false "
            "(YAML reads yes/no/on/off/true/false as booleans: quote it)",
        ),
        (
            "{attr: customer.vip, op: eq, value: 'yes'}",
            "customer.vip is true or false, not the string 'yes'",
        ),
        (
            "{attr: contact.channel, op: eq, value: phone}",
            "'phone' is not a value of contact.channel "
            "(one of voice, email, chat, sms, facebook, instagram, whatsapp)",
        ),
        (
            "{attr: returns.latest_state, op: in, value: [received, recieved]}",
            "'recieved' is not a value of returns.latest_state (one of requested, authorized, "
            "in_transit, received, flagged, processed, closed, rejected, cancelled, expired); "
            "did you mean 'received'?",
        ),
        (
            "{attr: returns.latest_outcomes, op: contains, value: credit}",
            "'credit' is not a value of returns.latest_outcomes "
            "(one of refund, exchange, store_credit, gift_card); did you mean 'store_credit'?",
        ),
        (
            "{attr: returns.open_count, op: in, value: 1}",
            "in takes a non-empty list, not the number 1",
        ),
        (
            "{attr: returns.open_count, op: not_in, value: []}",
            "not_in takes a non-empty list, not a list",
        ),
        (
            "{attr: refund.pending_days, op: exists, value: 1}",
            "exists takes true or false, not the number 1",
        ),
        ("{attr: refund.pending_days, op: gte}", "refund.pending_days gte needs a value"),
        (
            "{attr: refund.pending_days, op: greater, value: 7}",
            "op is unknown (the string 'greater') for refund.pending_days; "
            "use one of eq, ne, gt, gte, lt, lte, in, not_in, exists",
        ),
        (
            "{attr: refund.pending_days, value: 7}",
            "op is missing for refund.pending_days; "
            "use one of eq, ne, gt, gte, lt, lte, in, not_in, exists",
        ),
        ("{all: []}", "all needs at least one condition"),
        (
            "{any: {attr: customer.vip, op: eq, value: true}}",
            "any takes a list of conditions, not a mapping",
        ),
        (
            "{all: [], any: []}",
            "a condition has either attr, op and value, or exactly one of all, any, not "
            "(found all, any)",
        ),
        (
            "vip",
            "a condition is a mapping ({attr, op, value}, all, any or not), not the string 'vip'",
        ),
    ],
)
def test_value_and_shape_errors(condition: str, message: str) -> None:
    text = (
        f"rules:\n  - name: r\n    when: {condition}\n    then: {{queue: q}}\n"
        "default: {queue: d}\n"
    )
    assert problems(text) == [f"rule 'r' (line 3): {message}"]


def test_a_misspelt_key_is_named_with_the_closest_one() -> None:
    assert problems(
        """
        rules:
          - name: r
            when: {attr: refund.pending_days, op: gte, valeu: 7}
            then: {queue: q}
        default: {queue: d}
        """
    ) == [
        "rule 'r' (line 3): unknown key 'valeu' in a comparison (allowed: attr, op, value); "
        "did you mean 'value'?",
        "rule 'r' (line 3): refund.pending_days gte needs a value",
    ]


def test_then_errors() -> None:
    assert problems(
        """
        rules:
          - name: r
            when: {attr: customer.vip, op: eq, value: true}
            then:
              priority: hi
              tags: vip
              actions: [offer-retrun-link]
        default: {queue: d}
        """
    ) == [
        "rule 'r' (line 5): then needs a queue: a name of 1 to 100 characters, not nothing",
        "rule 'r' (line 5): priority must be one of low, normal, high, urgent, not 'hi'",
        "rule 'r' (line 5): tags is a list of non-empty strings",
        "rule 'r' (line 5): unknown action 'offer-retrun-link' (known: check-refund-status, "
        "grant-exception, offer-return-link, review-flagged-return, share-return-status); "
        "did you mean 'offer-return-link'?",
    ]


def test_rule_shape_errors() -> None:
    assert problems(
        """
        rules:
          - name: vip
            when: {attr: customer.vip, op: eq, value: true}
            then: {queue: q}
          - name: vip
            when: {attr: customer.vip, op: eq, value: true}
            then: {queue: q}
          - name: default
            when: {attr: customer.vip, op: eq, value: true}
            then: {queue: q}
          - name: Not A Slug
            when: {attr: customer.vip, op: eq, value: true}
            then: {queue: q}
          - name: no-then
            when: {attr: customer.vip, op: eq, value: true}
            than: {queue: q}
        default: {queue: d}
        """
    ) == [
        "rule 'vip' (line 5): another rule (line 2) already has this name",
        "rule '#3' (line 8): the name 'default' is reserved for the default route",
        "rule '#4' (line 11): name must be lower-case letters, digits, '-' or '_' (up to 63), "
        "not the string 'Not A Slug'",
        "rule 'no-then' (line 14): unknown key 'than' in a rule (allowed: name, description, "
        "when, then); did you mean 'then'?",
        "rule 'no-then' (line 14): missing then: the queue (and priority, tags, actions)",
    ]


def test_the_default_is_required() -> None:
    assert problems(
        """
        version: 1
        rules:
          - name: vip
            when: {attr: customer.vip, op: eq, value: true}
            then: {queue: q}
        """
    ) == [
        "line 1: missing default: every file ends with a default route "
        "(e.g. default: {queue: general}) for contacts no rule matches"
    ]


def test_default_errors_name_the_default() -> None:
    assert problems("rules: []\ndefault: {queue: d, priority: top}\n") == [
        "default (line 2): priority must be one of low, normal, high, urgent, not 'top'"
    ]


def test_file_level_errors() -> None:
    assert problems("version: 2\nrule: []\ndefault: {queue: d}\n") == [
        "line 1: unknown key 'rule' in the rules file (allowed: version, rules, default); "
        "did you mean 'rules'?",
        "line 1: version 2 is not supported (use 1)",
        "line 1: rules must be a list (it may be empty), not nothing",
    ]
    assert problems("- just\n- a list\n") == [
        "line 1: a rules file is a mapping with rules and default, not a list"
    ]


def test_yaml_syntax_errors_and_duplicate_keys_name_the_line() -> None:
    assert problems("rules: []\ndefault: {queue: d\n") == [
        "line 3: not valid YAML: expected ',' or '}', but got '<stream end>'"
    ]
    assert problems(
        """
        rules:
          - name: r
            when: {attr: customer.vip, op: eq, value: true}
            when: {attr: refund.pending_days, op: gte, value: 7}
            then: {queue: q}
        default: {queue: d}
        """
    ) == ["line 4: not valid YAML: duplicate key 'when'"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        """
        rules:
          - name: a
            when: {attr: contact.text, op: gt, value: 3}
            then: {queue: q}
          - name: b
            when: {attr: contact.txt, op: eq, value: x}
            then: {queue: q}
        """
    )
    assert [p.split(":")[0] for p in found] == [
        "rule 'a' (line 3)",
        "rule 'b' (line 6)",
        "line 1",
    ]


def test_the_error_message_names_the_file() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules("rules: []\n", "ops/routing.yaml")
    assert str(caught.value).startswith("ops/routing.yaml: 1 problem\n  line 1: missing default")


# ---- the shipped default rules -----------------------------------------------------------------


@pytest.fixture(scope="module")
def default_rules() -> RuleSet:
    return load_rules_file(DEFAULT_RULES_FILE)


def facts_of(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "contact.channel": "email",
        "contact.text": "",
        "customer.known": True,
        "customer.tags": [],
        "customer.vip": False,
        "customer.lifetime_returns": 0,
        "returns.open_count": 0,
        "returns.has_flagged": False,
    }
    facts.update({k.replace("__", "."): v for k, v in overrides.items()})
    return facts


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (facts_of(refund__pending_days=7), ("refund-pending", "returns-senior", "high")),
        (
            facts_of(refund__pending_days=6, returns__open_count=1),
            ("open-return", "returns", "normal"),
        ),
        (
            facts_of(refund__pending_days=30, customer__vip=True, returns__open_count=1),
            ("refund-pending", "returns-senior", "high"),
        ),
        (
            facts_of(customer__vip=True, returns__open_count=1),
            ("vip-open-return", "returns", "high"),
        ),
        (
            facts_of(returns__has_flagged=True, returns__open_count=1),
            ("open-return", "returns", "normal"),
        ),
        (facts_of(customer__vip=True), ("vip", "general", "high")),
        (facts_of(order__days_since_delivery=12), ("recent-delivery", "general", "normal")),
        (facts_of(order__days_since_delivery=31), ("default", "general", "normal")),
        (facts_of(customer__known=False), ("default", "general", "normal")),
    ],
)
def test_the_shipped_default_rules(
    default_rules: RuleSet, facts: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    decision = default_rules.evaluate(facts)
    assert (decision.rule, decision.queue, decision.priority.value) == expected


def test_the_shipped_rules_say_when_a_flagged_return_decided(default_rules: RuleSet) -> None:
    decision = default_rules.evaluate(facts_of(returns__has_flagged=True, returns__open_count=1))
    assert decision.reason == (
        "rule open-return (an open or flagged return) matched: "
        "returns.has_flagged is true (eq true: yes)"
    )
    assert decision.actions == (SuggestedAction.SHARE_RETURN_STATUS,)


# ---- properties ---------------------------------------------------------------------------------

PATTERNS = ("refund", "(?i)cancel", r"^\d+$", "a|b", r"RMA-\d{4}")
texts = st.text(max_size=12)
numbers = st.one_of(
    st.integers(min_value=-1000, max_value=10**9),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)


def value_of(path: str) -> st.SearchStrategy[Any]:
    attr = FACTS[path]
    if attr.type is AttrType.NUMBER:
        return numbers
    if attr.type is AttrType.BOOL:
        return st.booleans()
    if attr.type is AttrType.ENUM:
        return st.sampled_from(attr.values)
    if attr.type is AttrType.LIST:
        element = st.sampled_from(attr.values) if attr.values else texts
        return st.lists(element, max_size=4)
    return texts


def element_of(path: str) -> st.SearchStrategy[Any]:
    attr = FACTS[path]
    if attr.type is AttrType.LIST:
        return st.sampled_from(attr.values) if attr.values else texts
    return value_of(path)


facts_strategy = st.fixed_dictionaries(
    {}, optional={path: st.one_of(st.none(), value_of(path)) for path in FACTS}
)


@st.composite
def comparisons(draw: st.DrawFn) -> Compare:
    path = draw(st.sampled_from(sorted(FACTS)))
    op = draw(st.sampled_from(OPERATORS[FACTS[path].type]))
    if op is Op.EXISTS:
        return Compare(path, op, draw(st.booleans()))
    if op is Op.MATCHES:
        return Compare(path, op, draw(st.sampled_from(PATTERNS)))
    if op in (Op.IN, Op.NOT_IN):
        return Compare(path, op, tuple(draw(st.lists(element_of(path), min_size=1, max_size=3))))
    return Compare(path, op, draw(element_of(path)))


conditions: st.SearchStrategy[Condition] = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: AllOf(tuple(cs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: AnyOf(tuple(cs))),
        inner.map(Not),
    ),
    max_leaves=8,
)


def one_rule(condition: Condition) -> RuleSet:
    return RuleSet((Rule("r", condition, Route("q")),), Route("d"))


def holds_ast(condition: Condition, facts: dict[str, Any]) -> bool:
    return one_rule(condition).evaluate(facts).rule == "r"


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(conditions, facts_strategy)
def test_not_inverts(condition: Condition, facts: dict[str, Any]) -> None:
    assert holds_ast(Not(condition), facts) is not holds_ast(condition, facts)


@PROPERTY
@given(conditions, facts_strategy)
def test_all_or_any_of_one_is_that_one(condition: Condition, facts: dict[str, Any]) -> None:
    alone = holds_ast(condition, facts)
    assert holds_ast(AllOf((condition,)), facts) is alone
    assert holds_ast(AnyOf((condition,)), facts) is alone


@PROPERTY
@given(st.lists(conditions, min_size=1, max_size=4), facts_strategy)
def test_any_is_not_all_not(parts: list[Condition], facts: dict[str, Any]) -> None:
    negated = AllOf(tuple(Not(c) for c in parts))
    assert holds_ast(AnyOf(tuple(parts)), facts) is not holds_ast(negated, facts)


@PROPERTY
@given(comparisons(), facts_strategy)
def test_ne_and_not_in_are_the_negations_of_eq_and_in(c: Compare, facts: dict[str, Any]) -> None:
    opposite = {Op.EQ: Op.NE, Op.NE: Op.EQ, Op.IN: Op.NOT_IN, Op.NOT_IN: Op.IN}.get(c.op)
    if opposite is None:
        return
    assert holds_ast(Compare(c.attr, opposite, c.value), facts) is not holds_ast(c, facts)


@PROPERTY
@given(st.lists(conditions, min_size=0, max_size=4), facts_strategy)
def test_evaluation_is_deterministic_total_and_first_match_wins(
    whens: list[Condition], facts: dict[str, Any]
) -> None:
    rules = RuleSet(
        tuple(Rule(f"r{i}", when, Route(f"q{i}")) for i, when in enumerate(whens)),
        Route("fallback"),
    )
    decision = rules.evaluate(facts)
    assert rules.evaluate(dict(facts)) == decision
    first = next((f"r{i}" for i, w in enumerate(whens) if holds_ast(w, facts)), "default")
    assert decision.rule == first
    assert decision.queue == ("fallback" if first == "default" else f"q{first[1:]}")
    assert len(decision.trace) <= sum(count_comparisons(w) for w in whens)
    assert all(
        entry.attr in FACTS and entry.actual == facts.get(entry.attr) for entry in decision.trace
    )
    if first != "default":
        assert decision.trace, "a rule can only match after evaluating something"


@PROPERTY
@given(conditions)
def test_what_the_ast_says_the_loader_reads_back(condition: Condition) -> None:
    data = {"rules": [{"name": "r", "when": condition_data(condition), "then": {"queue": "q"}}]}
    text = yaml.safe_dump({**data, "default": {"queue": "d"}}, allow_unicode=True)
    assert parse_rules(text).rules[0].when == condition


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "rules",
                    "default",
                    "name",
                    "when",
                    "then",
                    "attr",
                    "op",
                    "value",
                    "all",
                    "any",
                    "not",
                    "queue",
                    "priority",
                    "tags",
                    "actions",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@PROPERTY
@given(json_like)
def test_the_loader_refuses_anything_malformed_with_problems_only(data: Any) -> None:
    try:
        build_rules(data)
    except RulesError as exc:
        assert exc.problems


@PROPERTY
@given(facts_strategy)
def test_generated_facts_fit_the_schema(facts: dict[str, Any]) -> None:
    assert check_facts(facts) == []
