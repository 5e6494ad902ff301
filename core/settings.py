"""Settings from the environment (and an optional `.env`).

Every policy number lives here with the default DOMAIN.md gives, so a city can
change it without touching code. Secrets have development defaults that
`HUIMIN_ENV=production` refuses.
"""

from __future__ import annotations

import base64
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_ID_ENCRYPTION_KEY = base64.b64encode(b"dev-only-aes-key-32-bytes-long!!").decode()
DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-change-me"
DEV_SECRETS = {
    "jwt_secret": DEV_JWT_SECRET,
    "id_encryption_key": DEV_ID_ENCRYPTION_KEY,
    "blind_index_key": DEV_BLIND_INDEX_KEY,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUIMIN_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "test", "production"] = "development"
    # A PostgreSQL server (`postgresql+asyncpg://...`). Unset: the `huimin` command
    # runs the embedded PostgreSQL in `data_dir`/pg and sets it (core.embedded).
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "HUIMIN_DATABASE_URL"),
    )
    # HUIMIN_DATA_DIR: where the embedded PostgreSQL keeps its data (`pg/`).
    data_dir: Path = Path("var")
    # Who runs the migrations, when not the service's own DATABASE_URL: on
    # PostgreSQL the owner, while the service connects as the least-privilege role
    # `huimin_app` (docs/running.md).
    migration_database_url: str | None = None
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "HUIMIN_REDIS_URL")
    )
    db_pool_size: int = 10
    # /readyz: the heartbeat write must get its locks and commit within this.
    ready_write_timeout_ms: int = Field(default=2_000, ge=10)

    # Citizen tokens. HS256 with this secret (development, tests, or a sign-in service
    # trusted with it); see `hs256_secret` for when it is used at all.
    jwt_secret: str = DEV_JWT_SECRET
    # Tokens the platform's sign-in service signs with its own private key (RS256 or
    # ES256, named by the header's `kid`): huimin holds only the public keys, from a
    # JWK Set file read again when it changes, or from a URL serving one (at most one
    # of the two). `core.jwks`.
    jwt_public_keys: Path | None = None
    # How often, at most, the file's size and modification time are looked at (a token
    # naming a `kid` the file lacks looks at once).
    jwt_public_keys_check_seconds: float = Field(default=1.0, ge=0)
    jwt_jwks_url: str | None = None
    # The URL's keys are fetched again once they are this old, and when a token names
    # an unknown `kid`, but never twice within `_min_refetch_seconds` (a flood of
    # made-up `kid`s costs the sign-in service one fetch per interval).
    jwt_jwks_lifespan_seconds: float = Field(default=300.0, gt=0)
    jwt_jwks_min_refetch_seconds: float = Field(default=10.0, ge=0)
    jwt_jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    jwt_issuer: str = "huimin"
    jwt_audience: str = "huimin-citizen"
    jwt_ttl_minutes: int = 60 * 24
    # The longest lifetime a citizen token may have: a token issued for longer, or
    # whose `exp` lies further ahead than this, is refused (401 invalid_token).
    jwt_max_ttl_minutes: int = 60 * 24 * 7

    # Personal-information protection: AES-256-GCM key (base64 of 32 bytes) and
    # the HMAC key of the blind index.
    id_encryption_key: str = DEV_ID_ENCRYPTION_KEY
    blind_index_key: str = DEV_BLIND_INDEX_KEY

    # Request limits.
    max_body_bytes: int = 1024 * 1024
    rate_limit_citizen: str = "120/minute"
    rate_limit_staff: str = "600/minute"
    rate_limit_anonymous: str = "60/minute"
    rate_limit_enabled: bool = True
    # The start of every rate-limit key in Redis (one Redis shared by deployments).
    rate_limit_key_prefix: str = "huimin"
    idempotency_ttl_hours: int = 24

    # Real-name identity (API.md): when true, a citizen write (booking, application,
    # claim, entry, cancel...) from an account no verifier has bound to a person is
    # 403 `identity_not_verified`. Unset: true in production, false otherwise.
    citizen_identity_required: bool | None = None

    log_level: str = "INFO"
    # GET /metrics: when set, only `Authorization: Bearer <this token>` gets the
    # metrics (401 otherwise), in every environment; unset, /metrics is open outside
    # production and does not exist in production (404, as any unknown path).
    metrics_token: str | None = None
    # The longest each server process's maintenance sweep sleeps between runs (0:
    # never runs; then run `huimin sweep` from cron instead). It runs at start-up
    # and wakes sooner at the next known offer expiry.
    maintenance_interval_seconds: float = 60.0
    # Shift of the service clock against the operating system's, in seconds, for
    # rehearsing dates ahead without libfaketime (refused in production).
    clock_offset_seconds: float = 0.0
    # How long a process trusts its copy of the loaded official-calendar notices
    # before reading them again (a notice loaded through another process).
    official_calendar_refresh_seconds: float = 30.0

    # Marriage registration policy (DOMAIN.md section 1).
    marriage_min_age_male: int = 22
    marriage_min_age_female: int = 20
    marriage_booking_opens_days_ahead: int = 30
    marriage_min_notice_hours: int = 2
    marriage_cancel_deadline_hours: int = 24
    marriage_no_show_limit: int = 2
    marriage_no_show_window_days: int = 180
    marriage_no_show_suspension_days: int = 30
    marriage_cooling_off_days: int = 30
    marriage_confirmation_days: int = 30

    # Elderly-care beds (DOMAIN.md section 2).
    beds_min_applicant_age: int = 60
    beds_max_active_applications: int = 3
    beds_offer_hold_hours: float = 72

    # Eco-burial subsidy claims (DOMAIN.md section 4).
    burial_claimant_min_age: int = 18

    # Home care (DOMAIN.md section 3).
    home_care_travel_buffer_minutes: int = 30
    home_care_grid_minutes: int = 30
    home_care_min_notice_hours: int = 2
    home_care_booking_window_days: int = 14
    home_care_min_elder_age: int = 60
    home_care_cancel_deadline_hours: int = 12
    # Check-in from this many minutes before the start until the visit's end (late is
    # an exception, not a refusal).
    home_care_check_in_window_minutes: int = 60
    home_care_location_tolerance_km: float = 1.0
    # When the elder's home has no position: the check-in must lie within this of the
    # provider (when the provider has one), the check-out within the tolerance of the
    # check-in.
    home_care_service_radius_km: float = 20.0
    # Visit verification (API.md "EVV"): the thresholds of the exception codes.
    # `late_check_in`: checked in more than this many minutes after the start.
    home_care_late_check_in_minutes: int = Field(default=15, ge=0)
    # `short_visit`: served (check-in to check-out) less than this percent of the
    # booked duration.
    home_care_short_visit_percent: int = Field(default=75, ge=0, le=100)
    # `missing_check_out`: still in service this many hours after the visit's end; the
    # worker then completes it without a check-out.
    home_care_missing_check_out_hours: float = Field(default=2.0, gt=0)
    # `home_care.booking.missed_check_in`: not checked in this many minutes after the
    # start (written once per visit by the worker).
    home_care_missed_check_in_minutes: int = Field(default=30, ge=0)

    # Notifications (API.md "Notifications and webhooks").
    # Write the outbox row of every event (off only to measure its cost: bench/outbox.py).
    outbox_enabled: bool = True
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed:
    # comma-separated addresses or CIDRs (none by default). The client is the
    # right-most address of X-Forwarded-For that is not one of them.
    trusted_proxies: str = ""
    # Hosts a webhook may be sent to even when they resolve to a private, loopback or
    # link-local address, or over http (tests, on-premise receivers): comma-separated.
    webhook_allowed_hosts: str = ""
    # Production rules for webhook URLs (https, public addresses) also outside
    # production (None: only when HUIMIN_ENV=production).
    webhook_require_public: bool | None = None
    webhook_timeout_seconds: float = 10.0
    # Backoff: first retry after `base` seconds, doubling up to `max`, with jitter
    # (full jitter over the upper half); a delivery fails once `give_up_hours` passed
    # since its first attempt with no 2xx.
    webhook_backoff_base_seconds: float = 30.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_give_up_hours: float = 25.0
    # How long a worker holds a delivery it is sending before another may take it
    # (longer than the timeout, so two workers never send one delivery at once).
    webhook_lease_seconds: float = 60.0
    # How long an event and its deliveries are kept (and listed under a
    # subscription's deliveries) once none of them is pending: then the
    # maintenance sweep deletes them. 0 keeps them for ever.
    outbox_retention_days: int = 90
    worker_batch_size: int = 50
    worker_poll_seconds: float = 1.0
    # How often the worker writes the scheduled events that fell due.
    worker_schedule_seconds: float = 30.0
    # Reminders the day before, at this hour (China time); an offer about to expire
    # this many hours before; a divorce case's cooling-off ending and its confirmation
    # deadline nearing this many days before.
    reminder_hour: int = Field(default=9, ge=0, le=23)
    offer_expiring_hours: int = 24
    divorce_notice_days: int = 3

    @field_validator("jwt_public_keys", "jwt_jwks_url", "metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.jwt_public_keys is not None and self.jwt_jwks_url is not None:
            raise ValueError("set HUIMIN_JWT_PUBLIC_KEYS or HUIMIN_JWT_JWKS_URL, not both")
        if self.jwt_jwks_url is not None:
            scheme = self.jwt_jwks_url.partition(":")[0].lower()
            if scheme not in ("http", "https"):
                raise ValueError("HUIMIN_JWT_JWKS_URL must be an http(s) URL")
        if self.env == "production":
            # With public keys and no HUIMIN_JWT_SECRET, HS256 is off: no secret is needed.
            # A secret that is set must still be a real one.
            required = {name: default for name, default in DEV_SECRETS.items()
                        if name != "jwt_secret" or self.hs256_secret is not None
                        or not self.public_keys_configured}
            weak = [
                name
                for name, default in required.items()
                if not getattr(self, name) or getattr(self, name) == default
            ]
            if weak:
                raise ValueError(
                    "HUIMIN_ENV=production refuses default or missing secrets: "
                    + ", ".join("HUIMIN_" + n.upper() for n in weak)
                    + ("" if self.public_keys_configured or "jwt_secret" not in weak else
                       " (or leave HUIMIN_JWT_SECRET unset and give the sign-in service's "
                       "public keys: HUIMIN_JWT_PUBLIC_KEYS or HUIMIN_JWT_JWKS_URL)")
                )
            if self.hs256_secret is not None and len(self.hs256_secret) < 32:
                raise ValueError("HUIMIN_JWT_SECRET must be at least 32 characters")
            if self.jwt_jwks_url is not None and not self.jwt_jwks_url.lower().startswith(
                    "https://"):
                raise ValueError("HUIMIN_ENV=production fetches HUIMIN_JWT_JWKS_URL over "
                                 "https only")
            if self.clock_offset_seconds:
                raise ValueError("HUIMIN_CLOCK_OFFSET_SECONDS is for rehearsals, not production")
            if self.metrics_token is not None and len(self.metrics_token) < 32:
                raise ValueError("HUIMIN_METRICS_TOKEN must be at least 32 characters")
        if not 1 <= self.jwt_ttl_minutes <= self.jwt_max_ttl_minutes:
            raise ValueError("HUIMIN_JWT_TTL_MINUTES must be between 1 and "
                             "HUIMIN_JWT_MAX_TTL_MINUTES")
        try:
            key = base64.b64decode(self.id_encryption_key, validate=True)
        except ValueError as exc:
            raise ValueError("HUIMIN_ID_ENCRYPTION_KEY must be base64") from exc
        if len(key) != 32:
            raise ValueError("HUIMIN_ID_ENCRYPTION_KEY must decode to 32 bytes")
        return self

    @property
    def public_keys_configured(self) -> bool:
        return self.jwt_public_keys is not None or self.jwt_jwks_url is not None

    @property
    def hs256_secret(self) -> str | None:
        """The secret HS256 citizen tokens are checked with, None when they are refused:
        with public keys configured, only a `HUIMIN_JWT_SECRET` that is set (not the
        development default) keeps HS256 on (API.md)."""
        if self.public_keys_configured and "jwt_secret" not in self.model_fields_set:
            return None
        return self.jwt_secret or None

    @property
    def identity_required(self) -> bool:
        if self.citizen_identity_required is None:
            return self.env == "production"
        return self.citizen_identity_required

    @property
    def metrics_served(self) -> bool:
        """Whether GET /metrics exists: outside production always, in production only
        with a token (without one it is not mounted at all: 404 as any unknown path)."""
        return self.env != "production" or self.metrics_token is not None

    @property
    def webhook_public_only(self) -> bool:
        if self.webhook_require_public is not None:
            return self.webhook_require_public
        return self.env == "production"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """HUIMIN_TRUSTED_PROXIES, each an address or a CIDR (checked at start-up)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @model_validator(mode="after")
    def _trusted_proxies_are_addresses(self) -> Settings:
        for proxy in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"HUIMIN_TRUSTED_PROXIES: {proxy!r} is not an address "
                                 "or a CIDR") from None
        return self

    @property
    def webhook_hosts_allowed(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.webhook_allowed_hosts.split(",")
                         if h.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()
