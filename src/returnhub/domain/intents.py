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
        r"\b(did|have|has)\b.{0,20}\b(you|u|warehouse|anyone|anybody|someone|it)\b.{0,20}"
        r"\b(receive|received|get|got|arrive|arrived|log|logged|scan|scanned|check|checked"
        r"|process|processed|sign|signed|open|opened|unpack|unpacked)\b",
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
    (
        IN.RETURN_STATUS,
        3.0,
        r"\b(is|has|was|did)\b.{0,15}\b(it|return|package|parcel|item|they)\b.{0,10}"
        r"\b(processed|approved|checked in|logged|delivered|scanned|accepted|arrived)\b",
    ),
    (
        IN.RETURN_STATUS,
        3.0,
        r"\b(what happened|happened to|how is|how's|going on)\b.{0,25}\breturn",
    ),
    (IN.RETURN_STATUS, 2.5, r"\b(says|shows|showing) (delivered|received)\b"),
    (IN.RETURN_STATUS, 3.0, r"\b(received by you|update on)\b"),
    (IN.RETURN_STATUS, 3.0, r"\b(what|which) (stage|step|point)\b|\bwhere\b.{0,15}\bnow\b"),
    (
        IN.RETURN_STATUS,
        2.5,
        r"\b(courier|carrier|ups|fedex|usps|dhl|post office|driver)\b.{0,15}"
        r"\b(picked|collected|took|scanned)\b",
    ),
    (
        IN.RETURN_STATUS,
        2.0,
        r"\b(package|return|warehouse)\b.{0,40}\b(what now|what next|now what)\b",
    ),
    (IN.RETURN_STATUS, 1.5, r"\b(package|parcel|box)\b.{0,30}\b(back|return)"),
    # Refund status: money back, when, how much.
    (IN.REFUND_STATUS, 4.0, r"\brefund(ed|s)?\b"),
    (IN.REFUND_STATUS, 3.5, r"\b(money|cash|funds|dollars)\b.{0,15}\bback\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(where|when)\b.{0,15}\b(my )?(money|cash|funds)\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(paid back|pay me back|repaid|reimbursed?|reimbursement)\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(where|when|what)\b.{0,20}\brefund"),
    (
        IN.REFUND_STATUS,
        3.0,
        r"\b(when|where|how long)\b.{0,25}\b(see|get|receive|show|appear)\b.{0,20}"
        r"\b(credit|money|refund|dollars|funds)\b",
    ),
    (
        IN.REFUND_STATUS,
        3.0,
        r"\b(credit|money|refund|dollars|funds)\b.{0,20}\b(show up|appear|come through|arrive"
        r"|hit|land|post)\b",
    ),
    # Waiting for it: "still no refund", "refund hasn't come yet".
    (
        IN.REFUND_STATUS,
        3.0,
        r"\b(still|yet|haven't|hasn't|not|no)\b.{0,15}\brefund|\brefund\b.{0,25}\b(yet|still)\b",
    ),
    (
        IN.REFUND_STATUS,
        3.5,
        r"\b(no money|owe me|owed|dollars|\d+ (usd|eur|gbp)|my (visa|mastercard))\b",
    ),
    (IN.REFUND_STATUS, 4.0, r"\bhow much\b.{0,25}\b(back|refund|refunded)\b"),
    (IN.REFUND_STATUS, 3.0, r"\b(reimburse|reimbursed|reimbursement|credited|credit back)\b"),
    (IN.REFUND_STATUS, 2.5, r"\b(store credit|gift card)\b.{0,30}\b(when|where|yet|still)\b"),
    (IN.REFUND_STATUS, 2.0, r"\b(charged|charge|paid|payment)\b.{0,30}\b(back|still|yet|when)\b"),
    (
        IN.REFUND_STATUS,
        2.5,
        r"\b(bank|card|paypal|account|amex|visa|mastercard|statement)\b.{0,25}"
        r"\b(yet|still|not|nothing|no)\b",
    ),
    (IN.REFUND_STATUS, 2.5, r"\b(not|no|nothing)\b.{0,20}\b(bank|card|paypal|amex|statement)\b"),
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
    (
        IN.START_RETURN,
        3.0,
        r"\bsend\b.{0,15}\bback\b|\bhow (to|do i|can i|should i) (return|send)\b",
    ),
    (IN.START_RETURN, 3.0, r"\b(replacement|replace it|replace them|a new one)\b"),
    (IN.START_RETURN, 3.0, r"\b(exchange it|returning)\b"),
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
    (IN.RETURN_EXCEPTION, 5.0, r"\b(exception|make an exception|one[- ]time)\b"),
    # "Extend" is about the return only with the return nearby ("extend my coupon" is not).
    (
        IN.RETURN_EXCEPTION,
        5.0,
        r"\b(extension|extend)\b.{0,30}\b(return|window|deadline|period|time)"
        r"|\b(return|window|deadline|period)\b.{0,30}\b(extension|extend)",
    ),
    # "duration" stands for any span of days, weeks or months (see _PHRASES).
    (
        IN.RETURN_EXCEPTION,
        4.5,
        r"\b(after|over|more than|past|beyond|outside|exceeded|longer than)\s+(the\s+)?long "
        r"duration\b",
    ),
    (IN.RETURN_EXCEPTION, 4.0, r"\b(duration late|(is|it's) (been )?(over|past))\b"),
    (IN.RETURN_EXCEPTION, 3.0, r"\b(still (return|send|exchange)|can i still)\b"),
    (
        IN.RETURN_EXCEPTION,
        3.0,
        r"\b(day \d+|(it's|has|have|it has) been (over |more than |almost |nearly )?"
        r"long duration(?! since)"
        r"|(bought|ordered|got|received|purchased|delivered)\b.{0,15}\blong duration ago"
        r"|(return|send) it (in|on) time|in time)\b",
    ),
    (IN.RETURN_EXCEPTION, 2.0, r"\blong duration (ago|now)\b"),
    (
        IN.RETURN_EXCEPTION,
        5.0,
        r"\blong duration (have |has |are |is )?(passed|expired|is up|are up|over)\b",
    ),
    (IN.RETURN_EXCEPTION, 3.0, r"\b(grace period|flexib\w*|allow it|let it slide|limit)\b"),
    # A person.
    # Who they want: words that only ever mean a person at the shop weigh a lot; "someone" or
    # "person" only with a request (they also appear in "someone at your warehouse signed").
    (
        IN.HUMAN,
        6.0,
        r"\b(human|agent|representative|rep|real people|live chat|operator|staff|manager|"
        r"supervisor|customer (service|support|care)|member of (your|the) team|human being|"
        r"real person|actual person|live person|someone (real|from your team)|your team)\b",
    ),
    (IN.HUMAN, 1.5, r"\b(person|someone|somebody|anyone|people)\b"),
    (
        IN.HUMAN,
        4.0,
        r"\b(talk|speak|chat|call|phone|contact|connect|transfer|put me through|get me|"
        r"give me)\b.{0,15}\b(to|with|me|you|someone|somebody|person|human|agent)\b",
    ),
    (
        IN.HUMAN,
        4.0,
        r"\b(number to call|call me|call you|ring me|call back|callback|email me"
        r"|get back to me|contact me|reach out)\b",
    ),
    (IN.HUMAN, 3.0, r"\b(not a bot|stop the bot|you're a bot|are you a bot|useless bot|robot)\b"),
    (IN.HUMAN, 4.0, r"\b(complaint|complain|escalate)\b"),
)

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
# Every literal word the patterns use is a word a typo may be corrected to, and a word that is
# never "corrected" into another ("processed" is not a misspelt "process").
_PATTERN_WORDS = frozenset(
    w for _, _, rx in PATTERNS for w in re.findall(r"[a-z']{4,}", re.sub(r"\\[a-zA-Z]", " ", rx))
)
VOCABULARY = VOCABULARY | _PATTERN_WORDS
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
    "tracking#": "tracking",
    "returnd": "returned",
    "returns": "return",
    "recieved": "received",
    "recieve": "receive",
    "refunds": "refund",
}


