"""The routing rules language: which queue answers a contact, how urgently, and why (pure).

A rules file is YAML::

    version: 1
    rules:                          # tried in order; the first whose `when` holds decides
      - name: refund-pending
        description: Refund pending for a week or more
        when: {attr: refund.pending_days, op: gte, value: 7}
        then: {queue: returns-senior, priority: high, tags: [refund-delayed]}
    default: {queue: general}       # required: what happens when no rule holds

A condition is a comparison ``{attr, op, value}`` on one fact (a dotted path of ``FACTS``), or
``{all: [...]}``, ``{any: [...]}``, ``{not: condition}``; wherever a condition goes, a list means
``all`` of it. Everything is checked when the file is loaded (unknown attributes, operators that do
not fit the attribute's type, values of the wrong type, bad regexes, unknown keys) and every problem
names its rule and line, so a file that loads cannot fail at evaluation time.

Evaluation takes a flat mapping of facts (``{"refund.pending_days": 8, ...}``). A fact that is
absent (or None) is *missing*: only ``exists: false``, ``ne`` and ``not_in`` hold for it, so that
``ne`` is exactly ``not eq`` and ``not_in`` exactly ``not in``. A fact of the wrong type never
matches and never raises. The decision carries a trace: every comparison evaluated, in order, with
the value it saw and its result (``all``/``any`` stop early, so the trace is as long as the work).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import yaml

from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome


class Channel(StrEnum):
    VOICE = "voice"
    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SuggestedAction(StrEnum):
    """What the help desk, the self-service guide and the agent workspace may offer next."""

    OFFER_RETURN_LINK = "offer-return-link"
    SHARE_RETURN_STATUS = "share-return-status"
    CHECK_REFUND_STATUS = "check-refund-status"
    REVIEW_FLAGGED_RETURN = "review-flagged-return"
    GRANT_EXCEPTION = "grant-exception"


class AttrType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    ENUM = "enum"
    LIST = "list"
    """A list of strings; ``values`` (when given) are the strings it may hold."""


@dataclass(frozen=True)
class Attribute:
    type: AttrType
    description: str
    values: tuple[str, ...] = ()
    """Allowed values of an enum, or of a list's elements (empty: any string)."""


_STATES = tuple(s.value for s in ReturnState)
_OUTCOMES = tuple(o.value for o in Outcome)
_REFUND_STATES = ("none", "pending", "issued", "void")

FACTS: dict[str, Attribute] = {
    "contact.channel": Attribute(
        AttrType.ENUM, "channel the customer wrote or called on", tuple(c.value for c in Channel)
    ),
    "contact.text": Attribute(AttrType.STRING, "what the customer wrote (empty for calls)"),
    "customer.known": Attribute(AttrType.BOOL, "the identifiers matched one customer"),
    "customer.tags": Attribute(AttrType.LIST, "the customer's tags, lower-case"),
    "customer.vip": Attribute(AttrType.BOOL, "the customer is tagged vip"),
    "customer.lifetime_returns": Attribute(AttrType.NUMBER, "returns the customer ever made"),
    "returns.open_count": Attribute(
        AttrType.NUMBER, "returns requested, authorized, in transit, received or flagged"
    ),
    "returns.has_flagged": Attribute(AttrType.BOOL, "a return is flagged for review"),
    "returns.latest_state": Attribute(
        AttrType.ENUM,
        "state of the latest return (the most recently updated open one, else the newest); "
        "missing without returns",
        _STATES,
    ),
    "returns.latest_outcomes": Attribute(
        AttrType.LIST, "outcomes asked for on the latest return's items", _OUTCOMES
    ),
    "returns.latest_refund_amount": Attribute(
        AttrType.NUMBER, "refund on the latest return, minor units; missing without returns"
    ),
    "returns.latest_refund_state": Attribute(
        AttrType.ENUM, "refund state of the latest return; missing without returns", _REFUND_STATES
    ),
    "refund.pending_days": Attribute(
        AttrType.NUMBER,
        "whole days since a return was received (or processed) without its refund issued; the "
        "longest wait over the customer's returns; missing when no refund waits",
    ),
    "order.value": Attribute(
        AttrType.NUMBER, "total of the latest order, minor units; missing without orders"
    ),
    "order.days_since_delivery": Attribute(
        AttrType.NUMBER, "whole days since the latest order was delivered; missing if not delivered"
    ),
}


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    EXISTS = "exists"
    MATCHES = "matches"


