"""Every connector we know, and the ones this merchant has configured."""

from __future__ import annotations

import httpx

from returnhub.connectors import ledger, returnlogic, shopify
from returnhub.connectors.base import ConnectorSpec, SearchableSystem
from returnhub.connectors.errors import ConfigurationError
from returnhub.connectors.loop import system as loop
from returnhub.connectors.ratelimit import shared_bucket
from returnhub.settings import Settings
from returnhub.store.db import Database

SPECS: dict[str, ConnectorSpec] = {
    spec.key: spec for spec in (ledger.SPEC, loop.SPEC, returnlogic.SPEC, shopify.SPEC)
}


def _secret(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return str(raw).strip()


def is_configured(spec: ConnectorSpec, settings: Settings) -> bool:
    return all(_secret(settings, name) for name in spec.settings)


def missing_settings(spec: ConnectorSpec, settings: Settings) -> list[str]:
    return [f"RETURNHUB_{n.upper()}" for n in spec.settings if not _secret(settings, n)]


def configured_systems(
    settings: Settings, db: Database, http: httpx.Client
) -> dict[str, SearchableSystem]:
    systems: dict[str, SearchableSystem] = {"returnhub": ledger.LedgerSystem(db)}
    loop_client = loop_system(settings, http)
    if loop_client is not None:
        systems["loop"] = loop_client
    if is_configured(returnlogic.SPEC, settings):
        systems["returnlogic"] = returnlogic.ReturnLogicSystem(
            settings.returnlogic_base_url, _secret(settings, "returnlogic_api_key"), http
        )
    if is_configured(shopify.SPEC, settings):
        systems["shopify"] = shopify_system(settings, http)
    return systems


def loop_system(settings: Settings, http: httpx.Client) -> loop.LoopSystem | None:
    """The Loop client, or None when its API key is not set."""
    if not is_configured(loop.SPEC, settings):
        return None
    return loop.LoopSystem(
        settings.loop_base_url,
        _secret(settings, "loop_api_key"),
        http,
        shared_bucket("loop", 300 / 60, 10),
    )


def shopify_system(settings: Settings, http: httpx.Client) -> shopify.ShopifySystem:
    """The Shopify client; ConfigurationError naming what to set when it is not configured."""
    missing = missing_settings(shopify.SPEC, settings)
    if missing:
        raise ConfigurationError(
            "Shopify's Admin API is not configured, so its returns webhooks cannot be pulled "
            "into the ledger: set RETURNHUB_SHOPIFY_BASE_URL (the shop, e.g. "
            "https://acme.myshopify.com) and RETURNHUB_SHOPIFY_ACCESS_TOKEN (an Admin API access "
            f"token with the {shopify.SCOPES} scopes), then replay the parked jobs "
            f"(returnhub outbox replay --all-dead); missing: {', '.join(missing)}"
        )
    return shopify.ShopifySystem(
        settings.shopify_base_url,
        _secret(settings, "shopify_access_token"),
        settings.shopify_api_version,
        http,
        shared_bucket("shopify", 2.0, 40),
    )
