"""Configuration from environment variables, with safe defaults for a laptop."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

# Long enough for HS256 (RFC 7518), and refused by name in production.
DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me-0123456789"


class ConfigError(Exception):
    """The configuration cannot be used (for example a default secret in production)."""


def _default_database_url() -> str:
    return f"sqlite://{Path.cwd() / 'loyalty.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    secret_key: str = DEFAULT_SECRET_KEY
    env: str = "dev"
    # Points per major currency unit (1 point per euro by default), rounded down.
    points_per_unit: Decimal = Decimal("1")
    # Days before earned points become usable; 0 means at once.
    pending_days: int = 0
    # Months after earning before a lot of points expires.
    expiry_months: int = 12
    access_token_seconds: int = 900
    refresh_token_days: int = 30
    # scrypt cost: 2**14 (16 MiB) in production; tests may lower it to stay fast.
    scrypt_log_n: int = 14
    # The largest HTTP request body, and the largest WebSocket message.
    max_body_bytes: int = 64 * 1024
    # The same for staff and API clients (recordPurchases sends 500 purchases).
    bulk_max_body_bytes: int = 1024 * 1024
    # A client has this long to send a whole request (headers and body) from
    # its first byte or from connecting, and a WebSocket its connection_init:
    # a half-open connection holds a socket and memory for nothing.
    read_timeout_seconds: float = 10.0
    # Per principal (a customer or a staff member) in one server process:
    # open WebSockets, and operations live at once (subscriptions, and queries
    # or mutations not yet answered) on one socket and on all of them. The app
    # needs one socket and a subscription or two; a till one socket.
    ws_max_sockets_per_principal: int = 10
    ws_max_subscriptions_per_socket: int = 20
    ws_max_subscriptions_per_principal: int = 50
    max_query_depth: int = 10
    max_query_tokens: int = 2000
    max_query_aliases: int = 30
    # The most one operation may cost (api/cost.py: 1 per field, 1,000 per
    # QR code drawn as SVG, lists multiplied by their page size; a unit is
    # ~5 µs of CPU). The home screen costs 299, the largest document the
    # tests send ~1,100, GraphiQL's introspection query 5,000, an admin list
    # page of 100 geofences with their outlines ~5,000.
    max_query_cost: int = 10_000
    firebase_credentials: str | None = None
    # Push delivery: attempts before a notification ends `failed`, the first
    # back-off (doubled each attempt, with jitter, capped), and the worker's idle sleep.
    push_max_attempts: int = 5
    push_backoff_seconds: int = 30
    push_backoff_max_seconds: int = 3600
    worker_poll_seconds: float = 1.0
    # How often each worker runs the scheduled jobs (expiry, reminders, tier
    # reviews); they are idempotent, so several workers may overlap.
    jobs_interval_seconds: float = 60.0
    # The journeys loop: how long it sleeps when it found nothing (an event
    # reaches a waiting run within about this), and runs per batch.
    journeys_poll_seconds: float = 0.25
    journeys_batch_size: int = 500
    # Check-ins: a fix worse than this is refused, as are events older than
    # the window (the phone sends them as they happen), moves faster than a
    # plane between two accepted check-ins, and bursts over the rate.
    checkin_max_accuracy_meters: float = 200.0
    checkin_max_age_minutes: int = 10
    checkin_max_speed_kmh: float = 300.0
    checkin_rate_per_minute: int = 10
    # A beacon heard weaker than this (dBm; iBeacon RSSI runs from about -30
    # next to it to -100 at the edge of range) is not proof of presence.
    checkin_min_rssi: int = -90
    # A visit whose EXIT never came (phone off, app killed) is over after this:
    # check-ins no longer extend it and the jobs close it.
    visit_max_open_minutes: int = 240
    # A confirmed visit earns this once per store per customer per local day,
    # and no visit earns within the cool-down after another one did.
    visit_reward_points: int = 10
    visit_cooldown_minutes: int = 60
    # Introspection (and the "Did you mean ...?" suggestions that would give the
    # same names away): None means on, except in production.
    introspection: bool | None = None
    # When set, /metrics answers only `Authorization: Bearer <this token>`.
    metrics_token: str | None = None
    # Log-in throttling (loyalty/identity/login_throttle.py). Failed log-ins are
    # counted per window: of one account from one address (the attacker's own
    # budget), of one account from anywhere (a distributed attack, looser,
    # since reaching it also stops the account's owner) and from one address
    # whatever the account (credential stuffing). A count that reaches its
    # limit locks that key out, twice as long each time it trips again within
    # a window of the last lock-out's end. 0 turns a count off.
    login_window_seconds: int = 900
    login_max_failures: int = 5
    login_max_failures_per_account: int = 20
    login_max_failures_per_address: int = 100
    login_lockout_seconds: int = 30
    login_lockout_max_seconds: int = 900
    # The account-wide lock-out also stops the real customer: kept short.
    login_account_lockout_max_seconds: int = 120
    # scrypt runs at once per process (0: half the cores, at least one), so
    # that a burst of log-ins cannot take every core from other requests.
    scrypt_concurrency: int = 0
    # Proxies (addresses or networks) whose X-Forwarded-For is believed when
    # they are the direct peer; none by default: the peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Integrations (README "Integrations"). The largest adjustPoints, in
    # points either way, per role.
    adjust_max_points_support: int = 1_000
    adjust_max_points_admin: int = 100_000
    # recordPurchases accepts purchases this old (an offline till's batch).
    offline_max_age_days: int = 7
    # Webhooks: http:// endpoints allowed (tests, a local receiver), attempts
    # per delivery, back-off (doubled per attempt, jittered, capped), the
    # request timeout, and failed attempts in a row that disable a webhook.
    webhook_allow_http: bool = False
    webhook_max_attempts: int = 10
    webhook_backoff_seconds: float = 10.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_timeout_seconds: float = 10.0
    webhook_disable_after_failures: int = 50
    # Email (password reset, email verification, account claims):
    # smtp://user:password@host:port (smtps:// for TLS); unset logs instead.
    smtp_url: str | None = None
    email_from: str = "loyalty@localhost"
    # Links in emails: this URL with `?token=...` (the app's or site's page).
    email_link_url: str = "http://127.0.0.1:8000/account"
    email_token_minutes: int = 60
    # A purchase's survey page, `{token}` standing for the signed token
    # (loyalty/points/surveys.py: survey_url); None: messages carry no survey link.
    survey_url: str | None = None
    survey_link_days: int = 30
    # Marketing emails' unsubscribe page (api/unsubscribe.py), as customers reach it.
    unsubscribe_url: str = "http://127.0.0.1:8000/unsubscribe"
    # The SMS provider (notifications/sms.py): https://user:apikey@host/path; unset, no SMS.
    sms_url: str | None = None

    # What a push's deep link starts with: the app's URL scheme, or the
    # prefix of its universal (iOS) / app (Android) links.
    deep_link_base: str = "loyalty://"
    # Log lines: `json` or `console` (None: json in production, console
    # elsewhere), and the lowest level written.
    log_format: str | None = None
    log_level: str = "INFO"

    @property
    def log_json(self) -> bool:
        return (self.log_format or ("json" if self.is_prod else "console")) == "json"

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def introspection_enabled(self) -> bool:
        return not self.is_prod if self.introspection is None else self.introspection

    def check(self) -> None:
        """Refuse settings that would be unsafe in production."""
        if self.env not in ("dev", "prod", "test"):
            raise ConfigError(f'LOYALTY_ENV must be one of dev, test, prod, got "{self.env}"')
        if self.log_format not in (None, "json", "console"):
            raise ConfigError(f'LOYALTY_LOG_FORMAT must be one of json, console, '
                              f'got "{self.log_format}"')
        self._check_login_throttle()
        if self.survey_url is not None and "{token}" not in self.survey_url:
            raise ConfigError("LOYALTY_SURVEY_URL must contain {token}, where the survey's "
                              "signed token goes")
        if self.is_prod:
            weakness = secret_weakness(self.secret_key)
            if weakness:
                raise ConfigError(
                    f"LOYALTY_SECRET_KEY {weakness}: when LOYALTY_ENV=prod it must be a "
                    "random value of 32+ characters, e.g. python3 -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'"
                )
        # Zero would refuse every request or socket: a typo, not a policy.
        for name in ("max_body_bytes", "read_timeout_seconds", "ws_max_sockets_per_principal",
                     "ws_max_subscriptions_per_socket", "ws_max_subscriptions_per_principal"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"LOYALTY_{name.upper()} must be positive")

    def _check_login_throttle(self) -> None:
        import ipaddress

        for name in ("login_max_failures", "login_max_failures_per_account",
                     "login_max_failures_per_address"):
            # A count trips when it reaches its limit, so 1 would need a
            # first failure to lock out at once: not worth a special case.
            if getattr(self, name) < 0 or getattr(self, name) == 1:
                raise ConfigError(f"LOYALTY_{name.upper()} must be 0 (off) or at least 2, "
                                  f"got {getattr(self, name)}")
        if self.login_window_seconds < 1 or self.login_lockout_seconds < 1:
            raise ConfigError("LOYALTY_LOGIN_WINDOW_SECONDS and LOYALTY_LOGIN_LOCKOUT_SECONDS "
                              "must be at least 1")
        if min(self.login_lockout_max_seconds,
               self.login_account_lockout_max_seconds) < self.login_lockout_seconds:
            raise ConfigError("LOYALTY_LOGIN_LOCKOUT_MAX_SECONDS and "
                              "LOYALTY_LOGIN_ACCOUNT_LOCKOUT_MAX_SECONDS must be at least "
                              "LOYALTY_LOGIN_LOCKOUT_SECONDS")
        if self.scrypt_concurrency < 0:
            raise ConfigError("LOYALTY_SCRYPT_CONCURRENCY must be at least 0 (0: half the cores)")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"LOYALTY_TRUSTED_PROXIES: {proxy!r} is not an address or a network"
                ) from None


# Fewer distinct characters than this is no random key: a hex key has only 16
# to draw from, and one of 32 characters shows fewer than 10 about once in
# 10,000 draws, so a higher bar would refuse real keys.
MIN_SECRET_DISTINCT = 10


def secret_weakness(secret: str) -> str | None:
    """What makes `secret` unfit to sign tokens in production, or None."""
    if secret == DEFAULT_SECRET_KEY:
        return "is the default development value"
    if len(secret) < 32:
        return "is shorter than 32 characters"
    if any(c.isspace() for c in secret):
        return "contains whitespace (a phrase or a copy-paste accident, not a random key)"
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return f"has fewer than {MIN_SECRET_DISTINCT} distinct characters"
    # A string is a shorter one repeated exactly when it occurs inside itself
    # doubled, first and last characters dropped.
    if secret in (secret + secret)[1:-1]:
        return "is a shorter string repeated"
    return None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (loyalty/platform/environment.py lists every
    variable); a value that does not parse is a ConfigError naming it."""
    from loyalty.platform.environment import parse_environment

    env = os.environ if environ is None else environ
    return Settings(**parse_environment(env))


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def set_settings(settings: Settings) -> None:
    global _settings
    _settings = settings
