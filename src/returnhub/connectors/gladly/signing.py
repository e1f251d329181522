"""Gladly request signing (``Gladly-Authorization``), exactly as Gladly documents it.

    canonical = METHOD \\n PATH \\n SORTED_QUERY \\n (name:value \\n per signed header)
                \\n SIGNED_HEADERS \\n hex(sha256(body))
    string_to_sign = "hmac-sha256" \\n GLADLY_TIME \\n hex(sha256(canonical))
    signing_key = HMAC_SHA256(key, GLADLY_TIME[:8])
    signature = hex(HMAC_SHA256(signing_key, string_to_sign))

The signed headers are the ones the request names in ``SignedHeaders`` (never a fixed list:
action requests carry extra headers), and the body hash is over the raw bytes received.

A header's value is canonicalised as Gladly's sample verifier does (``gladly/lookup-practice``,
``helpers/index.js``: ``value.split(/\\s+/).join(' ').trim()``): every run of whitespace becomes
one space. Gladly's request-signing page and its App Platform signer only trim, so a value with a
run of whitespace is also checked in that form before it is refused: both need the key, and
a request signed either way passes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

ALGORITHM = "hmac-sha256"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# JavaScript's \s and String.prototype.trim's set, which the sample verifier uses. Python's own
# \s differs (it adds \x1c-\x1f and \x85, lacks \ufeff), and header values hold any latin-1 byte.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_WHITESPACE_RUN = re.compile(f"[{JS_WHITESPACE}]+")
_JS_WHITESPACE_EDGES = re.compile(f"^[{JS_WHITESPACE}]+|[{JS_WHITESPACE}]+$")


class SigningError(Exception):
    """Why the request is not authenticated; safe to show to the caller."""


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    signed_headers: tuple[str, ...]
    signature: str

    @classmethod
    def parse(cls, header: str) -> Authorization:
        parts: dict[str, str] = {}
        for piece in header.split(","):
            name, sep, value = piece.strip().partition("=")
            if not sep:
                raise SigningError(f"Gladly-Authorization has a malformed part {piece.strip()!r}")
            parts[name.strip().lower()] = value.strip()
        try:
            algorithm = parts["signingalgorithm"]
            signed = parts["signedheaders"]
            signature = parts["signature"]
        except KeyError as missing:
            raise SigningError(f"Gladly-Authorization lacks {missing.args[0]}") from None
        return cls(algorithm.lower(), tuple(signed.lower().split(";")), signature.lower())


def sorted_query(query: str) -> str:
    if not query:
        return ""  # a lookup's URL has no query: skip the parse
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def header_value(value: str) -> str:
    """A signed header's value as Gladly's sample verifier reads it: whitespace runs collapsed
    to one space, then trimmed (``" a \\t b "`` → ``"a b"``)."""
    if value.isprintable() and "  " not in value:
        # The usual value: its only whitespace is single spaces (every other character of the
        # set is unprintable to Python). Skipping the regex saves a microsecond a lookup.
        return value.strip(" ")
    return _JS_WHITESPACE_RUN.sub(" ", value).strip(" ")


def trimmed_value(value: str) -> str:
    """A signed header's value as Gladly's request-signing page writes it: trimmed only."""
    return _JS_WHITESPACE_EDGES.sub("", value)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
    value: Callable[[str], str] = header_value,
) -> str:
    lines = [method.upper(), path, sorted_query(query)]
    for name in signed_headers:
        if name not in headers:
            raise SigningError(f"header {name!r} is listed in SignedHeaders but was not sent")
        lines.append(f"{name}:{value(headers[name])}")
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(hashlib.sha256(body).hexdigest())
    return "\n".join(lines)


def signature(key: str, gladly_time: str, canonical: str) -> str:
    hashed = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{gladly_time}\n{hashed}"
    signing_key = hmac.new(key.encode(), gladly_time[:8].encode(), hashlib.sha256).digest()
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def parse_gladly_time(value: str) -> datetime:
    """``YYYYMMDDTHHMMSSZ`` as a UTC datetime. Read by hand: strptime costs more than the
    rest of the signature check together, and Gladly signs every lookup."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not value[:8].isdigit():
        raise SigningError("missing or malformed Gladly-Time header (YYYYMMDDTHHMMSSZ)")
    clock = value[9:15]
    try:
        if not clock.isdigit():
            raise ValueError(clock)
        return datetime(
            int(value[:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(clock[:2]),
            int(clock[2:4]),
            int(clock[4:]),
            tzinfo=UTC,
        )
    except ValueError:
        raise SigningError("missing or malformed Gladly-Time header (YYYYMMDDTHHMMSSZ)") from None


def verify(
    key: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> None:
    """Raise SigningError unless the request carries a valid Gladly signature.

    ``headers`` must have lower-case names. ``max_age`` (off by default, as in Gladly's own
    samples) also refuses requests whose Gladly-Time is older or newer than that.
    """
    raw = headers.get("gladly-authorization")
    if not raw:
        raise SigningError(
            "missing Gladly-Authorization header: is the signing key set in the Gladly app "
            "(Settings → Apps → this app → Signing Key)?"
        )
    auth = Authorization.parse(raw)
    if auth.algorithm != ALGORITHM:
        raise SigningError(f"unsupported SigningAlgorithm {auth.algorithm!r}; expected {ALGORITHM}")
    gladly_time = headers.get("gladly-time", "")
    sent_at = parse_gladly_time(gladly_time)
    if max_age is not None:
        skew = abs((now or datetime.now(UTC)) - sent_at)
        if skew > max_age:
            raise SigningError(
                f"Gladly-Time is {int(skew.total_seconds())} s away from our clock; "
                f"the limit is {int(max_age.total_seconds())} s"
            )
    given = auth.signature.encode()
    canonical = canonical_request(method, path, query, headers, auth.signed_headers, body)
    # Bytes, not str: compare_digest refuses non-ASCII str, and headers may carry any byte.
    matches = hmac.compare_digest(signature(key, gladly_time, canonical).encode(), given)
    if not matches and any(
        header_value(headers[name]) != trimmed_value(headers[name]) for name in auth.signed_headers
    ):
        trimmed = canonical_request(
            method, path, query, headers, auth.signed_headers, body, trimmed_value
        )
        matches = hmac.compare_digest(signature(key, gladly_time, trimmed).encode(), given)
    if not matches:
        raise SigningError(
            "the Gladly-Authorization signature does not match: is RETURNHUB_GLADLY_SIGNING_KEY "
            "the signing key entered in the Gladly app, and does the proxy pass the body unchanged?"
        )


def sign_headers(
    key: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    gladly_time: str,
) -> str:
    """The Gladly-Authorization value for a request (used by tests and benchmarks)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered["gladly-time"] = gladly_time
    names = tuple(sorted(lowered))
    canonical = canonical_request(method, path, query, lowered, names, body)
    sig = signature(key, gladly_time, canonical)
    return f"SigningAlgorithm={ALGORITHM}, SignedHeaders={';'.join(names)}, Signature={sig}"
