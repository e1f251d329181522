"""Loop's warehouse API (reference §1.3): one method per endpoint we call.

Authentication is the ``X-Authorization`` header carrying the API key. Loop allows 300 requests
a minute per key; every call draws from the process-wide ``loop`` bucket that the search
connector shares (same key, rate and burst, so neither replaces the other's bucket).
"""

from __future__ import annotations

from typing import Any

import httpx

from returnhub.connectors.errors import ConfigurationError
from returnhub.connectors.http import send
from returnhub.connectors.ratelimit import TokenBucket, shared_bucket
from returnhub.settings import Settings

RATE_PER_SECOND = 300 / 60
BURST = 10
# Loop refuses notes of 255 characters or more.
NOTE_MAX_CHARS = 254


def loop_bucket() -> TokenBucket:
    return shared_bucket("loop", RATE_PER_SECOND, BURST)


class LoopClient:
    def __init__(
        self, base_url: str, api_key: str, http: httpx.Client, bucket: TokenBucket
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client) -> LoopClient:
        key = settings.loop_api_key.get_secret_value()
        if not key:
            raise ConfigurationError(
                "RETURNHUB_LOOP_API_KEY is empty: set a Loop API key with the Returns scope "
                "(Loop admin → Developer Tools) to push warehouse decisions to Loop"
            )
        return cls(settings.loop_base_url, key, http, loop_bucket())

    def _post(self, path: str, json: dict[str, Any] | None = None) -> httpx.Response:
        self.bucket.acquire()
        return send(
            self.http,
            "POST",
            f"{self.base_url}{path}",
            headers={"X-Authorization": self.api_key, "Accept": "application/json"},
            json=json,
        )

    def process_return(self, return_id: str) -> None:
        """``POST /warehouse/return/{id}/process``: archive and fulfil the remaining outcomes."""
        self._post(f"/warehouse/return/{return_id}/process")

    def flag_return(self, return_id: str) -> None:
        """``POST /warehouse/return/{id}/flag``: stop automation, send to Needs Review. No body:
        Loop takes no parameters here, so the reason goes in a note."""
        self._post(f"/warehouse/return/{return_id}/flag")

    def close_return(self, return_id: str) -> None:
        """``POST /warehouse/return/{id}/close``: close without issuing outcomes."""
        self._post(f"/warehouse/return/{return_id}/close")

    def create_note(self, return_id: str, content: str) -> None:
        """``POST /warehouse/return/{id}/note`` with ``{"content": …}``, cut to Loop's limit."""
        self._post(f"/warehouse/return/{return_id}/note", {"content": fit_note(content)})


def fit_note(content: str) -> str:
    if len(content) <= NOTE_MAX_CHARS:
        return content
    return content[: NOTE_MAX_CHARS - 1].rstrip() + "…"
