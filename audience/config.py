"""The audience package's settings, from environment variables (README,
"Knowing the customer"). Kept apart from loyalty.platform.config: they matter only to
this package, and the core's settings stay the core's."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from loyalty.platform.config import ConfigError

MESSAGE_CHANNELS = ("PUSH", "INBOX", "EMAIL", "SMS")


def _default_message_costs() -> dict[str, Decimal]:
    return {"PUSH": Decimal("0.1"), "INBOX": Decimal("0"), "EMAIL": Decimal("0.1"),
            "SMS": Decimal("5")}


@dataclass(frozen=True)
class AudienceSettings:
    # trackEvents: events per call, the largest `properties` (serialised
    # JSON, bytes), and how far from the server's clock `occurredAt` may be.
    # The request body limit (LOYALTY_MAX_BODY_BYTES) applies too.
    events_max_batch: int = 500
    events_max_properties_bytes: int = 8 * 1024
    events_max_age_days: int = 30
    events_max_future_seconds: int = 300
    # How often the worker's audience loop looks for new outbox rows and
    # touched customers when idle; a full segment refresh and a score
    # recomputation run on their own intervals.
    poll_seconds: float = 1.0
    segments_refresh_seconds: float = 900.0
    scores_interval_seconds: float = 3600.0
    # RFM over the buying customers of this window; the ABCD matrix over this one.
    rfm_window_days: int = 365
    engagement_window_days: int = 90
    # A customer "clicks" with this many opens or clicks in the engagement
    # window, and "buys" with this many purchases.
    engagement_min_clicks: int = 1
    engagement_min_purchases: int = 1
    # Lifetime value and points liability, in minor units of `currency`.
    currency: str = "EUR"
    point_cost_minor: Decimal = Decimal("1")
    # Share of net spend (after refunds and discounts) that is margin; 1 counts it all.
    margin_rate: Decimal = Decimal("1")
    message_cost_minor: dict[str, Decimal] = field(default_factory=_default_message_costs)

    def check(self) -> None:
        if not 1 <= self.events_max_batch <= 5000:
            raise ConfigError("LOYALTY_EVENTS_MAX_BATCH must be 1 to 5000")
        for name in ("events_max_properties_bytes", "events_max_age_days", "rfm_window_days",
                     "engagement_window_days", "poll_seconds", "segments_refresh_seconds",
                     "scores_interval_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"LOYALTY_{name.upper()} must be positive")
        if self.events_max_future_seconds < 0:
            raise ConfigError("LOYALTY_EVENTS_MAX_FUTURE_SECONDS must be >= 0")
        if self.point_cost_minor < 0 or not 0 <= self.margin_rate <= 1:
            raise ConfigError("LOYALTY_POINT_COST_MINOR must be >= 0 and "
                              "LOYALTY_MARGIN_RATE between 0 and 1")


def _decimal(name: str, value: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None


def _costs(value: str) -> dict[str, Decimal]:
    """"PUSH=0.1,SMS=5": the channels named replace the defaults."""
    costs = _default_message_costs()
    for part in filter(None, (p.strip() for p in value.split(","))):
        channel, _, amount = part.partition("=")
        channel = channel.strip().upper()
        if channel not in MESSAGE_CHANNELS:
            raise ConfigError(f"LOYALTY_MESSAGE_COSTS: unknown channel {channel!r}")
        costs[channel] = _decimal("LOYALTY_MESSAGE_COSTS", amount)
    return costs


def load_audience_settings(environ: dict[str, str] | None = None) -> AudienceSettings:
    env = os.environ if environ is None else environ
    kwargs: dict[str, object] = {}
    ints = {
        "LOYALTY_EVENTS_MAX_BATCH": "events_max_batch",
        "LOYALTY_EVENTS_MAX_PROPERTIES_BYTES": "events_max_properties_bytes",
        "LOYALTY_EVENTS_MAX_AGE_DAYS": "events_max_age_days",
        "LOYALTY_EVENTS_MAX_FUTURE_SECONDS": "events_max_future_seconds",
        "LOYALTY_RFM_WINDOW_DAYS": "rfm_window_days",
        "LOYALTY_ENGAGEMENT_WINDOW_DAYS": "engagement_window_days",
        "LOYALTY_ENGAGEMENT_MIN_CLICKS": "engagement_min_clicks",
        "LOYALTY_ENGAGEMENT_MIN_PURCHASES": "engagement_min_purchases",
    }
    for var, name in ints.items():
        if var in env:
            kwargs[name] = int(env[var])
    floats = {
        "LOYALTY_AUDIENCE_POLL_SECONDS": "poll_seconds",
        "LOYALTY_SEGMENTS_REFRESH_SECONDS": "segments_refresh_seconds",
        "LOYALTY_SCORES_INTERVAL_SECONDS": "scores_interval_seconds",
    }
    for var, name in floats.items():
        if var in env:
            kwargs[name] = float(env[var])
    if env.get("LOYALTY_CURRENCY"):
        kwargs["currency"] = env["LOYALTY_CURRENCY"].strip().upper()
    if env.get("LOYALTY_POINT_COST_MINOR"):
        kwargs["point_cost_minor"] = _decimal("LOYALTY_POINT_COST_MINOR",
                                              env["LOYALTY_POINT_COST_MINOR"])
    if env.get("LOYALTY_MARGIN_RATE"):
        kwargs["margin_rate"] = _decimal("LOYALTY_MARGIN_RATE", env["LOYALTY_MARGIN_RATE"])
    if env.get("LOYALTY_MESSAGE_COSTS"):
        kwargs["message_cost_minor"] = _costs(env["LOYALTY_MESSAGE_COSTS"])
    settings = AudienceSettings(**kwargs)  # type: ignore[arg-type]
    settings.check()
    return settings


_settings: AudienceSettings | None = None


def audience_settings() -> AudienceSettings:
    global _settings
    if _settings is None:
        _settings = load_audience_settings()
    return _settings


def set_audience_settings(settings: AudienceSettings | None) -> None:
    """Tests (and embedders) set them; None reads the environment again."""
    global _settings
    _settings = settings
