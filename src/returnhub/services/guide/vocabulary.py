"""The guide's vocabulary (data only): how customers write emails, order numbers, ZIPs and
answers to "which item?", and the words naming each request."""

from __future__ import annotations

import re

from returnhub.domain.intents import Intent

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# An order number has a digit: "my order was late" names no order (and costs no query).
ORDER_NUMBER = re.compile(
    r"(?:#\s*|\border\s*(?:number|no\.?|num)?\s*[:#]?\s*)((?=[A-Za-z-]*\d)[A-Za-z0-9-]{3,20})",
    re.I,
)
ZIP_LABELLED = re.compile(
    r"\b(?:zip|postal|post)\s*(?:code)?\s*(?:is|:)?\s*([A-Za-z0-9 -]{3,10})", re.I
)
ZIP_BARE = re.compile(r"\b(\d{5}(?:-\d{4})?)\b")

# Answers to "which item(s)?".
ALL_ITEMS = re.compile(r"\b(all|both|everything|every ?thing|every item|the lot|whole order)\b")
EXCEPT = re.compile(r"\b(except|but|not|apart from|other than|without|minus)\b")
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "last": -1}
ITEM_STOPWORDS = frozenset(
    {"the", "and", "one", "ones", "item", "items", "please", "pls", "return", "want", "them"}
)

# How a handoff names the other thing the customer asked.
ALSO_WORDS = {
    Intent.RETURN_STATUS: "the status of a return",
    Intent.REFUND_STATUS: "a refund",
    Intent.START_RETURN: "starting a return",
    Intent.RETURN_EXCEPTION: "a return outside the window",
    Intent.HUMAN: "talking to a person",
}

# A return's state as the customer reads it.
RETURN_STATE_WORDS = {
    "requested": "requested, waiting for approval",
    "authorized": "approved; waiting for you to ship it",
    "in_transit": "on its way to us",
    "received": "received at our warehouse",
    "flagged": "being reviewed by our team",
    "processed": "processed",
    "closed": "complete",
    "rejected": "not accepted",
    "cancelled": "cancelled",
    "expired": "expired",
}

# A second request that needs turns of its own is offered as a quick reply:
# (quick reply, long sentence, SMS sentence).
SECOND_REQUEST_OFFERS = {
    Intent.START_RETURN: (
        "Start a return",
        'If you\'d also like to start a return, tap "Start a return".',
        'Reply "start a return" to begin one.',
    ),
    Intent.RETURN_EXCEPTION: (
        "Return after the window",
        'About returning something after the window closed: tap "Return after the '
        "window\" and I'll check whether an exception is possible.",
        'Reply "return after the window" for a late return.',
    ),
}
