"""The intent classifier's data: weighted patterns, vocabulary, shorthand, synonyms (no logic).

``domain/intents.py`` compiles and applies these tables; they live apart so that tuning the
classifier (a new pattern, a synonym, a word that is not a typo) is an edit to data alone.
Intents are named by their values (``Intent("return_status")``) so this module imports nothing.
"""

from __future__ import annotations

# The intents the patterns vote for (values of ``domain.intents.Intent``).
RETURN_STATUS = "return_status"
REFUND_STATUS = "refund_status"
START_RETURN = "start_return"
RETURN_EXCEPTION = "return_exception"
HUMAN = "human"

# (intent, weight, regex over corrected, normalised text). Ordered by intent for readability.
PATTERNS: tuple[tuple[str, float, str], ...] = (
    # Return status: where is it, did you get it, tracking.
    (RETURN_STATUS, 3.0, r"\b(where|wheres|whats|what's)\b.{0,25}\breturn(ed)?\b"),
    (RETURN_STATUS, 3.0, r"\b(status|update|progress)\b.{0,25}\b(return|rma|package|parcel)\b"),
    (RETURN_STATUS, 3.0, r"\breturn(ed)?\b.{0,50}\b(status|update|progress)\b"),
    (RETURN_STATUS, 2.5, r"\b(track|tracking)\b.{0,30}\b(return|rma|package|parcel|label)?"),
    (
        RETURN_STATUS,
        3.0,
        r"\b(did|have|has)\b.{0,20}\b(you|u|warehouse|anyone|anybody|someone|it)\b.{0,20}"
        r"\b(receive|received|get|got|arrive|arrived|log|logged|scan|scanned|check|checked"
        r"|process|processed|sign|signed|open|opened|unpack|unpacked)\b",
    ),
    (RETURN_STATUS, 2.5, r"\b(shipped|sent|mailed|dropped)\b.{0,30}\b(back|off|return)\b"),
    (RETURN_STATUS, 2.0, r"\brma\b"),
    (
        RETURN_STATUS,
        3.0,
        r"\b(return|returned|package|parcel|it)\b.{0,25}\b(received|arrived|arrive|made it|on it's"
        r" way|get there|got there|reached|reach|delivered to you|processed)\b",
    ),
    (RETURN_STATUS, 2.0, r"\b(any news|heard nothing|no update|haven't heard|not heard)\b"),
    (
        RETURN_STATUS,
        3.0,
        r"\b(is|has|was|did)\b.{0,15}\b(it|return|package|parcel|item|they)\b.{0,10}"
        r"\b(processed|approved|checked in|logged|delivered|scanned|accepted|arrived)\b",
    ),
    (
        RETURN_STATUS,
        3.0,
        r"\b(what happened|happened to|how is|how's|going on)\b.{0,25}\breturn",
    ),
    (RETURN_STATUS, 2.5, r"\b(says|shows|showing) (delivered|received)\b"),
    (RETURN_STATUS, 3.0, r"\b(received by you|update on)\b"),
    (RETURN_STATUS, 3.0, r"\b(what|which) (stage|step|point)\b|\bwhere\b.{0,15}\bnow\b"),
    (
        RETURN_STATUS,
        2.5,
        r"\b(courier|carrier|ups|fedex|usps|dhl|post office|driver)\b.{0,15}"
        r"\b(picked|collected|took|scanned)\b",
    ),
    (
        RETURN_STATUS,
        2.0,
        r"\b(package|return|warehouse)\b.{0,40}\b(what now|what next|now what)\b",
    ),
    (RETURN_STATUS, 1.5, r"\b(package|parcel|box)\b.{0,30}\b(back|return)"),
    # Refund status: money back, when, how much.
    (REFUND_STATUS, 4.0, r"\brefund(ed|s)?\b"),
    (REFUND_STATUS, 3.5, r"\b(money|cash|funds|dollars)\b.{0,15}\bback\b"),
    (REFUND_STATUS, 3.0, r"\b(where|when)\b.{0,15}\b(my )?(money|cash|funds)\b"),
    (REFUND_STATUS, 3.0, r"\b(paid back|pay me back|repaid|reimbursed?|reimbursement)\b"),
    (REFUND_STATUS, 3.0, r"\b(where|when|what)\b.{0,20}\brefund"),
    (
        REFUND_STATUS,
        3.0,
        r"\b(when|where|how long)\b.{0,25}\b(see|get|receive|show|appear)\b.{0,20}"
        r"\b(credit|money|refund|dollars|funds)\b",
    ),
    (
        REFUND_STATUS,
        3.0,
        r"\b(credit|money|refund|dollars|funds)\b.{0,20}\b(show up|appear|come through|arrive"
        r"|hit|land|post)\b",
    ),
    # Waiting for it: "still no refund", "refund hasn't come yet".
    (
        REFUND_STATUS,
        3.0,
        r"\b(still|yet|haven't|hasn't|not|no)\b.{0,15}\brefund|\brefund\b.{0,25}\b(yet|still)\b",
    ),
    (
        REFUND_STATUS,
        3.5,
        r"\b(no money|owe me|owed|dollars|\d+ (usd|eur|gbp)|my (visa|mastercard))\b",
    ),
    (REFUND_STATUS, 4.0, r"\bhow much\b.{0,25}\b(back|refund|refunded)\b"),
    (REFUND_STATUS, 3.0, r"\b(reimburse|reimbursed|reimbursement|credited|credit back)\b"),
    (REFUND_STATUS, 2.5, r"\b(store credit|gift card)\b.{0,30}\b(when|where|yet|still)\b"),
    (REFUND_STATUS, 2.0, r"\b(charged|charge|paid|payment)\b.{0,30}\b(back|still|yet|when)\b"),
    (
        REFUND_STATUS,
        2.5,
        r"\b(bank|card|paypal|account|amex|visa|mastercard|statement)\b.{0,25}"
        r"\b(yet|still|not|nothing|no)\b",
    ),
    (REFUND_STATUS, 2.5, r"\b(not|no|nothing)\b.{0,20}\b(bank|card|paypal|amex|statement)\b"),
    # Start a return: wants to send something back.
    (
        START_RETURN,
        4.0,
        r"\b(want|wanna|need|like|going|trying|looking|would like|plan|can i|could i|how (do|can)"
        r" i|how to)\b.{0,20}\b(return|send back|send it back|exchange|swap)\b",
    ),
    (
        START_RETURN,
        3.5,
        r"\b(start|begin|make|open|create|initiate|process)\b.{0,15}\breturns?\b",
    ),
    (START_RETURN, 3.0, r"\b(return|send back|exchange)\s+(this|these|the|my|it|them)\b"),
    (START_RETURN, 3.0, r"\b(return (label|link|form|portal|request))\b"),
    (START_RETURN, 3.0, r"\bsend (this|it|them|these|that) back\b"),
    (
        START_RETURN,
        3.0,
        r"\bsend\b.{0,15}\bback\b|\bhow (to|do i|can i|should i) (return|send)\b",
    ),
    (START_RETURN, 3.0, r"\b(replacement|replace it|replace them|a new one)\b"),
    (START_RETURN, 3.0, r"\b(exchange it|returning)\b"),
    (START_RETURN, 3.0, r"\b(where|how) (do|can|should) i\b.{0,15}\b(return|send)\b"),
    (
        START_RETURN,
        2.5,
        r"\b(too (small|big|large|tight|loose|short|long)|doesn't fit|does not fit|dont fit"
        r"|don't fit|didn't fit|wrong size|not fit|doesnt fit)\b",
    ),
    (START_RETURN, 2.0, r"\b(damaged|broken|defective|ripped|torn|faulty|wrong item)\b"),
    (START_RETURN, 2.0, r"\b(don't like|dont like|not what i expected|changed my mind)\b"),
    (START_RETURN, 1.0, r"\breturn\b"),
    # Outside the window: late, missed, expired, exception.
    (
        RETURN_EXCEPTION,
        6.0,
        r"\b(missed|miss|passed|past|over|outside|after|beyond|expired|closed|ended|exceeded)\b"
        r".{0,25}\b(window|deadline|period|policy|cutoff|cut off|time limit|return by)\b",
    ),
    (
        RETURN_EXCEPTION,
        6.0,
        r"\b(window|deadline|period|time limit)\b.{0,25}\b(passed|expired|closed|over|ended|gone"
        r"|missed|is up)\b",
    ),
    (RETURN_EXCEPTION, 5.0, r"\b(too late|late to return|late return|return late|a bit late)\b"),
    (RETURN_EXCEPTION, 5.0, r"\b(exception|make an exception|one[- ]time)\b"),
    # "Extend" is about the return only with the return nearby ("extend my coupon" is not).
    (
        RETURN_EXCEPTION,
        5.0,
        r"\b(extension|extend)\b.{0,30}\b(return|window|deadline|period|time)"
        r"|\b(return|window|deadline|period)\b.{0,30}\b(extension|extend)",
    ),
    # "duration" stands for any span of days, weeks or months (see _PHRASES).
    (
        RETURN_EXCEPTION,
        4.5,
        r"\b(after|over|more than|past|beyond|outside|exceeded|longer than)\s+(the\s+)?long "
        r"duration\b",
    ),
    (RETURN_EXCEPTION, 4.0, r"\b(duration late|(is|it's) (been )?(over|past))\b"),
    (RETURN_EXCEPTION, 3.0, r"\b(still (return|send|exchange)|can i still)\b"),
    (
        RETURN_EXCEPTION,
        3.0,
        r"\b(day \d+|(it's|has|have|it has) been (over |more than |almost |nearly )?"
        r"long duration(?! since)"
        r"|(bought|ordered|got|received|purchased|delivered)\b.{0,15}\blong duration ago"
        r"|(return|send) it (in|on) time|in time)\b",
    ),
    (RETURN_EXCEPTION, 2.0, r"\blong duration (ago|now)\b"),
    (
        RETURN_EXCEPTION,
        5.0,
        r"\blong duration (have |has |are |is )?(passed|expired|is up|are up|over)\b",
    ),
    (RETURN_EXCEPTION, 3.0, r"\b(grace period|flexib\w*|allow it|let it slide|limit)\b"),
    # A person.
    # Who they want: words that only ever mean a person at the shop weigh a lot; "someone" or
    # "person" only with a request (they also appear in "someone at your warehouse signed").
    (
        HUMAN,
        6.0,
        r"\b(human|agent|representative|rep|real people|live chat|operator|staff|manager|"
        r"supervisor|customer (service|support|care)|member of (your|the) team|human being|"
        r"real person|actual person|live person|someone (real|from your team)|your team)\b",
    ),
    (HUMAN, 1.5, r"\b(person|someone|somebody|anyone|people)\b"),
    (
        HUMAN,
        4.0,
        r"\b(talk|speak|chat|call|phone|contact|connect|transfer|put me through|get me|"
        r"give me)\b.{0,15}\b(to|with|me|you|someone|somebody|person|human|agent)\b",
    ),
    (
        HUMAN,
        4.0,
        r"\b(number to call|call me|call you|ring me|call back|callback|email me"
        r"|get back to me|contact me|reach out)\b",
    ),
    (HUMAN, 3.0, r"\b(not a bot|stop the bot|you're a bot|are you a bot|useless bot|robot)\b"),
    (HUMAN, 4.0, r"\b(complaint|complain|escalate)\b"),
)

# Words the patterns care about: a misspelt token close to one of these is read as it.
BASE_VOCABULARY: frozenset[str] = frozenset(
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

# Deliberate spellings of their own, not typos.
SHORTHAND: dict[str, str] = {
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
NOT_TYPOS: frozenset[str] = frozenset(
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
SUFFIXES = ("ing", "es", "s")
INFLECTIONS = ("d", "ed", "ing", "s", "es", "er", "ers", "ly")

# Amounts a span of time is counted in ("two weeks", "a couple of months").
NUMBER = (
    r"\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|sixty|ninety|a few|few|several|a couple of|couple of|a couple|couple"
)

# A few, several and a couple count as three (see intents._duration).
NUMBER_WORDS: dict[str, int] = {
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
UNIT_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}
LONG_DAYS = 14
"""A span this long or longer may be past a return window ("after a day" is not)."""

# Synonym lexicon: the many ways of saying one thing become the words the patterns use.
LEXICON: tuple[tuple[str, str], ...] = (
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
