"""Production refuses secrets an attacker could guess, and says how to make a good one."""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr

from returnhub.domain.secret_strength import GENERATE_HINT, estimated_bits
from returnhub.settings import CHECKED_CONNECTOR_SECRETS, ConfigurationError, Settings
from tests.conftest import PRODUCTION_SECRET_KEY


def production(**values: object) -> Settings:
    return Settings(mode="production", _env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 32,
        "x" * 48,
        "abcdefghijklmnopqrstuvwxyz123456",
        "0123456789" * 4,
        "Summer2024!" * 3,
    ],
)
def test_low_entropy_secret_key_is_refused_with_how_to_generate_one(secret: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        production(secret_key=secret).check_secrets()
    message = str(refused.value)
    assert message.startswith("RETURNHUB_SECRET_KEY is too predictable")
    assert GENERATE_HINT in message


@pytest.mark.parametrize("name", CHECKED_CONNECTOR_SECRETS)
@pytest.mark.parametrize("value", ["k", "abc123", "aaaaaaaaaaaaaaaaaaaaaaaa"])
def test_short_or_low_entropy_connector_secret_is_refused(name: str, value: str) -> None:
    settings = production(secret_key=PRODUCTION_SECRET_KEY, **{name: SecretStr(value)})
    with pytest.raises(ConfigurationError) as refused:
        settings.check_secrets()
    assert str(refused.value).startswith(f"RETURNHUB_{name.upper()} ")
    assert GENERATE_HINT in str(refused.value)


def test_generated_secrets_pass() -> None:
    # What the hint prints, and what the other systems issue (Shopify: 32 hex digits).
    for _ in range(200):
        settings = production(
            secret_key=secrets.token_urlsafe(32),
            shopify_webhook_secret=SecretStr(secrets.token_hex(16)),
            generic_webhook_secret=SecretStr("whsec_" + secrets.token_urlsafe(24)),
            gladly_signing_key=SecretStr(secrets.token_urlsafe(16)),
        )
        settings.check_secrets()


def test_demo_mode_still_runs_with_nothing_configured() -> None:
    Settings(
        mode="demo", secret_key="change-me", loop_webhook_secret="k", _env_file=None
    ).check_secrets()


def test_estimate_reads_runs_and_repeats_as_predictable() -> None:
    random_hex = "88f4f16035d96be4b1902fdb7788f6c3"
    assert estimated_bits("a" * 32) < 16
    assert estimated_bits("abcdefgh" * 4) < estimated_bits("abcdefgh") + 3
    assert estimated_bits(random_hex) > 150
