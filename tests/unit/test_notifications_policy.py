"""The worker's policy knobs and the customer's local day the marketing cap counts in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifications.caps import local_day
from notifications.policy import Policy, load_policy


def test_policy_defaults_and_environment():
    assert load_policy({}) == Policy(lease_seconds=300.0, marketing_daily_cap=3)
    policy = load_policy({"LOYALTY_PUSH_LEASE_SECONDS": "2.5", "LOYALTY_MARKETING_DAILY_CAP": "5"})
    assert (policy.lease, policy.marketing_daily_cap) == (timedelta(seconds=2.5), 5)


def test_a_local_day_is_the_customers_calendar_day_in_utc():
    # 23:30 in Paris on 15 January is still the 15th there; 00:30 is the 16th.
    assert local_day(datetime(2026, 1, 15, 22, 30, tzinfo=UTC), "Europe/Paris") == (
        datetime(2026, 1, 14, 23, 0, tzinfo=UTC), datetime(2026, 1, 15, 23, 0, tzinfo=UTC))
    assert local_day(datetime(2026, 1, 15, 23, 30, tzinfo=UTC), "Europe/Paris")[0] == datetime(
        2026, 1, 15, 23, 0, tzinfo=UTC)


def test_a_local_day_may_last_23_or_25_hours():
    spring = local_day(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), "Europe/Paris")
    autumn = local_day(datetime(2026, 10, 25, 12, 0, tzinfo=UTC), "Europe/Paris")
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