# Real words that sit close to a vocabulary word and must not be "corrected" into it.
_NOT_TYPOS = frozenset(
    {
        "except",
        "expect",
        "expected",
        "person",
        "personal",
        "parcels",
        "pause",
        "return's",
        "refuse",
        "retain",
        "retail",
        "started",
        "starting",
        "status",
        "store",
        "period",
        "weekend",
        "weekly",
        "perhaps",
        "receipt",
        "another",
        "other",
        "whether",
        "where's",
        "real",
        "stuff",
        "sent",
        "seen",
        "told",
        "tags",
        "worn",
        "size",
        "sizes",
        "fits",
    }
)
# Past tenses are left alone: "returned" and "received" mean something the patterns ask about.
_SUFFIXES = ("ing", "es", "s")
_INFLECTIONS = ("d", "ed", "ing", "s", "es", "er", "ers", "ly")


@lru_cache(maxsize=8192)
def correct_token(token: str) -> str:
    """The token, its shorthand expansion, its stem when the stem is a vocabulary word
    ("refunding", "agents"), or the vocabulary word it is a typo of. A typo keeps its first
    letter and its length within two: "except" is not a misspelt "exception"."""
    if token in _SHORTHAND:
        return _SHORTHAND[token]
    if token in VOCABULARY or len(token) < 4 or token.isdigit() or token in _NOT_TYPOS:
        return token
    for suffix in _SUFFIXES:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 4:
            for candidate in (stem, stem + "e"):
                if candidate in VOCABULARY:
                    return candidate
    cutoff = 0.8 if len(token) < 7 else 0.75
    for close in difflib.get_close_matches(token, _VOCAB_LIST, n=3, cutoff=cutoff):
        # An inflection ("opened") is not a typo of its stem ("open").
        inflection = any(token == close + end or close == token + end for end in _INFLECTIONS)
        if close[0] == token[0] and abs(len(close) - len(token)) <= 2 and not inflection:
            return close
    return token


