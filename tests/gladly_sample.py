"""Gladly's sample request verifier (``gladly/lookup-practice``, ``helpers/index.js``,
``validateGladlySignature``) ported line by line, to sign test requests the way that verifier
reads them, independently of returnhub's own signing module. Source: tests/fixtures/gladly/.

For requests without a query string (the sample's path line then equals the path). It hashes the
body as given, where the sample re-serialises ``req.body``: the same bytes for compact JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

# JavaScript's \s (WhiteSpace and LineTerminator), which both String.prototype.trim and the
# sample's split(/\s+/) use.
_JS_S = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_RUN = re.compile(f"[{_JS_S}]+")
_EDGES = re.compile(f"^[{_JS_S}]+|[{_JS_S}]+$")


def js_trim(value: str) -> str:
    return _EDGES.sub("", value)


def sample_authorization(
    key: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    collapse: bool = True,
) -> str:
    """The Gladly-Authorization value the sample verifier accepts for these headers (all signed,
    sorted). ``collapse=False`` signs trimmed values only, as Gladly's request-signing page says."""
    # requestHeaders[k.toLowerCase().trim()] = v.trim();
    request_headers = {k.lower().strip(): js_trim(v) for k, v in headers.items()}
    signed = ";".join(sorted(request_headers))
    # STEP 1
    body_hash = hashlib.sha256(body).hexdigest()
    # STEP 2: `${header}:${requestHeaders[header].split(/\s+/).join(' ').trim()}\n`
    combo = f"{method}\n{path}\n\n"
    for header in signed.split(";"):
        value = request_headers[header]
        if collapse:
            value = js_trim(" ".join(_RUN.split(value)))
        combo += f"{header}:{value}\n"
    combo += f"\n{signed}\n{body_hash}"
    combo_hash = hashlib.sha256(combo.encode()).hexdigest()
    # STEP 3
    gladly_time = request_headers["gladly-time"]
    request_date = gladly_time.split("T")[0]
    signing_key = hmac.new(key.encode(), request_date.encode(), hashlib.sha256).digest()
    # STEP 4
    string_to_sign = f"hmac-sha256\n{gladly_time}\n{combo_hash}"
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"SigningAlgorithm=hmac-sha256, SignedHeaders={signed}, Signature={signature}"
