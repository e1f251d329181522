"""Gladly's published request-signing test vector, and the ways a signature can be wrong."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from returnhub.connectors.gladly import signing
from tests.gladly_sample import sample_authorization

KEY = "test-apikey-1"
BODY = (
    b'{"lookupLevel":"DETAILED","query":{"emails":["martha.williams@gmail.com"],'
    b'"externalCustomerId":"abc","favoriteDate":"2018-08-19T07:00:00.000Z",'
    b'"favoriteFood":"Apple Pie","id":"o2sg-TMTSD2rTwMuxzewbA","name":"Martha Williams",'
    b'"phones":["+15013299800"]},"uniqueMatchRequired":true}'
)
HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "gladly-correlation-id": "vXmSEPjVSWCaCMzvjufxZg",
    "x-b3-traceid": "bd799210f8d549609a08ccef8ee7f166",
    "gladly-time": "20190213T214016Z",
}
SIGNED = "accept;content-type;gladly-correlation-id;gladly-time;x-b3-traceid"
SIGNATURE = "4c633fca4914f51df04c9ec40f4545d66d653e771c6634e33eed52a242bc278c"
PATH = "/api/v2/customer/lookup"


def _headers(signature: str = SIGNATURE, signed: str = SIGNED) -> dict[str, str]:
    return {
        **HEADERS,
        "gladly-authorization": f"SigningAlgorithm=hmac-sha256, SignedHeaders={signed}, "
        f"Signature={signature}",
    }


def test_published_vector_intermediate_values() -> None:
    assert hashlib.sha256(BODY).hexdigest() == (
        "f187462a1d8e09bc86ea4b4ff8c022e5e4ed23ae783b3b1b5baee4b8d69e02ca"
    )
    canonical = signing.canonical_request("POST", PATH, "", HEADERS, tuple(SIGNED.split(";")), BODY)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "f96c13077adb3c06df1fa5fda8a6f32d7067735f63aa58d47e45fd6429d3cad3"
    )
    assert signing.signature(KEY, "20190213T214016Z", canonical) == SIGNATURE


def test_published_vector_verifies() -> None:
    signing.verify(KEY, "POST", PATH, "", _headers(), BODY)


def test_sign_headers_reproduces_the_vector() -> None:
    assert (
        signing.sign_headers(
            KEY,
            "POST",
            PATH,
            "",
            {k: v for k, v in HEADERS.items() if k != "gladly-time"},
            BODY,
            "20190213T214016Z",
        )
        == _headers()["gladly-authorization"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY + b" "}, "does not match"),
        ({"key": "other-key"}, "does not match"),
        ({"path": "/other"}, "does not match"),
        ({"headers": _headers(signature="0" * 64)}, "does not match"),
        ({"headers": {**_headers(), "x-b3-traceid": "tampered"}}, "does not match"),
        ({"headers": HEADERS}, "missing Gladly-Authorization"),
        ({"headers": _headers(signed=SIGNED + ";x-extra")}, "'x-extra' is listed"),
        ({"headers": {**_headers(), "gladly-time": "yesterday"}}, "malformed Gladly-Time"),
        (
            {
                "headers": {
                    **_headers(),
                    "gladly-authorization": "SigningAlgorithm=md5, SignedHeaders=a, Signature=b",
                }
            },
            "unsupported SigningAlgorithm",
        ),
        ({"headers": {**_headers(), "gladly-authorization": "garbage"}}, "malformed part"),
    ],
)
def test_wrong_signatures(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"key": KEY, "path": PATH, "headers": _headers(), "body": BODY}
    args.update(change)
    with pytest.raises(signing.SigningError, match=message):
        signing.verify(
            str(args["key"]),
            "POST",
            str(args["path"]),
            "",
            args["headers"],  # type: ignore[arg-type]
            args["body"],  # type: ignore[arg-type]
        )


def test_freshness_window_is_optional() -> None:
    late = datetime(2019, 2, 13, 21, 50, tzinfo=UTC)
    signing.verify(KEY, "POST", PATH, "", _headers(), BODY, now=late)
    with pytest.raises(signing.SigningError, match="away from our clock"):
        signing.verify(
            KEY, "POST", PATH, "", _headers(), BODY, max_age=timedelta(minutes=5), now=late
        )


def test_query_is_sorted() -> None:
    assert signing.sorted_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert signing.sorted_query("") == ""


def test_non_ascii_signature_is_refused_not_crashed() -> None:
    with pytest.raises(signing.SigningError, match="does not match"):
        signing.verify(KEY, "POST", PATH, "", _headers(signature="é" * 64), BODY)


def test_the_sample_verifier_port_reproduces_the_published_vector() -> None:
    assert (
        sample_authorization(KEY, "POST", PATH, HEADERS, BODY) == _headers()["gladly-authorization"]
    )


# A static header the Gladly admin typed with a double space and a tab in it.
SPACED = {**HEADERS, "x-api-key": "Acme   Returns\t\tdesk"}


def test_whitespace_runs_in_signed_values_collapse_as_gladlys_sample_verifier_reads_them() -> None:
    auth = sample_authorization(KEY, "POST", PATH, SPACED, BODY)
    signing.verify(KEY, "POST", PATH, "", {**SPACED, "gladly-authorization": auth}, BODY)


def test_a_signature_over_the_trimmed_only_value_also_verifies() -> None:
    """Gladly's request-signing page and App Platform signer only trim: such a request passes."""
    auth = sample_authorization(KEY, "POST", PATH, SPACED, BODY, collapse=False)
    signing.verify(KEY, "POST", PATH, "", {**SPACED, "gladly-authorization": auth}, BODY)


@pytest.mark.parametrize("sent", ["Acme Returns desks", "AcmeReturns desk", "Acme  Returns  desk!"])
def test_a_changed_value_fails_in_either_form(sent: str) -> None:
    for collapse in (True, False):
        auth = sample_authorization(KEY, "POST", PATH, SPACED, BODY, collapse=collapse)
        headers = {**SPACED, "x-api-key": sent, "gladly-authorization": auth}
        with pytest.raises(signing.SigningError, match="does not match"):
            signing.verify(KEY, "POST", PATH, "", headers, BODY)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("plain", "plain"),
        ("  padded  ", "padded"),
        ("a  b", "a b"),
        ("a\t \tb", "a b"),
        ("a\u00a0\u00a0b", "a b"),  # NBSP is JavaScript whitespace
        ("a\x85b", "a\x85b"),  # NEL is not (Python's str.split would split on it)
        ("a\x1cb", "a\x1cb"),  # nor the file separators
    ],
)
def test_header_value_canonical_form(raw: str, canonical: str) -> None:
    assert signing.header_value(raw) == canonical