OPERATORS: dict[AttrType, tuple[Op, ...]] = {
    AttrType.NUMBER: (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.IN, Op.NOT_IN, Op.EXISTS),
    AttrType.STRING: (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, Op.MATCHES, Op.EXISTS),
    AttrType.BOOL: (Op.EQ, Op.NE, Op.EXISTS),
    AttrType.ENUM: (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.EXISTS),
    AttrType.LIST: (Op.CONTAINS, Op.EXISTS),
}

DEFAULT_RULE = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_QUEUE_LENGTH = 100


# ---- the condition tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    attr: str
    op: Op
    value: Any
    """A number, string or bool; a tuple for in/not_in; the pattern text for matches."""
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    condition: Condition
    line: int | None = field(default=None, compare=False)


Condition = Compare | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Route:
    queue: str
    priority: Priority = Priority.NORMAL
    tags: tuple[str, ...] = ()
    actions: tuple[SuggestedAction, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    then: Route
    description: str = ""
    line: int | None = field(default=None, compare=False)


class TraceEntry(NamedTuple):
    """One comparison as evaluated: the rule it belongs to, what it asked, what it saw."""

    rule: str
    attr: str
    op: str
    value: Any
    actual: Any
    result: bool
    line: int | None

    def as_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        actual = list(self.actual) if isinstance(self.actual, tuple) else self.actual
        return {
            "rule": self.rule,
            "attr": self.attr,
            "op": self.op,
            "value": value,
            "actual": actual,
            "result": self.result,
            "line": self.line,
        }


@dataclass(frozen=True)
class Decision:
    queue: str
    priority: Priority
    tags: tuple[str, ...]
    actions: tuple[SuggestedAction, ...]
    rule: str
    """The name of the rule that matched, or ``default``."""
    reason: str
    trace: tuple[TraceEntry, ...]


# ---- evaluation --------------------------------------------------------------------------------

Facts = Mapping[str, Any]
Test = Callable[[Facts, list[TraceEntry]], bool]
_Predicate = Callable[[Any], bool]


def _predicate(op: Op, value: Any) -> _Predicate:
    """The comparison for a present (non-None) fact; types were checked at load time."""
    if op is Op.EQ:
        return lambda actual: bool(actual == value)
    if op is Op.NE:
        return lambda actual: bool(actual != value)
    if op is Op.GT:
        return lambda actual: bool(actual > value)
    if op is Op.GTE:
        return lambda actual: bool(actual >= value)
    if op is Op.LT:
        return lambda actual: bool(actual < value)
    if op is Op.LTE:
        return lambda actual: bool(actual <= value)
    if op is Op.IN:
        members = frozenset(value)
        return lambda actual: actual in members
    if op is Op.NOT_IN:
        members = frozenset(value)
        return lambda actual: actual not in members
    if op is Op.CONTAINS:
        needle = str(value)
        folded = needle.casefold()

        def contains(actual: Any) -> bool:
            if isinstance(actual, str):
                return folded in actual.casefold()
            return needle in actual

        return contains
    if op is Op.MATCHES:
        search = re.compile(str(value)).search
        return lambda actual: search(actual) is not None
    raise AssertionError(f"no predicate for {op}")  # EXISTS is handled by the caller


# Operators that hold for a missing fact: the negations of eq and in.
_TRUE_WHEN_MISSING = frozenset({Op.NE, Op.NOT_IN})


def _compile(condition: Condition, rule: str) -> Test:
    if isinstance(condition, Compare):
        return _compile_compare(condition, rule)
    if isinstance(condition, AllOf):
        parts = tuple(_compile(c, rule) for c in condition.conditions)

        # Plain loops, not all()/any() over a generator: no generator per call on the hot path.
        def all_of(facts: Facts, trace: list[TraceEntry]) -> bool:
            for part in parts:  # noqa: SIM110
                if not part(facts, trace):
                    return False
            return True

        return all_of
    if isinstance(condition, AnyOf):
        parts = tuple(_compile(c, rule) for c in condition.conditions)

        def any_of(facts: Facts, trace: list[TraceEntry]) -> bool:
            for part in parts:  # noqa: SIM110
                if part(facts, trace):
                    return True
            return False

        return any_of
    inner = _compile(condition.condition, rule)

    def not_(facts: Facts, trace: list[TraceEntry]) -> bool:
        return not inner(facts, trace)

    return not_


def _compile_compare(c: Compare, rule: str) -> Test:
    attr, op, value, line = c.attr, c.op, c.value, c.line
    op_name = op.value
    if op is Op.EXISTS:

        def exists(facts: Facts, trace: list[TraceEntry]) -> bool:
            actual = facts.get(attr)
            result = (actual is not None) is value
            trace.append(TraceEntry(rule, attr, op_name, value, actual, result, line))
            return result

        return exists
    predicate = _predicate(op, value)
    when_missing = op in _TRUE_WHEN_MISSING

    def compare(facts: Facts, trace: list[TraceEntry]) -> bool:
        actual = facts.get(attr)
        if actual is None:
            result = when_missing
        else:
            try:
                result = predicate(actual)
            except TypeError:
                result = False  # a fact of the wrong type matches nothing
        trace.append(TraceEntry(rule, attr, op_name, value, actual, result, line))
        return result

    return compare


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def explain(entry: TraceEntry) -> str:
    """``refund.pending_days is 8 (gte 7: yes)``."""
    verdict = "yes" if entry.result else "no"
    return f"{entry.attr} is {_show(entry.actual)} ({entry.op} {_show(entry.value)}: {verdict})"


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    default: Route
    source: str = "<rules>"
    _tests: tuple[Test, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._tests:
            tests = tuple(_compile(rule.when, rule.name) for rule in self.rules)
            object.__setattr__(self, "_tests", tests)

    def evaluate(self, facts: Facts) -> Decision:
        """The first rule whose condition holds decides; otherwise the default does."""
        trace: list[TraceEntry] = []
        for rule, test in zip(self.rules, self._tests, strict=True):
            start = len(trace)
            if test(facts, trace):
                label = f"{rule.name} ({rule.description})" if rule.description else rule.name
                because = "; ".join(explain(e) for e in trace[start:])
                then = rule.then
                return Decision(
                    then.queue,
                    then.priority,
                    then.tags,
                    then.actions,
                    rule.name,
                    f"rule {label} matched: {because}",
                    tuple(trace),
                )
        d = self.default
        checked = f"none of the {len(self.rules)} rules matched" if self.rules else "no rules"
        return Decision(
            d.queue,
            d.priority,
            d.tags,
            d.actions,
            DEFAULT_RULE,
            f"{checked}; the default route applies",
            tuple(trace),
        )


def condition_data(condition: Condition) -> Any:
    """The plain data (as in a rules file) for a condition: ``build_rules`` reads it back."""
    if isinstance(condition, Compare):
        value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
        return {"attr": condition.attr, "op": condition.op.value, "value": value}
    if isinstance(condition, Not):
        return {"not": condition_data(condition.condition)}
    form = "all" if isinstance(condition, AllOf) else "any"
    return {form: [condition_data(c) for c in condition.conditions]}


def count_comparisons(condition: Condition) -> int:
    if isinstance(condition, Compare):
        return 1
    if isinstance(condition, Not):
        return count_comparisons(condition.condition)
    return sum(count_comparisons(c) for c in condition.conditions)


# ---- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    message: str
    rule: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = []
        if self.rule is not None:
            where.append(f"rule {self.rule!r}" if self.rule != DEFAULT_RULE else "default")
        if self.line is not None:
            where.append(f"(line {self.line})" if where else f"line {self.line}")
        return f"{' '.join(where)}: {self.message}" if where else self.message


class RulesError(ValueError):
    """The rules cannot be used; ``problems`` lists every one found, each with rule and line."""

    def __init__(self, problems: Sequence[Problem], source: str = "<rules>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}\n{listing}")


_YAML_BOOL_HINT = " (YAML reads yes/no/on/off/true/false as booleans: quote it)"


class _Map(dict[str, Any]):
    line: int | None = None
    key_lines: dict[str, int]


class _Seq(list[Any]):
    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences remember their line; duplicate keys are errors
    (PyYAML otherwise keeps the last one silently, and a rule would lose its first `when`)."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"keys are names, not {_kind(key)}"
                + (_YAML_BOOL_HINT if isinstance(key, bool) else ""),
                key_node.start_mark,
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_sequence(node, deep=True))
    result.line = node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _key_line(mapping: Any, key: str, fallback: int | None) -> int | None:
    """The line of ``key`` in a mapping read from YAML: where a scalar value sits."""
    lines = getattr(mapping, "key_lines", None)
    return lines.get(key, fallback) if isinstance(lines, dict) else fallback


def _line(node: Any, fallback: int | None) -> int | None:
    line = getattr(node, "line", None)
    return line if isinstance(line, int) else fallback


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class _Builder:
    def __init__(self, schema: Mapping[str, Attribute]) -> None:
        self.schema = schema
        self.problems: list[Problem] = []
        self.current: str | None = None

    def problem(self, message: str, line: int | None) -> None:
        self.problems.append(Problem(message, self.current, line))

    def keys(
        self, node: Mapping[str, Any], names: Iterable[str], what: str, line: int | None
    ) -> None:
        allowed = tuple(names)
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.problem(
                    f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)}){suggestion}",
                    line,
                )

    # -- conditions --

    def condition(self, node: Any, line: int | None) -> Condition | None:
        line = _line(node, line)
        if isinstance(node, list):
            return self._group(AllOf, "all", node, line)
        if not isinstance(node, dict):
            self.problem(
                "a condition is a mapping ({attr, op, value}, all, any or not), "
                f"not {_kind(node)}",
                line,
            )
            return None
        if "attr" in node or "op" in node:
            return self.compare(node, line)
        forms = [k for k in ("all", "any", "not") if k in node]
        if len(forms) != 1 or len(node) != 1:
            keys = ", ".join(map(str, node)) or "no keys"
            self.problem(
                "a condition has either attr, op and value, or exactly one of all, any, not "
                f"(found {keys})",
                line,
            )
            return None
        form = forms[0]
        body = node[form]
        if form == "not":
            inner = self.condition(body, _line(body, line))
            return Not(inner, line) if inner is not None else None
        if not isinstance(body, list):
            self.problem(f"{form} takes a list of conditions, not {_kind(body)}", line)
            return None
        return self._group(AllOf if form == "all" else AnyOf, form, body, line)

    def _group(
        self, kind: type[AllOf] | type[AnyOf], form: str, items: list[Any], line: int | None
    ) -> Condition | None:
        if not items:
            self.problem(f"{form} needs at least one condition", line)
            return None
        parts = [self.condition(item, _line(item, line)) for item in items]
        if any(p is None for p in parts):
            return None
        return kind(tuple(p for p in parts if p is not None), line)

    def compare(self, node: Mapping[str, Any], line: int | None) -> Compare | None:
        self.keys(node, ("attr", "op", "value"), "a comparison", line)
        attr, op_name = node.get("attr"), node.get("op")
        if not isinstance(attr, str) or not attr:
            self.problem(f"attr must be a dotted attribute name, not {_kind(attr)}", line)
            return None
        spec = self.schema.get(attr)
        if spec is None:
            close = difflib.get_close_matches(attr, list(self.schema), n=1)
            hint = f"; did you mean {close[0]}?" if close else "; see FACTS in the README"
            self.problem(f"unknown attribute {attr}{hint}", line)
            return None
        allowed = OPERATORS[spec.type]
        if not isinstance(op_name, str) or op_name not in {o.value for o in Op}:
            what = "missing" if op_name is None else f"unknown ({_kind(op_name)})"
            self.problem(
                f"op is {what} for {attr}; use one of {', '.join(o.value for o in allowed)}",
                line,
            )
            return None
        op = Op(op_name)
        if op not in allowed:
            self.problem(
                f"operator {op.value} does not fit {spec.type.value} attribute {attr} "
                f"({spec.type.value} attributes take {', '.join(o.value for o in allowed)})",
                line,
            )
            return None
        if op is Op.EXISTS:
            value = node.get("value", True)
            if not isinstance(value, bool):
                self.problem(f"exists takes true or false, not {_kind(value)}", line)
                return None
            return Compare(attr, op, value, line)
        if "value" not in node:
            self.problem(f"{attr} {op.value} needs a value", line)
            return None
        checked = self.value(attr, spec, op, node["value"], line)
        return Compare(attr, op, checked, line) if checked is not None else None

    def value(self, attr: str, spec: Attribute, op: Op, raw: Any, line: int | None) -> Any:
        if op in (Op.IN, Op.NOT_IN):
            if not isinstance(raw, list) or not raw:
                self.problem(f"{op.value} takes a non-empty list, not {_kind(raw)}", line)
                return None
            items = [self.scalar(attr, spec, op, item, line) for item in raw]
            if any(item is None for item in items):
                return None
            return tuple(items)
        if op is Op.MATCHES:
            if not isinstance(raw, str):
                self.problem(f"matches takes a regular expression string, not {_kind(raw)}", line)
                return None
            try:
                re.compile(raw)
            except re.error as exc:
                self.problem(f"bad regular expression {raw!r} for {attr}: {exc}", line)
                return None
            return raw
        return self.scalar(attr, spec, op, raw, line)

    def scalar(self, attr: str, spec: Attribute, op: Op, raw: Any, line: int | None) -> Any:
        kind = spec.type
        if kind is AttrType.NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                self.problem(
                    f"{attr} is a number; {op.value} cannot compare it with {_kind(raw)}", line
                )
                return None
            return raw
        if kind is AttrType.BOOL:
            if not isinstance(raw, bool):
                self.problem(f"{attr} is true or false, not {_kind(raw)}", line)
                return None
            return raw
        # string, enum, and the elements of lists
        if not isinstance(raw, str):
            hint = _YAML_BOOL_HINT if isinstance(raw, bool) else ""
            self.problem(
                f"{attr} holds strings; {op.value} needs a string, not {_kind(raw)}{hint}", line
            )
            return None
        if spec.values and raw not in spec.values:
            close = difflib.get_close_matches(raw, spec.values, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.problem(
                f"{raw!r} is not a value of {attr} (one of {', '.join(spec.values)}){hint}", line
            )
            return None
        return raw

    # -- routes and rules --

    def route(self, node: Any, line: int | None, what: str) -> Route | None:
        line = _line(node, line)
        if not isinstance(node, dict):
            self.problem(f"{what} is a mapping with queue, priority, tags, actions", line)
            return None
        self.keys(node, ("queue", "priority", "tags", "actions"), what, line)
        ok = True
        queue = node.get("queue")
        if not isinstance(queue, str) or not queue.strip() or len(queue) > MAX_QUEUE_LENGTH:
            self.problem(
                f"{what} needs a queue: a name of 1 to {MAX_QUEUE_LENGTH} characters, "
                f"not {_kind(queue)}",
                line,
            )
            ok = False
        raw_priority = node.get("priority", Priority.NORMAL.value)
        if not isinstance(raw_priority, str) or raw_priority not in {p.value for p in Priority}:
            self.problem(
                f"priority must be one of {', '.join(Priority)}, not {_show(raw_priority)}", line
            )
            ok = False
        tags = node.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            self.problem("tags is a list of non-empty strings", line)
            ok = False
        actions = node.get("actions", [])
        known = {a.value for a in SuggestedAction}
        if not isinstance(actions, list):
            self.problem(f"actions is a list (known: {', '.join(sorted(known))})", line)
            ok = False
        else:
            for action in actions:
                if not isinstance(action, str) or action not in known:
                    close = difflib.get_close_matches(str(action), sorted(known), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.problem(
                        f"unknown action {_show(action)} (known: {', '.join(sorted(known))}){hint}",
                        line,
                    )
                    ok = False
        if not ok:
            return None
        assert isinstance(queue, str) and isinstance(tags, list) and isinstance(actions, list)
        return Route(
            queue.strip(),
            Priority(raw_priority),
            tuple(t.strip() for t in tags),
            tuple(SuggestedAction(a) for a in actions),
        )

    def rule(
        self, node: Any, index: int, line: int | None, seen: dict[str, int | None]
    ) -> Rule | None:
        line = _line(node, line)
        self.current = f"#{index + 1}"
        if not isinstance(node, dict):
            self.problem(f"a rule is a mapping with name, when, then, not {_kind(node)}", line)
            return None
        name = node.get("name")
        if name == DEFAULT_RULE:
            self.problem(f"the name {DEFAULT_RULE!r} is reserved for the default route", line)
        elif isinstance(name, str) and _NAME.match(name):
            self.current = name
            if name in seen:
                self.problem(f"another rule (line {seen[name]}) already has this name", line)
            else:
                seen[name] = line
        else:
            self.problem(
                "name must be lower-case letters, digits, '-' or '_' (up to 63), "
                f"not {_kind(name)}",
                line,
            )
        self.keys(node, ("name", "description", "when", "then"), "a rule", line)
        description = node.get("description", "")
        if not isinstance(description, str):
            self.problem(f"description is text, not {_kind(description)}", line)
            description = ""
        when: Condition | None = None
        if "when" not in node:
            self.problem("missing when: the condition under which the rule applies", line)
        else:
            when = self.condition(node["when"], _key_line(node, "when", line))
        then: Route | None = None
        if "then" not in node:
            self.problem("missing then: the queue (and priority, tags, actions)", line)
        else:
            then = self.route(node["then"], _key_line(node, "then", line), "then")
        if when is None or then is None or self.current != name:
            return None
        return Rule(name, when, then, description.strip(), line)


def build_rules(
    data: Any, source: str = "<rules>", schema: Mapping[str, Attribute] = FACTS
) -> RuleSet:
    """Rules from parsed YAML (or plain data); raises ``RulesError`` listing every problem."""
    b = _Builder(schema)
    if not isinstance(data, dict):
        raise RulesError(
            [
                Problem(
                    f"a rules file is a mapping with rules and default, not {_kind(data)}", None, 1
                )
            ],
            source,
        )
    top = _line(data, None)
    b.keys(data, ("version", "rules", "default"), "the rules file", top)
    if data.get("version", 1) != 1:
        b.problem(f"version {_show(data.get('version'))} is not supported (use 1)", top)
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list):
        b.problem(f"rules must be a list (it may be empty), not {_kind(raw_rules)}", top)
    else:
        seen: dict[str, int | None] = {}
        for index, node in enumerate(raw_rules):
            rule = b.rule(node, index, _line(raw_rules, top), seen)
            if rule is not None:
                rules.append(rule)
    default: Route | None = None
    if "default" not in data:
        b.current = None
        b.problem(
            "missing default: every file ends with a default route "
            "(e.g. default: {queue: general}) for contacts no rule matches",
            top,
        )
    else:
        b.current = DEFAULT_RULE
        default = b.route(data["default"], _key_line(data, "default", top), "default")
    if b.problems or default is None:
        raise RulesError(b.problems, source)
    return RuleSet(tuple(rules), default, source)


def parse_rules(
    text: str, source: str = "<rules>", schema: Mapping[str, Attribute] = FACTS
) -> RuleSet:
    """Rules from YAML text; ``source`` names the file in messages."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesError([Problem(f"not valid YAML: {exc.problem}", None, line)], source) from None
    except yaml.YAMLError as exc:
        raise RulesError([Problem(f"not valid YAML: {exc}")], source) from None
    return build_rules(data, source, schema)


def check_facts(facts: Facts, schema: Mapping[str, Attribute] = FACTS) -> list[str]:
    """What is wrong with a facts mapping (unknown keys, wrong types); empty when it fits."""
    wrong: list[str] = []
    for key, value in facts.items():
        spec = schema.get(key)
        if spec is None:
            wrong.append(f"{key}: not an attribute")
        elif value is None:
            continue
        elif spec.type is AttrType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                wrong.append(f"{key}: expected a number, got {_kind(value)}")
        elif spec.type is AttrType.BOOL:
            if not isinstance(value, bool):
                wrong.append(f"{key}: expected true or false, got {_kind(value)}")
        elif spec.type is AttrType.LIST:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                wrong.append(f"{key}: expected a list of strings")
            elif spec.values and not set(value) <= set(spec.values):
                wrong.append(f"{key}: values outside {', '.join(spec.values)}")
        elif not isinstance(value, str):
            wrong.append(f"{key}: expected a string, got {_kind(value)}")
        elif spec.type is AttrType.ENUM and value not in spec.values:
            wrong.append(f"{key}: {value!r} is not one of {', '.join(spec.values)}")
    return wrong
