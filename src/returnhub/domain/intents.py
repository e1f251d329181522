"""Intent detection for the self-service guide: deterministic, offline and explainable (pure).

``RuleClassifier`` cleans a message (greetings, signatures, quoted replies and "sent from my
phone" lines go), splits it into tokens, corrects typos against the vocabulary the patterns use
(``difflib``, cached per token), then adds up the weights of the patterns that match. The best
intent wins when its score reaches ``threshold``; otherwise the message is ``unknown``. Every match
is kept as evidence, so the guide can say why it understood what it understood. Anything with the
same ``classify`` signature (a model, say) can stand in for it: see ``Classifier``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Protocol


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
        if len(self.ranked) < 2:
            return None
        second, score = self.ranked[1]
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

IN = Intent
# (intent, weight, regex over corrected, normalised text). Ordered by intent for readability.
PATTERNS: tuple[tuple[Intent, float, str], ...] = (
    # Return status: where is it, did you get it, tracking.
    (IN.RETURN_STATUS, 3.0, r"\b(where|wheres|whats|what's)\b.{0,25}\breturn(ed)?\b"),
    (IN.RETURN_STATUS, 3.0, r"\b(status|update|progress)\b.{0,25}\b(return|rma|package|parcel)\b"),
    (IN.RETURN_STATUS, 3.0, r"\breturn(ed)?\b.{0,50}\b(status|update|progress)\b"),
    (IN.RETURN_STATUS, 2.5, r"\b(track|tracking)\b.{0,30}\b(return|rma|package|parcel|label)?"),
    (
        IN.RETURN_STATUS,
        3.0,
        r"\b(did|have|has)\b.{0,20}\b(you|u|warehouse|anyone|it)\b.{0,20}"
        r"\b(receive|received|get|got|arrive|arrived)\b",
    ),
    (IN.RETURN_STATUS, 2.5, r"\b(shipped|sent|mailed|dropped)\b.{0,30}\b(back|off|return)\b"),
    (IN.RETURN_STATUS, 2.0, r"\brma\b"),
    (
        IN.RETURN_STATUS,
        3.0,
        r"\b(return|returned|package|parcel|it)\b.{0,25}\b(received|arrived|arrive|made it|on it's"
        r" way|get there|got there|reached|reach|delivered to you|processed)\b",
    ),
    (IN.RETURN_STATUS, 2.0, r"\b(any news|heard nothing|no update|haven't heard|not heard)\b"),
    (IN.RETURN_STATUS, 1.5, r"\b(package|parcel|box)\b.{0,30}\b(back|return)"),
    # Refund status: money back, when, how much.
    (IN.REFUND_STATUS, 4.0, r"\brefund(ed|s)?\b"),
    (IN.REFUND_STATUS, 3.5, r"\b(money|cash|funds)\b.{0,15}\bback\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(where|when|what)\b.{0,20}\brefund"),
    (
        IN.REFUND_STATUS,
        3.5,
        r"\b(no money|owe me|owed|dollars|\d+ (usd|eur|gbp)|my (visa|mastercard))\b",
    ),
    (IN.REFUND_STATUS, 4.0, r"\bhow much\b.{0,25}\b(back|refund|refunded)\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(reimburse|reimbursed|reimbursement|credited|credit back)\b"),
    (IN.REFUND_STATUS, 2.5, r"\b(store credit|gift card)\b.{0,30}\b(when|where|yet|still)\b"),
    (IN.REFUND_STATUS, 2.0, r"\b(charged|charge|paid|payment)\b.{0,30}\b(back|still|yet|when)\b"),
    (IN.REFUND_STATUS, 1.5, r"\b(bank|card|paypal|account)\b.{0,25}\b(yet|still|not|nothing)\b"),
    # Start a return: wants to send something back.
    (
        IN.START_RETURN,
        4.0,
        r"\b(want|wanna|need|like|going|trying|looking|would like|plan|can i|could i|how (do|can)"
        r" i|how to)\b.{0,20}\b(return|send back|send it back|exchange|swap)\b",
    ),
    (
        IN.START_RETURN,
        3.5,
        r"\b(start|begin|make|open|create|initiate|process)\b.{0,15}\breturns?\b",
    ),
    (IN.START_RETURN, 3.0, r"\b(return|send back|exchange)\s+(this|these|the|my|it|them)\b"),
    (IN.START_RETURN, 3.0, r"\b(return (label|link|form|portal|request))\b"),
    (IN.START_RETURN, 3.0, r"\bsend (this|it|them|these|that) back\b"),
    (IN.START_RETURN, 3.0, r"\b(where|how) (do|can|should) i\b.{0,15}\b(return|send)\b"),
    (
        IN.START_RETURN,
        2.5,
        r"\b(too (small|big|large|tight|loose|short|long)|doesn't fit|does not fit|dont fit"
        r"|don't fit|didn't fit|wrong size|not fit|doesnt fit)\b",
    ),
    (IN.START_RETURN, 2.0, r"\b(damaged|broken|defective|ripped|torn|faulty|wrong item)\b"),
    (IN.START_RETURN, 2.0, r"\b(don't like|dont like|not what i expected|changed my mind)\b"),
    (IN.START_RETURN, 1.0, r"\breturn\b"),
    # Outside the window: late, missed, expired, exception.
    (
        IN.RETURN_EXCEPTION,
        6.0,
        r"\b(missed|miss|passed|past|over|outside|after|beyond|expired|closed|ended|exceeded)\b"
        r".{0,25}\b(window|deadline|period|policy|cutoff|cut off|time limit|return by)\b",
    ),
    (
        IN.RETURN_EXCEPTION,
        6.0,
        r"\b(window|deadline|period|time limit)\b.{0,25}\b(passed|expired|closed|over|ended|gone"
        r"|missed|is up)\b",
    ),
    (IN.RETURN_EXCEPTION, 5.0, r"\b(too late|late to return|late return|return late|a bit late)\b"),
    (IN.RETURN_EXCEPTION, 5.0, r"\b(exception|make an exception|one[- ]time|extension|extend)\b"),
    (
        IN.RETURN_EXCEPTION,
        4.5,
        r"\b(after|over|more than|past|beyond)\s+(the\s+)?(\d+|thirty|sixty|two|three|a few)\s+"
        r"(days?|weeks|months)\b",
    ),
    (IN.RETURN_EXCEPTION, 4.0, r"\b(days? late|weeks? late|(is|it's|its) (been )?(over|past))\b"),
    (IN.RETURN_EXCEPTION, 3.0, r"\b(still (return|send)|can i still)\b"),
    (
        IN.RETURN_EXCEPTION,
        3.0,
        r"\b(day \d+|\d+ days (ago|late|now|since)|(it's|its) been (\d+|two|three|a few|over a|a)"
        r" (days|weeks|months|month)|(return|send) it (in|on) time)\b",
    ),
    # A person.
    (
        IN.HUMAN,
        6.0,
        r"\b(human|person|agent|representative|rep|someone|somebody|real people|live chat|"
        r"operator|staff|manager|supervisor|customer (service|support|care)|member of your team"
        r"|human being)\b",
    ),
    (IN.HUMAN, 4.0, r"\b(talk|speak|chat|call|phone)\b.{0,15}\b(to|with|me|you)\b"),
    (IN.HUMAN, 3.0, r"\b(not a bot|stop the bot|you're a bot|are you a bot|useless bot)\b"),
    (IN.HUMAN, 2.0, r"\b(complaint|complain|escalate)\b"),
)

_COMPILED = tuple((intent, weight, re.compile(rx)) for intent, weight, rx in PATTERNS)

# Words the patterns care about: a misspelt token close to one of these is read as it.
VOCABULARY = frozenset(
    {
        "return",
        "returned",
        "returns",
        "refund",
        "refunded",
        "status",
        "update",
        "tracking",
        "track",
        "package",
        "parcel",
        "received",
        "receive",
        "arrived",
        "where",
        "window",
        "deadline",
        "period",
        "expired",
        "missed",
        "exception",
        "extension",
        "human",
        "person",
        "agent",
        "representative",
        "someone",
        "somebody",
        "speak",
        "talk",
        "money",
        "reimburse",
        "reimbursement",
        "credited",
        "exchange",
        "start",
        "label",
        "shipped",
        "policy",
        "passed",
        "closed",
        "customer",
        "service",
        "supervisor",
        "manager",
        "operator",
        "jacket",
        "order",
        "progress",
        "defective",
        "damaged",
        "change",
        "initiate",
        "create",
        "process",
        "cutoff",
        "please",
        "still",
        "want",
        "would",
        "could",
        "should",
        "again",
        "already",
        "thanks",
        "hello",
        "account",
        "payment",
        "charged",
        "because",
        "really",
        "didn't",
        "doesn't",
        "haven't",
        "wasn't",
        "weeks",
        "days",
        "months",
        "complaint",
        "escalate",
        "through",
        "about",
        "after",
        "there",
        "their",
        "small",
        "large",
    }
)
_VOCAB_LIST = sorted(VOCABULARY)
# Deliberate spellings of their own, not typos.
_SHORTHAND = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "rtn": "return",
    "retrun": "return",
    "reutrn": "return",
    "refnd": "refund",
    "rfnd": "refund",
    "wheres": "where is",
    "where's": "where is",
    "wots": "whats",
    "wat": "what",
    "wen": "when",
    "im": "i'm",
    "dont": "don't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "cant": "can't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "wont": "won't",
    "isnt": "isn't",
    "its": "it's",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "tho": "though",
    "yall": "you",
    "ppl": "people",
    "smth": "something",
    "sth": "something",
    "thx": "thanks",
    "ty": "thanks",
    "rn": "right now",
    "asap": "soon",
    "ive": "i've",
    "idk": "i don't know",
    "coz": "because",
    "cuz": "because",
    "bc": "because",
    "b4": "before",
    "2": "to",
    "tracking#": "tracking",
    "returnd": "returned",
    "returns": "return",
    "recieved": "received",
    "recieve": "receive",
    "refunds": "refund",
}


@lru_cache(maxsize=8192)
def correct_token(token: str) -> str:
    """The token, its shorthand expansion, or the vocabulary word it is a typo of."""
    if token in _SHORTHAND:
        return _SHORTHAND[token]
    if token in VOCABULARY or len(token) < 4 or token.isdigit():
        return token
    cutoff = 0.8 if len(token) < 7 else 0.75
    close = difflib.get_close_matches(token, _VOCAB_LIST, n=1, cutoff=cutoff)
    return close[0] if close else token


def normalise(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Lower-cased tokens joined by spaces, with typos corrected; and the corrections made."""
    tokens = _TOKEN.findall(clean(text).lower().translate(_APOSTROPHES))
    out: list[str] = []
    corrections: list[tuple[str, str]] = []
    for token in tokens:
        fixed = correct_token(token)
        if fixed != token:
            corrections.append((token, fixed))
        out.append(fixed)
    return " ".join(out), tuple(corrections)


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
