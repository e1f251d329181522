"""The guide's intent classifier: accuracy on the labelled corpus, cleaning, typos, stability."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from returnhub.domain.intents import Intent, RuleClassifier, clean, correct_token, normalise

CORPUS = Path(__file__).parent / "fixtures" / "guide" / "corpus.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
CLASSIFIER = RuleClassifier()
HOLDOUT2_FLOOR = 0.85  # measured once: 0.889 (docs/benchmarks.md)


def test_corpus_is_large_and_covers_every_intent() -> None:
    assert len(ROWS) >= 150
    counts = Counter(row["intent"] for row in ROWS)
    assert set(counts) == {i.value for i in Intent}
    assert min(counts.values()) >= 20


def test_corpus_accuracy_overall_and_per_intent() -> None:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in ROWS:
        total[row["intent"]] += 1
        if CLASSIFIER.classify(row["text"]).intent.value == row["intent"]:
            right[row["intent"]] += 1
    assert sum(right.values()) / len(ROWS) >= 0.90
    for intent, n in total.items():
        assert right[intent] / n >= 0.85, intent


def test_two_intents_in_one_message_are_both_ranked() -> None:
    doubles = [row for row in ROWS if "also" in row]
    assert doubles
    for row in doubles:
        ranked = {i.value for i, _ in CLASSIFIER.classify(row["text"]).ranked[:2]}
        assert {row["intent"], row["also"]} <= ranked, row["text"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("wheres my retrun", Intent.RETURN_STATUS),
        ("refnd status?", Intent.REFUND_STATUS),
        ("I need to return the jacket I ordered last week", Intent.START_RETURN),
        (
            "I missed the return window but I really need to return this jacket",
            Intent.RETURN_EXCEPTION,
        ),
        ("can i talk to an agnet", Intent.HUMAN),
        ("do you have this in blue", Intent.UNKNOWN),
    ],
)
def test_examples(text: str, intent: Intent) -> None:
    result = CLASSIFIER.classify(text)
    assert result.intent is intent
    if intent is not Intent.UNKNOWN:
        assert any(e.intent is intent for e in result.evidence)


def test_greetings_signatures_and_quotes_are_stripped() -> None:
    email = (
        "Hi team,\n\nWhere is my refund?\n\nThanks,\nAnna\nSent from my iPhone\n\n"
        "On Mon, Jan 6, 2030 at 9:00 AM Shop <help@shop.example> wrote:\n"
        "> I want to talk to a human"
    )
    assert clean(email) == "Where is my refund?"
    assert CLASSIFIER.classify(email).intent is Intent.REFUND_STATUS


def test_typos_are_corrected_and_reported() -> None:
    text, corrections = normalise("wher is my retrun pakage")
    assert "return" in text.split()
    assert ("retrun", "return") in corrections


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_and_is_deterministic(text: str) -> None:
    first = CLASSIFIER.classify(text)
    second = RuleClassifier().classify(text)
    assert first == second
    assert first.intent in Intent
    assert first.score >= 0


def test_holdout_messages_written_after_tuning() -> None:
    holdout = Path(__file__).parent / "fixtures" / "guide" / "holdout.jsonl"
    rows = [json.loads(line) for line in holdout.read_text(encoding="utf-8").splitlines() if line]
    right = sum(CLASSIFIER.classify(row["text"]).intent.value == row["intent"] for row in rows)
    assert right / len(rows) >= 0.85


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # "someone" without a request is not a request for a person.
        (
            "my parcel was signed for by someone at your depot, is it processed?",
            Intent.RETURN_STATUS,
        ),
        # A person wins over the other question in the same message.
        ("where's my refund? I want to talk to an agent", Intent.HUMAN),
        # "extend" is about the return window only near it.
        ("my coupon expired, can you extend it", Intent.UNKNOWN),
        ("could you extend my return window by a week", Intent.RETURN_EXCEPTION),
        # A short span is not past a window; a long one may be.
        ("the strap broke after a day, I want to return it", Intent.START_RETURN),
        ("I bought it 3 months ago, can I send it back", Intent.RETURN_EXCEPTION),
        # Synonyms: depot, posted back, ran out.
        ("did the returns dept scan the box I posted back", Intent.RETURN_STATUS),
        ("the 30 days ran out on friday but it's unworn", Intent.RETURN_EXCEPTION),
    ],
)
def test_general_mechanisms(text: str, intent: Intent) -> None:
    assert CLASSIFIER.classify(text).intent is intent, CLASSIFIER.classify(text).as_dict()


def test_negated_request_is_ruled_out_and_says_so() -> None:
    result = CLASSIFIER.classify("I don't want to return anything, just where is my refund")
    assert result.intent is Intent.REFUND_STATUS
    assert any(e.pattern.startswith("negated:") for e in result.evidence)
    assert all(i is not Intent.START_RETURN for i, _ in result.ranked)


def test_real_words_and_inflections_are_not_corrected() -> None:
    assert correct_token("except") == "except"  # not "exception"
    assert correct_token("opened") == "opened"  # not "open"
    assert correct_token("real") == "real"
    assert correct_token("returnn") == "return"  # a typo still is one
    assert correct_token("refunding") == "refund"  # stem of a vocabulary word
    text, _ = normalise("bought it 3 months ago, it broke after a day")
    assert "long duration ago" in text and "after duration" in text


def test_holdout2_written_before_the_classifier_was_generalised() -> None:
    holdout = Path(__file__).parent / "fixtures" / "guide" / "holdout2.jsonl"
    rows = [json.loads(line) for line in holdout.read_text(encoding="utf-8").splitlines() if line]
    assert len(rows) >= 80
    right = sum(CLASSIFIER.classify(row["text"]).intent.value == row["intent"] for row in rows)
    # A floor under the score measured once, at the end (docs/benchmarks.md), not a target.
    assert right / len(rows) >= HOLDOUT2_FLOOR
