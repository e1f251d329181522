"""Runtime configuration, read from the environment with the prefix ``RETURNHUB_``.

Secrets are ``SecretStr`` so they never show up in reprs or logs. ``production`` mode refuses to
start with a missing or known-weak secret; ``demo`` mode tolerates them so that ``make run`` works
with nothing configured.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from returnhub.domain.retry import RetryPolicy
from returnhub.domain.rules import parse_rules
from returnhub.domain.secret_strength import GENERATE_HINT, weakness

DEFAULT_DATABASE_URL = f"sqlite:///{Path('var') / 'returnhub.db'}"

# Values people paste from tutorials or leave as placeholders. A secret shorter than
# MIN_SECRET_LENGTH is weak too: the signing keys derived from it must resist brute force.
KNOWN_WEAK_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "demo", "password", "returnhub", "test", "dev"}
)
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
# Secrets that let a caller in (webhook and Gladly credentials). Some are issued by the other
# system (Shopify's client secret is 32 hex digits), so the bar is lower than our own key's.
MIN_CONNECTOR_SECRET_LENGTH = 16
MIN_CONNECTOR_SECRET_BITS = 64
CHECKED_CONNECTOR_SECRETS = (
    "loop_webhook_secret",
    "shopify_webhook_secret",
    "returnlogic_webhook_secret",
    "generic_webhook_secret",
    "gladly_signing_key",
    "gladly_header_token",
    "gladly_basic_password",
)
DEMO_SECRET_KEY = "change-me"
# Accepted as an admin API key in demo mode only, so the quickstart works without `keys create`.
DEMO_API_KEY = "rh_demo_admin_key"


# Systems with a connector of their own (connectors/registry.py) and the ledger itself.
NAMED_SYSTEMS = frozenset({"returnhub", "loop", "shopify", "returnlogic"})


class Mode(StrEnum):
    DEMO = "demo"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The settings cannot be used as they are; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNHUB_", env_file=".env", extra="ignore")

    mode: Mode = Mode.DEMO
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr = SecretStr(DEMO_SECRET_KEY)
    base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    # uvicorn's line per request: about a fifth of the CPU of a webhook or a Gladly lookup.
    access_log: bool = True

    # Return policy: days after delivery, per outcome.
    window_refund_days: int = Field(default=30, ge=0)
    window_exchange_days: int = Field(default=45, ge=0)
    window_store_credit_days: int = Field(default=60, ge=0)
    window_gift_card_days: int = Field(default=60, ge=0)
    default_phone_region: str = "US"

    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)

    # Durable delivery.
    embedded_worker: bool = True
    # thread: the worker runs inside each API process (simplest; shares that process's core).
    # process: `returnhub serve` runs one `returnhub worker` child beside its API processes.
    embedded_worker_mode: Literal["thread", "process"] = "thread"
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    # Inbound events applied together, in one transaction (1: each in its own).
    worker_batch_size: int = Field(default=32, ge=1, le=500)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_lease_seconds: int = Field(default=60, ge=1)
    outbox_retry_delays: str = "30,120,600,1800,7200,21600,54000"
    outbound_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Webhook intake answers 503 + Retry-After while more events than this wait to be applied,
    # or the oldest has waited longer (0 turns a limit off); see delivery/backlog.py.
    intake_max_backlog_events: int = Field(default=20_000, ge=0)
    intake_max_backlog_seconds: float = Field(default=120.0, ge=0)
    intake_backlog_check_seconds: float = Field(default=1.0, gt=0)
    intake_retry_after_seconds: int = Field(default=30, ge=1, le=3600)

    # Connector secrets: empty means "not configured". Later integrations read these.
    loop_api_key: SecretStr = SecretStr("")
    loop_webhook_secret: SecretStr = SecretStr("")
    shopify_webhook_secret: SecretStr = SecretStr("")
    shopify_access_token: SecretStr = SecretStr("")
    returnlogic_api_key: SecretStr = SecretStr("")
    returnlogic_webhook_secret: SecretStr = SecretStr("")
    generic_webhook_secret: SecretStr = SecretStr("")
    # The system name the generic webhook source's returns carry in the ledger (their
    # source_system); the sender can never write under another system's name.
    generic_source_system: str = Field(default="generic", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    # How far ahead of this server's clock a source's own stamp may be before its event is
    # refused (a clock that far ahead would otherwise hide every later genuine update).
    source_clock_skew_seconds: int = Field(default=300, ge=0, le=86400)
    gladly_signing_key: SecretStr = SecretStr("")
    gladly_api_token: SecretStr = SecretStr("")

    # Gladly Lookup Adaptor authentication (any configured method must pass).
    gladly_basic_username: str = ""
    gladly_basic_password: SecretStr = SecretStr("")
    gladly_header_name: str = "X-Api-Key"
    gladly_header_token: SecretStr = SecretStr("")
    # A signed request whose Gladly-Time is further than this from our clock is refused, so a
    # captured request cannot be replayed later. Gladly signs each attempt afresh and gives up
    # on a lookup after at most 15 s; the rest is room for clock skew. 0 turns the check off.
    gladly_signature_max_age_seconds: int = Field(default=300, ge=0, le=86400)
    # Gladly REST API, for timeline activity on return changes.
    gladly_base_url: str = ""
    gladly_api_user: str = ""
    gladly_activity_enabled: bool = False
    gladly_rate_limit_per_second: float = Field(default=10.0, gt=0)
    return_link_ttl_days: int = Field(default=14, ge=1, le=365)
    # Agent workspace sign-in by username and password, besides API keys:
    # "alice=<hash>;bob=<hash>", hashes from `python -m returnhub.web.passwords`.
    agent_users: SecretStr = SecretStr("")
    # Agent sessions end after this long without a request, and this long after sign-in.
    agent_session_idle_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    agent_session_max_hours: int = Field(default=12, ge=1, le=30 * 24)
    # Failed sign-ins allowed per username and per client address before each further one
    # blocks that name or address for a delay that doubles, up to the maximum (see README).
    agent_signin_free_failures: int = Field(default=5, ge=1, le=1000)
    agent_signin_address_free_failures: int = Field(default=20, ge=1, le=10_000)
    agent_signin_max_delay_seconds: int = Field(default=900, ge=1, le=86400)
    # Connected systems (federated search, linking, pulls).
    loop_base_url: str = "https://api.loopreturns.com/api/v1"
    shopify_base_url: str = ""
    shopify_api_version: str = "2025-07"
    returnlogic_base_url: str = "https://api.returnlogic.com/v1"
    search_system_timeout_seconds: float = Field(default=3.0, gt=0)
    search_budget_seconds: float = Field(default=4.0, gt=0)
    auto_link_enabled: bool = True
    # Routing rules (YAML); empty means the rules shipped in returnhub/rules/default.yaml.
    routing_rules_file: str = ""
    # Warehouse and ERP (RA → ASN/943 → receipt/944 → process or flag). See README.
    # Off by default: without a warehouse integration nobody would ever receive against an RA.
    warehouse_enabled: bool = False
    # builtin: RAs and ASNs kept by returnhub only; edi: 943/997 files out, 944 files in.
    warehouse_adapter: Literal["builtin", "edi"] = "edi"
    warehouse_outbound_dir: str = str(Path("var") / "edi" / "outbound")
    warehouse_inbound_dir: str = str(Path("var") / "edi" / "inbound")
    warehouse_auto_transmit: bool = True
    # Empty means the criteria shipped in returnhub/warehouse/criteria.yaml.
    warehouse_criteria_file: str = ""
    warehouse_scan_seconds: float = Field(default=30.0, gt=0)
    edi_sender_qualifier: str = "ZZ"
    edi_sender_id: str = "RETURNHUB"
    edi_receiver_qualifier: str = "ZZ"
    edi_receiver_id: str = "WAREHOUSE3PL"
    # Self-service guide ("Where's my return?"): refund timeline and exception criteria. An order
    # outside its window gets an exception when (VIP or closed at most grace days ago) and, with
    # first_only, the customer never had one from the guide before.
    guide_refund_days_after_receipt: int = Field(default=5, ge=0, le=365)
    guide_exception_vip: bool = True
    guide_exception_grace_days: int = Field(default=14, ge=0, le=365)
    guide_exception_first_only: bool = True
    # Wrong ZIP guesses allowed per order (or claimed customer) and per client, across all
    # conversations, before verification is refused for a doubling delay (see README).
    guide_verify_failures_per_order: int = Field(default=5, ge=1, le=1000)
    guide_verify_failures_per_client: int = Field(default=10, ge=1, le=10_000)
    # Whether the email channel's sender address identifies the customer by itself. Only when
    # the mail reaching the guide was authenticated upstream (DMARC/DKIM enforced by the help
    # desk); otherwise a forged From: would read someone else's returns, so it is a claim that
    # still needs a ZIP.
    guide_trust_email_sender: bool = False

    # Exposure to strangers (README, Security: input and pages). Every request body, except
    # the routes with caps of their own (webhooks above, the warehouse's EDI receipts), is
    # limited to this before it is read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # /docs, /redoc, /openapi.json and /metrics: None means public in demo mode and answering
    # only to an admin API key in production.
    docs_public: bool | None = None
    metrics_public: bool | None = None
    # Webhook subscriptions to private, loopback or link-local addresses (the cloud metadata
    # service, the hub's own admin ports) are refused unless this is on.
    webhook_allow_private_targets: bool = False

    @field_validator("database_url")
    @classmethod
    def _database_url_supported(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "RETURNHUB_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://"
            )
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("generic_source_system")
    @classmethod
    def _generic_system_is_its_own(cls, value: str) -> str:
        if value in NAMED_SYSTEMS:
            raise ValueError(
                f"RETURNHUB_GENERIC_SOURCE_SYSTEM cannot be {value!r}: that name belongs to a "
                "connected system, whose returns a generic sender must not change; pick the "
                "sender's own name (e.g. erp)"
            )
        return value

    @field_validator("outbox_retry_delays")
    @classmethod
    def _retry_delays_parse(cls, value: str) -> str:
        RetryPolicy.parse(value)
        return value

    @field_validator("routing_rules_file")
    @classmethod
    def _routing_rules_load(cls, value: str) -> str:
        # Checked at startup so a broken file stops the deploy instead of the help desk.
        if value.strip():
            try:
                text = Path(value.strip()).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"RETURNHUB_ROUTING_RULES_FILE: cannot read {value}: {exc.strerror}"
                ) from None
            parse_rules(text, value.strip())  # RulesError is a ValueError listing every problem
        return value

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.parse(self.outbox_retry_delays)

    @property
    def is_demo(self) -> bool:
        return self.mode is Mode.DEMO

    def purpose_key(self, purpose: str) -> bytes:
        """A 32-byte key derived from RETURNHUB_SECRET_KEY for one purpose, so a key for one
        use (session cookies, sealed secrets) can never stand in for another."""
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, f"returnhub/{purpose}".encode(), hashlib.sha256).digest()

    def check_secrets(self) -> None:
        """Refuse weak secrets outside demo mode; names the variable to set and how to make
        a good value."""
        if self.is_demo:
            return
        secret = self.secret_key.get_secret_value()
        why = (
            "is missing or a known placeholder"
            if secret.strip().lower() in KNOWN_WEAK_SECRETS
            else weakness(secret, min_length=MIN_SECRET_LENGTH, min_bits=MIN_SECRET_BITS)
        )
        if why:
            raise ConfigurationError(
                f"RETURNHUB_SECRET_KEY {why}; production mode needs a random value of at least "
                f"{MIN_SECRET_LENGTH} characters, e.g. the output of `{GENERATE_HINT}`"
            )
        for name in CHECKED_CONNECTOR_SECRETS:
            value: SecretStr = getattr(self, name)
            raw = value.get_secret_value()
            if not raw:
                continue  # that integration is off
            why = (
                "is a known-weak placeholder"
                if raw.strip().lower() in KNOWN_WEAK_SECRETS
                else weakness(
                    raw, min_length=MIN_CONNECTOR_SECRET_LENGTH, min_bits=MIN_CONNECTOR_SECRET_BITS
                )
            )
            if why:
                raise ConfigurationError(
                    f"RETURNHUB_{name.upper()} {why}; set the secret the other system generated, "
                    f"or one made with `{GENERATE_HINT}`, or leave it empty to disable that "
                    "integration"
                )

    def sqlite_path(self) -> Path | None:
        if not self.database_url.startswith("sqlite"):
            return None
        path = self.database_url.split(":///", 1)[-1]
        if not path or path == ":memory:":
            return None
        return Path(path)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