# Phrases rewritten to one canonical word after the tokens are corrected, so a pattern names
# the idea once instead of every way of saying it.
_NUMBER = (
    r"\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|sixty|ninety|a few|few|several|a couple of|couple of|a couple|couple"
)
_DURATION = re.compile(rf"\b({_NUMBER})(?:\s+|-)(?:full\s+)?(day|week|month)s?\b")
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "sixty": 60,
    "ninety": 90,
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
LONG_DAYS = 14
"""A span this long or longer may be past a return window ("after a day" is not)."""


def _duration(found: re.Match[str]) -> str:
    amount = found.group(1)
    n = (
        int(amount)
        if amount.isdigit()
        else _NUMBER_WORDS.get(amount, 1 if amount in ("a", "an") else 3)
    )
    return "long duration" if n * _UNIT_DAYS[found.group(2)] >= LONG_DAYS else "duration"


# Synonym lexicon: the many ways of saying one thing become the words the patterns use.
_LEXICON: tuple[tuple[str, str], ...] = (
    (
        r"(posted|mailed|shipped|sent|dropped|popped|returned) (it |them |this |these |that )?"
        r"(back|off)",
        "sent back",
    ),
    (r"(posted|mailed|couriered|lodged) (it|them|this|these|the \w+)", "sent back"),
    (r"(give|take|bring|hand) (it |them |this |these |that |those )?back", "send it back"),
    (
        r"(returns? (department|dept|team|centre|center|facility|office)|depot|distribution "
        r"cent(er|re)|fulfil?ment cent(er|re)|your (end|side)|your warehouse)",
        "warehouse",
    ),
    (
        r"(logged|scanned|checked in|signed for|booked in|processed|got|received|delivered) "
        r"(it |them )?(at|to|by) (you|us|the warehouse|warehouse)",
        "received by you",
    ),
    (r"(box|shipment|parcel|package|pkg|satchel)", "package"),
    (
        r"(reached|reach|got to|get to|made it to|landed at|landed with|arrived at|arrived with) "
        r"(you|us|the warehouse|warehouse)",
        "received by you",
    ),
    (r"((run|ran|running) out of time|out of time|missed the boat)", "too late"),
    (
        r"(ran out|run out|went by|went past|has passed|have passed|lapsed|elapsed|gone by)",
        "passed",
    ),
    (
        r"(checking in on|check in on|following up on|follow up on|chasing( up)?|any word on)",
        "update on",
    ),
    (r"(swap|switch|trade) (it|them|this|these|that|for)", "exchange it"),
)
_LEXICON_RX = tuple((re.compile(rf"\b{rx}\b"), word) for rx, word in _LEXICON)


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
