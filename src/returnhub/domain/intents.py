"""Intent detection for the self-service guide: deterministic, offline and explainable (pure).

``RuleClassifier`` cleans a message (greetings, signatures, quoted replies and "sent from my
phone" lines go) and splits it into tokens. Each token is expanded (shorthand), reduced to a
vocabulary stem ("refunding") or corrected when it is a typo of a word the patterns use
(``difflib``, cached per token; a typo keeps its first letter and its length within two, and real
words and inflections are left alone). A synonym lexicon then rewrites the many ways of saying one
thing ("posted back", "depot", "ran out") to the words the patterns use, and spans of time to
"duration" / "long duration". Weighted patterns add up per intent; a "don't want to" just before
a match rules it out. The best intent wins when its score reaches ``threshold``; otherwise the
message is ``unknown``. Every match (and every negated one) is kept as evidence, so the guide can
say why it understood what it understood. Anything with the same ``classify`` signature (a model,
say) can stand in for it: see ``Classifier``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from returnhub.domain.intent_data import (
    BASE_VOCABULARY,
    INFLECTIONS,
    LEXICON,
    LONG_DAYS,
    NOT_TYPOS,
    NUMBER,
    NUMBER_WORDS,
    PATTERNS,
    SHORTHAND,
    SUFFIXES,
    UNIT_DAYS,
)


class Intent(StrEnum):
    RETURN_STATUS = "return_status"
    REFUND_STATUS = "refund_status"
    START_RETURN = "start_return"
    RETURN_EXCEPTION = "return_exception"
    HUMAN = "human"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    intent: Intent
    pattern: str
    weight: float
    matched: str


@dataclass(frozen=True)
class Classification:
    intent: Intent
    score: float
    evidence: tuple[Evidence, ...] = ()
    ranked: tuple[tuple[Intent, float], ...] = ()
    """Every intent that scored, best first (a second intent in one message shows up here)."""
    cleaned: str = ""
    corrections: tuple[tuple[str, str], ...] = field(default=())

    @property
    def secondary(self) -> Intent | None:
        # Precedence may have picked an intent that did not score highest.
        others = [(i, score) for i, score in self.ranked if i is not self.intent]
        if not others:
            return None
        second, score = others[0]
        return second if score >= RuleClassifier.threshold else None

    def as_dict(self) -> dict[str, object]:
        return {
            "intent": self.intent.value,
            "score": self.score,
            "ranked": [[i.value, s] for i, s in self.ranked],
            "evidence": [
                {
                    "intent": e.intent.value,
                    "pattern": e.pattern,
                    "weight": e.weight,
                    "matched": e.matched,
                }
                for e in self.evidence
            ],
            "corrections": [list(c) for c in self.corrections],
        }


class Classifier(Protocol):
    def classify(self, text: str) -> Classification: ...


# ---- cleaning ----------------------------------------------------------------------------------

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|dear|good (morning|afternoon|evening)|greetings|yo|howdy)\b[^.!?\n]*"
    r"[,!.:]?\s*$",
    re.I,
)
_SIGNOFF = re.compile(
    r"^\s*(--\s*$|thanks?( you)?( so much| in advance)?[,!.]*\s*$|thx[,!.]*\s*$|"
    r"(best|kind|warm)?\s*regards\b|best( wishes)?,?\s*$|cheers,?\s*$|sincerely\b|"
    r"sent from my\b|get outlook for\b)",
    re.I,
)
_QUOTED = re.compile(r"^\s*(>|on .{3,80} wrote:\s*$|-+\s*original message\s*-+)", re.I)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def clean(text: str) -> str:
    """The part of a message that carries the request: no greeting, quote or signature lines."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTED.match(line):
            break  # everything below a quote header or a quoted line is the old thread
        if _SIGNOFF.match(line) and kept:
            break  # the signature and whatever follows it
        if _GREETING.match(line) and len(line) < 40:
            continue
        kept.append(line)
    body = " ".join(kept).strip()
    return body or text.strip()


# ---- patterns ----------------------------------------------------------------------------------

_NEGATED = re.compile(
    r"\b(don't|do not|didn't|not|no longer|never|no need to)\s+(really\s+)?"
    r"(want|need|wish|plan|going|trying|looking)\b"
)
_NEGATABLE = frozenset({Intent.START_RETURN, Intent.HUMAN})


def _negated(text: str, found: re.Match[str]) -> bool:
    """A "don't want / no need to" that starts shortly before the match (or opens it: "don't
    want to return" matches from "want")."""
    start = max(0, found.start() - 30)
    return any(
        m.start() < found.start() - start for m in _NEGATED.finditer(text[start : found.end()])
    )


_COMPILED = tuple((Intent(intent), weight, re.compile(rx)) for intent, weight, rx in PATTERNS)

# Every literal word the patterns use is a word a typo may be corrected to, and a word that is
# never "corrected" into another ("processed" is not a misspelt "process").
_PATTERN_WORDS = frozenset(
    w for _, _, rx in PATTERNS for w in re.findall(r"[a-z']{4,}", re.sub(r"\\[a-zA-Z]", " ", rx))
)
# Words the patterns care about: a misspelt token close to one of these is read as it.
VOCABULARY: frozenset[str] = BASE_VOCABULARY | _PATTERN_WORDS
_VOCAB_LIST = sorted(VOCABULARY)


