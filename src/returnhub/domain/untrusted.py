"""Checks for what strangers send: JSON that cannot be stored, and links that must not run.

PostgreSQL refuses a NUL character in any text value, and no UTF-8 encoder takes a lone
surrogate (JSON's ``"\\ud800"``): either, stored, fails the whole transaction. Python's JSON
parser gives up with a RecursionError on deep nesting and a ValueError on integers longer
than 4,300 digits; neither is a JSONDecodeError. Here each becomes an ``UntrustedInput`` whose
message says what to fix, so every entry point can answer 4xx instead of 500.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

# Deeper than any payload a partner sends (Loop's deepest is 4), far below the parser's limit.
MAX_JSON_DEPTH = 32
# Minor units and ids fit in 19 digits; anything longer is not a number we store.
MAX_INTEGER_DIGITS = 30
MAX_URL_LENGTH = 500

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UntrustedInput(ValueError):
    """Input no part of the hub can store or use; ``field`` is a dotted path ("" for all)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which no text value may hold"
    if _LONE_SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate, which is not a character"
    return None


def _integer(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_INTEGER_DIGITS:
        raise UntrustedInput(
            "",
            "number_too_long",
            f"a number has {len(digits)} digits; at most {MAX_INTEGER_DIGITS}",
        )
    return int(text)


def load_json(body: bytes | str) -> Any:
    """Parse JSON from a stranger, refusing what the ledger cannot hold (see module doc).

    Raises ``json.JSONDecodeError`` for text that is not JSON and ``UntrustedInput`` for JSON
    that is too deep, has an absurd number, or holds text that cannot be stored."""
    try:
        value = json.loads(body, parse_int=_integer)
    except RecursionError:
        raise UntrustedInput(
            "", "too_deep", f"the JSON is nested too deeply; at most {MAX_JSON_DEPTH} levels"
        ) from None
    except UnicodeDecodeError:
        raise UntrustedInput("", "not_utf8", "the body is not UTF-8 text") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Raise ``UntrustedInput`` naming the first key or string that cannot be stored, or a
    nesting deeper than MAX_JSON_DEPTH. Iterative: the depth it checks cannot exhaust ours."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise UntrustedInput(
                path, "too_deep", f"the JSON is nested too deeply; at most {MAX_JSON_DEPTH} levels"
            )
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UntrustedInput(path, "invalid_text", f"the value {problem}")
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                problem = text_problem(str(key))
                if problem:
                    raise UntrustedInput(path, "invalid_text", f"a key {problem}")
                stack.append((child, where, depth + 1))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{i}" if path else str(i), depth + 1)
                for i, child in enumerate(item)
            )


def link_problem(url: str, *, allow_http: bool) -> str | None:
    """Why ``url`` may not be shown as a link to an agent or a customer, or None.

    Only absolute ``https`` URLs (and ``http`` where ``allow_http``, the demo) with a host:
    ``javascript:``, ``data:`` and the like run script when clicked, and a relative or
    scheme-relative URL would point into this hub or wherever the page is served from."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url) or text_problem(url):
        return "contains spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in allowed or not parts.hostname:
        return f"must be an absolute {' or '.join(allowed)} URL with a host name"
    return None


def safe_link(url: str, *, allow_http: bool) -> str:
    """``url`` if it may be a link (see ``link_problem``), else ""."""
    return "" if not url or link_problem(url, allow_http=allow_http) else url
