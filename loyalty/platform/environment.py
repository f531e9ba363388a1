"""Every environment variable the processes read, in one documented list:
what it sets, its default and what it means. The README's table is made from
it (`loyalty config --markdown`; a test keeps the two equal), `loyalty config`
prints the effective values from it, and every process parses it at start,
refusing a bad value with the variable's name and what was expected:
`LOYALTY_PENDING_DAYS must be an integer, got "ten"`.

`owner` says which object a variable sets: `settings` (loyalty.platform.config.Settings)
or `policy` (notifications.policy.Policy, the worker's own knobs, parsed by
the same rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PREFIX = "LOYALTY_"


@dataclass(frozen=True)
class Var:
    name: str
    field: str
    kind: str  # int, float, decimal, str, flag, list, choice
    default: str  # as the README shows it
    meaning: str
    owner: str = "settings"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    secret: bool = False


def _v(name: str, field: str, kind: str, default: str, meaning: str, **more: Any) -> Var:
    return Var(name, field, kind, default, meaning, **more)


VARIABLES: tuple[Var, ...] = (
    _v("DATABASE_URL", "database_url", "str", "`sqlite://./loyalty.sqlite3`",
       "`sqlite://PATH` or `postgres://user@host:port/db`; its password is masked by "
       "`loyalty config`", secret=True),
    _v("LOYALTY_ENV", "env", "choice", "`dev`",
       "`dev` (GraphiQL, errors shown), `test`, `prod` (bugs masked, secret required)",
       choices=("dev", "test", "prod")),
    _v("LOYALTY_SECRET_KEY", "secret_key", "str", "a dev value",
       "signs access tokens; `prod` refuses to start unless it is 32+ characters, without "
       "whitespace, with 10+ distinct characters and not a shorter string repeated",
       secret=True),
    _v("LOYALTY_LOG_FORMAT", "log_format", "choice", "`json` in `prod`, `console` otherwise",
       "log lines on standard error: `json` (one object a line) or `console` (for people)",
       choices=("json", "console")),
    _v("LOYALTY_LOG_LEVEL", "log_level", "choice", "`INFO`",
       "lowest level logged; `INFO` writes one line per request",
       choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    _v("LOYALTY_INTROSPECTION", "introspection", "flag", "`1`, `0` in `prod`",
       "schema introspection and \"Did you mean ...?\" suggestions in errors (GraphiQL "
       "needs them)"),
    _v("LOYALTY_METRICS_TOKEN", "metrics_token", "str", "unset",
       "when set, `/metrics` (the server's and the worker's) answers only "
       "`Authorization: Bearer <token>` (401 otherwise)", secret=True),
    _v("LOYALTY_TRUSTED_PROXIES", "trusted_proxies", "list", "unset",
       "comma-separated addresses or networks (`10.0.0.0/8,::1`) whose `X-Forwarded-For` "
       "names the client; unset: the peer is the client"),
    _v("LOYALTY_LOGIN_WINDOW_SECONDS", "login_window_seconds", "int", "`900`",
       "window over which failed log-ins are counted", minimum=1),
    _v("LOYALTY_LOGIN_MAX_FAILURES", "login_max_failures", "int", "`5`",
       "failures of one account from one address before it is locked out there (0: off)",
       minimum=0),
    _v("LOYALTY_LOGIN_MAX_FAILURES_PER_ACCOUNT", "login_max_failures_per_account", "int",
       "`20`", "failures of one account from all addresses before it is locked out "
       "everywhere (0: off)", minimum=0),
    _v("LOYALTY_LOGIN_MAX_FAILURES_PER_ADDRESS", "login_max_failures_per_address", "int",
       "`100`", "failures from one address (an IPv6 /64), any account, before it is locked "
       "out (0: off)", minimum=0),
    _v("LOYALTY_LOGIN_LOCKOUT_SECONDS", "login_lockout_seconds", "int", "`30`",
       "first lock-out; doubled each time a key trips again within a window of the last "
       "one's end", minimum=1),
    _v("LOYALTY_LOGIN_LOCKOUT_MAX_SECONDS", "login_lockout_max_seconds", "int", "`900`",
       "longest lock-out of an (account, address) or an address", minimum=1),
    _v("LOYALTY_LOGIN_ACCOUNT_LOCKOUT_MAX_SECONDS", "login_account_lockout_max_seconds", "int",
       "`120`", "longest account-wide lock-out: it stops the owner too, so it stays short",
       minimum=1),
    _v("LOYALTY_POINTS_PER_UNIT", "points_per_unit", "decimal", "`1`",
       "points per major currency unit, rounded down", minimum=0),
    _v("LOYALTY_PENDING_DAYS", "pending_days", "int", "`0`",
       "days before earned points can be spent (return window)", minimum=0),
    _v("LOYALTY_EXPIRY_MONTHS", "expiry_months", "int", "`12`",
       "months after earning before points expire", minimum=1),
    _v("LOYALTY_ACCESS_TOKEN_SECONDS", "access_token_seconds", "int", "`900`",
       "access token lifetime", minimum=1),
    _v("LOYALTY_REFRESH_TOKEN_DAYS", "refresh_token_days", "int", "`30`",
       "refresh token lifetime", minimum=1),
    _v("LOYALTY_SCRYPT_LOG_N", "scrypt_log_n", "int", "`14`",
       "scrypt cost (2^N, 16 MiB at 14)", minimum=1),
    _v("LOYALTY_SCRYPT_CONCURRENCY", "scrypt_concurrency", "int", "`0`",
       "scrypt runs at once per process; `0`: half the cores, at least 1", minimum=0),
    _v("LOYALTY_MAX_BODY_BYTES", "max_body_bytes", "int", "`65536`",
       "largest request body accepted, and largest WebSocket message (bigger: closed with "
       "1009)", minimum=1),
    _v("LOYALTY_MAX_QUERY_DEPTH", "max_query_depth", "int", "`10`",
       "deepest selection a document may nest", minimum=1),
    _v("LOYALTY_MAX_QUERY_TOKENS", "max_query_tokens", "int", "`2000`",
       "most tokens a document may have (refused before it is parsed whole)", minimum=1),
    _v("LOYALTY_MAX_QUERY_ALIASES", "max_query_aliases", "int", "`30`",
       "most aliases a document may use", minimum=0),
    _v("LOYALTY_MAX_QUERY_COST", "max_query_cost", "int", "`10000`",
       "most an operation may cost, priced before it runs "
       "([`api/cost.py`](api/cost.py): 1 per field, 1,000 per `qr { svg }`, lists times their "
       "`first`, the maximum 100 when it is a variable); over it: `TOO_EXPENSIVE`", minimum=1),
    _v("LOYALTY_BULK_MAX_BODY_BYTES", "bulk_max_body_bytes", "int", "`1048576`",
       "largest body of a bulk request (`recordPurchases`, `trackEvents`) from a caller "
       "allowed to send one", minimum=1),
    _v("LOYALTY_READ_TIMEOUT_SECONDS", "read_timeout_seconds", "float", "`10`",
       "time a client has to send a whole request (headers and body) from connecting or its "
       "first byte, and a WebSocket its `connection_init`; then the connection is closed",
       minimum=0.001),
    _v("LOYALTY_WS_MAX_SOCKETS_PER_PRINCIPAL", "ws_max_sockets_per_principal", "int", "`10`",
       "open WebSockets per customer or staff member in one server process (more: closed with "
       "4429 `LIMIT_REACHED`)", minimum=1),
    _v("LOYALTY_WS_MAX_SUBSCRIPTIONS_PER_SOCKET", "ws_max_subscriptions_per_socket", "int",
       "`20`", "operations live at once on one socket: subscriptions, and queries or mutations "
       "not yet answered (more: refused with `LIMIT_REACHED`)", minimum=1),
    _v("LOYALTY_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL", "ws_max_subscriptions_per_principal",
       "int", "`50`", "the same, over all of one customer's or staff member's sockets in one "
       "server process", minimum=1),
    _v("LOYALTY_ADJUST_MAX_POINTS_SUPPORT", "adjust_max_points_support", "int", "`1000`",
       "largest `adjustPoints` (either sign) a SUPPORT member may post", minimum=1),
    _v("LOYALTY_ADJUST_MAX_POINTS_ADMIN", "adjust_max_points_admin", "int", "`100000`",
       "largest `adjustPoints` (either sign) an ADMIN may post", minimum=1),
    _v("LOYALTY_OFFLINE_MAX_AGE_DAYS", "offline_max_age_days", "int", "`7`",
       "oldest `occurredAt` a `recordPurchases` batch from an offline till may carry",
       minimum=1),
    _v("LOYALTY_WEBHOOK_ALLOW_HTTP", "webhook_allow_http", "flag", "`0`",
       "accept plain `http://` webhook URLs (tests, a receiver on the same host); "
       "otherwise HTTPS only"),
    _v("LOYALTY_WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts", "int", "`10`",
       "attempts before a delivery ends `failed`", minimum=1),
    _v("LOYALTY_WEBHOOK_BACKOFF_SECONDS", "webhook_backoff_seconds", "float", "`10`",
       "first retry delay, doubled per attempt, jittered", minimum=0.001),
    _v("LOYALTY_WEBHOOK_BACKOFF_MAX_SECONDS", "webhook_backoff_max_seconds", "float", "`3600`",
       "longest retry delay", minimum=0.001),
    _v("LOYALTY_WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds", "float", "`10`",
       "how long a receiver has to answer a delivery", minimum=0.001),
    _v("LOYALTY_WEBHOOK_DISABLE_AFTER_FAILURES", "webhook_disable_after_failures", "int",
       "`50`", "failed deliveries in a row after which a webhook is disabled", minimum=1),
    _v("LOYALTY_SMTP_URL", "smtp_url", "str", "unset",
       "`smtp://user:password@host:port` for emails (password reset, verification, claim "
       "links, journeys' marketing emails); unset: account emails are logged, not sent, and "
       "a message for EMAIL goes on its next channel", secret=True),
    _v("LOYALTY_EMAIL_FROM", "email_from", "str", "`loyalty@localhost`",
       "the emails' From address"),
    _v("LOYALTY_EMAIL_LINK_URL", "email_link_url", "str", "`http://127.0.0.1:8000/account`",
       "start of the links in emails (the app's or the web shop's account page)"),
    _v("LOYALTY_UNSUBSCRIBE_URL", "unsubscribe_url", "str",
       "`http://127.0.0.1:8000/unsubscribe`",
       "this API's `/unsubscribe` page as customers reach it: marketing emails link to it "
       "(`?token=...`) and name it in `List-Unsubscribe`"),
    _v("LOYALTY_SMS_URL", "sms_url", "str", "unset",
       "`https://user:apikey@sms.example/v1/messages`: the SMS provider's endpoint, sent "
       "`POST {to, body, reference}` as JSON with basic auth; unset: no SMS (a message for "
       "SMS only is suppressed)", secret=True),
    _v("LOYALTY_EMAIL_TOKEN_MINUTES", "email_token_minutes", "int", "`60`",
       "how long an emailed link stays valid", minimum=1),
    _v("LOYALTY_SURVEY_URL", "survey_url", "str", "unset",
       "the page where a customer answers a purchase's survey, with `{token}` where the "
       "signed token goes (`https://shop.example.com/survey?t={token}`); messages' "
       "`survey_url` placeholder; the token is `submitSurveyFromLink`'s. Unset: no links"),
    _v("LOYALTY_SURVEY_LINK_DAYS", "survey_link_days", "int", "`30`",
       "how long a survey link stays valid", minimum=1),
    _v("FIREBASE_CREDENTIALS", "firebase_credentials", "str", "unset",
       "service-account file for push; unset: inbox and log only"),
    _v("LOYALTY_DEEP_LINK_BASE", "deep_link_base", "str", "`loyalty://`",
       "start of the deep link in each push's data (`link`): the app's URL scheme, or its "
       "universal-link prefix (`https://app.example.com/`); the screen follows "
       "(notifications/presentation.py)"),
    _v("LOYALTY_PUSH_MAX_ATTEMPTS", "push_max_attempts", "int", "`5`",
       "push attempts before a notification ends `failed`", minimum=1),
    _v("LOYALTY_PUSH_BACKOFF_SECONDS", "push_backoff_seconds", "int", "`30`",
       "first retry delay, doubled per attempt, jittered, at least FCM's Retry-After",
       minimum=0),
    _v("LOYALTY_PUSH_BACKOFF_MAX_SECONDS", "push_backoff_max_seconds", "int", "`3600`",
       "longest retry delay", minimum=0),
    _v("LOYALTY_PUSH_LEASE_SECONDS", "lease_seconds", "float", "`300`",
       "how long a worker holds the notifications it is sending; longer than the slowest FCM "
       "batch, or a slow worker's batch is sent twice", owner="policy", minimum=1),
    _v("LOYALTY_MARKETING_DAILY_CAP", "marketing_daily_cap", "int", "`3`",
       "marketing messages sent per customer per local day, push, email and SMS together; "
       "the rest reach the inbox only (or, without INBOX among their channels, are "
       "suppressed)",
       owner="policy", minimum=0),
    _v("LOYALTY_OUTBOX_MAX_ATTEMPTS", "outbox_max_attempts", "int", "`5`",
       "claims of one outbox event that may fail before it is set aside as dead",
       owner="policy", minimum=1),
    _v("LOYALTY_WORKER_POLL_SECONDS", "worker_poll_seconds", "float", "`1`",
       "how long an idle worker sleeps", minimum=0.01),
    _v("LOYALTY_JOURNEYS_POLL_SECONDS", "journeys_poll_seconds", "float", "`0.25`",
       "how long the worker's journeys loop sleeps when idle: an event reaches the runs "
       "waiting for it within about this", minimum=0.01),
    _v("LOYALTY_JOURNEYS_BATCH_SIZE", "journeys_batch_size", "int", "`500`",
       "journey runs (and events) one pass of the journeys loop takes at once", minimum=1),
    _v("LOYALTY_JOBS_INTERVAL_SECONDS", "jobs_interval_seconds", "float", "`60`",
       "how often a worker runs the scheduled jobs (expiry, reminders, tier reviews)",
       minimum=0.01),
    _v("LOYALTY_CHECKIN_MAX_ACCURACY_METERS", "checkin_max_accuracy_meters", "float", "`200`",
       "a check-in whose position is less accurate than this is refused", minimum=1),
    _v("LOYALTY_CHECKIN_MAX_AGE_MINUTES", "checkin_max_age_minutes", "int", "`10`",
       "a check-in older than this is refused", minimum=1),
    _v("LOYALTY_CHECKIN_MAX_SPEED_KMH", "checkin_max_speed_kmh", "float", "`300`",
       "faster travel between two accepted check-ins is refused", minimum=1),
    _v("LOYALTY_CHECKIN_RATE_PER_MINUTE", "checkin_rate_per_minute", "int", "`10`",
       "check-ins per customer per minute; more are refused with `RATE_LIMITED`", minimum=1),
    _v("LOYALTY_CHECKIN_MIN_RSSI", "checkin_min_rssi", "int", "`-90`",
       "a beacon heard fainter than this (dBm) is not proof of presence"),
    _v("LOYALTY_VISIT_MAX_OPEN_MINUTES", "visit_max_open_minutes", "int", "`240`",
       "a visit whose EXIT never came is over after this", minimum=1),
    _v("LOYALTY_VISIT_REWARD_POINTS", "visit_reward_points", "int", "`10`",
       "points a confirmed visit earns, once per store per customer per local day",
       minimum=0),
    _v("LOYALTY_VISIT_COOLDOWN_MINUTES", "visit_cooldown_minutes", "int", "`60`",
       "no visit earns within this of another one that did", minimum=0),
)
BY_NAME = {v.name: v for v in VARIABLES}
# Read by the commands rather than the settings: known, so not reported as typos.
OTHERS = frozenset({"LOYALTY_ADMIN_PASSWORD", "LOYALTY_SKIP_PG", "LOYALTY_TEST_SQLITE_URL"})

_KIND_WORDS = {"int": "an integer", "float": "a number", "decimal": "a decimal number"}


def _number(var: Var, text: str) -> Any:
    from loyalty.platform.config import ConfigError

    value: Any
    try:
        if var.kind == "int":
            value = int(text)
        elif var.kind == "float":
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text)
        else:
            value = Decimal(text)
            if not value.is_finite():
                raise InvalidOperation(text)
    except (ValueError, InvalidOperation):
        raise ConfigError(f'{var.name} must be {_KIND_WORDS[var.kind]}, got "{text}"') from None
    if var.minimum is not None and value < var.minimum:
        raise ConfigError(f'{var.name} must be at least {var.minimum:g}, got "{text}"')
    return value


def parse(var: Var, text: str) -> Any:
    """The value of `var` set to `text`, or a ConfigError that says what was expected."""
    from loyalty.platform.config import ConfigError

    text = text.strip()
    if var.kind in _KIND_WORDS:
        return _number(var, text)
    if var.kind == "flag":
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f'{var.name} must be 1 or 0, got "{text}"')
    if var.kind == "choice":
        chosen = text.upper() if var.choices[0].isupper() else text.lower()
        if chosen not in var.choices:
            raise ConfigError(f'{var.name} must be one of {", ".join(var.choices)}, '
                              f'got "{text}"')
        return chosen
    if var.kind == "list":
        return tuple(p.strip() for p in text.split(",") if p.strip())
    return text


def parse_environment(env: Mapping[str, str], owner: str = "settings") -> dict[str, Any]:
    """{field: value} for every variable of `owner` that `env` sets (an empty
    value is unset)."""
    return {var.field: parse(var, env[var.name]) for var in VARIABLES
            if var.owner == owner and env.get(var.name, "").strip()}


def unknown(env: Mapping[str, str]) -> list[str]:
    """LOYALTY_* variables that nothing reads: most likely typos."""
    return sorted(name for name in env if name.startswith(PREFIX)
                  and name not in BY_NAME and name not in OTHERS)


def masked(var: Var, value: Any) -> str:
    """A value as `loyalty config` shows it: secrets hidden, a URL's password too."""
    if value is None or value == ():
        return "(unset)"
    if var.name == "DATABASE_URL":
        parts = urlsplit(str(value))
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        return str(value)
    if var.name == "LOYALTY_SECRET_KEY":
        from loyalty.platform.config import DEFAULT_SECRET_KEY

        if value == DEFAULT_SECRET_KEY:
            return "(the development default, refused in prod)"
    if var.secret:
        return "****"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def markdown_table() -> str:
    """The README's table of variables."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(lines) + "\n"