@lru_cache(maxsize=8192)
def correct_token(token: str) -> str:
    """The token, its shorthand expansion, its stem when the stem is a vocabulary word
    ("refunding", "agents"), or the vocabulary word it is a typo of. A typo keeps its first
    letter and its length within two: "except" is not a misspelt "exception"."""
    if token in SHORTHAND:
        return SHORTHAND[token]
    if token in VOCABULARY or len(token) < 4 or token.isdigit() or token in NOT_TYPOS:
        return token
    for suffix in SUFFIXES:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 4:
            for candidate in (stem, stem + "e"):
                if candidate in VOCABULARY:
                    return candidate
    cutoff = 0.8 if len(token) < 7 else 0.75
    for close in difflib.get_close_matches(token, _VOCAB_LIST, n=3, cutoff=cutoff):
        # An inflection ("opened") is not a typo of its stem ("open").
        inflection = any(token == close + end or close == token + end for end in INFLECTIONS)
        if close[0] == token[0] and abs(len(close) - len(token)) <= 2 and not inflection:
            return close
    return token


_DURATION = re.compile(rf"\b({NUMBER})(?:\s+|-)(?:full\s+)?(day|week|month)s?\b")


def _duration(found: re.Match[str]) -> str:
    amount = found.group(1)
    n = (
        int(amount)
        if amount.isdigit()
        else NUMBER_WORDS.get(amount, 1 if amount in ("a", "an") else 3)
    )
    return "long duration" if n * UNIT_DAYS[found.group(2)] >= LONG_DAYS else "duration"


_LEXICON_RX = tuple((re.compile(rf"\b{rx}\b"), word) for rx, word in LEXICON)


def _rewrite(text: str) -> str:
    """Synonyms become the lexicon's word. Spans of time become one word, "duration", or
    "long duration" when a return window may have closed in it, so patterns name the idea once
    instead of every number."""
    for pattern, word in _LEXICON_RX:
        text = pattern.sub(word, text)
    return _DURATION.sub(_duration, text)


def normalise(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Lower-cased tokens joined by spaces, with typos corrected; and the corrections made."""
    # "$89" is money: keep it as a word the tokeniser keeps.
    body = clean(text).lower().translate(_APOSTROPHES).replace("$", " dollars ")
    tokens = _TOKEN.findall(body)
    out: list[str] = []
    corrections: list[tuple[str, str]] = []
    for token in tokens:
        fixed = correct_token(token)
        if fixed != token:
            corrections.append((token, fixed))
        out.append(fixed)
    return _rewrite(" ".join(out)), tuple(corrections)


class RuleClassifier:
    """Weighted patterns over normalised text; the highest total wins."""

    threshold = 2.0

    def classify(self, text: str) -> Classification:
        normalised, corrections = normalise(text[:20_000])
        evidence: list[Evidence] = []
        scores: dict[Intent, float] = {}
        for intent, weight, pattern in _COMPILED:
            found = pattern.search(normalised)
            if found is None:
                continue
            # "I don't want to return it, where's my refund": the return is ruled out.
            if intent in _NEGATABLE and _negated(normalised, found):
                evidence.append(Evidence(intent, "negated: " + pattern.pattern, 0.0, ""))
                continue
            evidence.append(Evidence(intent, pattern.pattern, weight, found.group(0)))
            scores[intent] = scores.get(intent, 0.0) + weight
        # A message about a refund that asks where the return is, is about the refund; a late
        # return mentions returning: the more specific intent keeps its lead by weight alone.
        ranked = tuple(sorted(scores.items(), key=lambda kv: (-kv[1], list(Intent).index(kv[0]))))
        if not ranked or ranked[0][1] < self.threshold:
            return Classification(
                Intent.UNKNOWN,
                ranked[0][1] if ranked else 0.0,
                tuple(evidence),
                ranked,
                normalised,
                corrections,
            )
        best, score = ranked[0]
        # Asking for a person wins over whatever else the message asks: a person answers both.
        if best is not Intent.HUMAN and scores.get(Intent.HUMAN, 0.0) >= 5.0:
            best, score = Intent.HUMAN, scores[Intent.HUMAN]
            evidence.append(Evidence(best, "precedence: asks for a person", 0.0, ""))
        # Asking to return after the window is a return outside the window, whatever else the
        # message says about returning; and so is a refund question about a return's refund.
        if best is Intent.START_RETURN and scores.get(Intent.RETURN_EXCEPTION, 0.0) >= 3.0:
            best, score = Intent.RETURN_EXCEPTION, scores[Intent.RETURN_EXCEPTION]
            evidence.append(Evidence(best, "precedence: outside the window", 0.0, ""))
        elif best is Intent.RETURN_STATUS and scores.get(Intent.REFUND_STATUS, 0.0) >= 7.0:
            best, score = Intent.REFUND_STATUS, scores[Intent.REFUND_STATUS]
            evidence.append(Evidence(best, "precedence: asks where the refund is", 0.0, ""))
        return Classification(best, score, tuple(evidence), ranked, normalised, corrections)


DEFAULT_CLASSIFIER: Classifier = RuleClassifier()
