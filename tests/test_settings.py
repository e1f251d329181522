from __future__ import annotations

import pytest

from returnhub.settings import ConfigurationError, Settings
from tests.conftest import PRODUCTION_SECRET_KEY


def test_defaults_are_demo_with_sqlite_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETURNHUB_MODE", "RETURNHUB_DATABASE_URL", "RETURNHUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.mode == "demo"
    assert settings.database_url == "sqlite:///var/returnhub.db"
    settings.check_secrets()


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNHUB_WINDOW_REFUND_DAYS", "14")
    monkeypatch.setenv("RETURNHUB_DATABASE_URL", "postgresql://u@h/db")
    settings = Settings(_env_file=None)
    assert settings.window_refund_days == 14
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("secret", ["", "change-me", "secret", "short-but-random-Xk29"])
def test_production_refuses_weak_secret(secret: str) -> None:
    settings = Settings(mode="production", secret_key=secret, _env_file=None)
    with pytest.raises(ConfigurationError, match="RETURNHUB_SECRET_KEY"):
        settings.check_secrets()


def test_production_refuses_placeholder_connector_secret() -> None:
    settings = Settings(
        mode="production",
        secret_key=PRODUCTION_SECRET_KEY,
        loop_webhook_secret="changeme",
        _env_file=None,
    )
    with pytest.raises(ConfigurationError, match="RETURNHUB_LOOP_WEBHOOK_SECRET"):
        settings.check_secrets()


def test_production_accepts_strong_secret_and_hides_it() -> None:
    secret = "Zr8-very-long-random-secret-value-0123456789"
    settings = Settings(mode="production", secret_key=secret, _env_file=None)
    settings.check_secrets()
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())


def test_unsupported_database_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="RETURNHUB_DATABASE_URL must start with"):
        Settings(database_url="mysql://x", _env_file=None)
