"""The check-in rules as pure functions: timing, accuracy, inside, travel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from geofence import rules
from geofence.visits import local_day
from loyalty.platform.config import Settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = Settings(env="test")
PARIS = (48.8566, 2.3522)
NEW_YORK = (40.7128, -74.0060)


def fix(at: tuple[float, float], minutes: float = 0.0, accuracy: float | None = 10.0):
    return rules.Fix(at[0], at[1], accuracy, NOW + timedelta(minutes=minutes))


def test_timing_allows_small_skew_and_refuses_the_future_and_the_stale():
    assert rules.timing(NOW + timedelta(minutes=1), NOW, SETTINGS) is None
    assert "future" in rules.timing(NOW + timedelta(minutes=3), NOW, SETTINGS)
    assert rules.timing(NOW - timedelta(minutes=9), NOW, SETTINGS) is None
    assert "old" in rules.timing(NOW - timedelta(minutes=11), NOW, SETTINGS)


def test_accuracy_limit():
    assert rules.accuracy(200.0, SETTINGS) is None
    assert rules.accuracy(None, SETTINGS) is None
    assert "imprecise" in rules.accuracy(200.5, SETTINGS)


def test_inside_allows_the_fix_s_accuracy_beyond_the_radius():
    centre = (48.87, 2.33)
    about_334m_north = (48.873, 2.33)
    assert rules.inside(fix(about_334m_north, accuracy=190.0), *centre, 150.0) is None
    assert "outside" in rules.inside(fix(about_334m_north, accuracy=180.0), *centre, 150.0)
    assert rules.inside(fix(centre, accuracy=0.0), *centre, 150.0) is None


def test_paris_to_new_york_in_ten_minutes_is_impossible_in_seven_hours_is_not():
    assert "Impossible" in rules.travel(fix(PARIS), fix(NEW_YORK, 10), SETTINGS)
    assert rules.travel(fix(PARIS), fix(NEW_YORK, 20 * 60), SETTINGS) is None
    assert rules.travel(None, fix(NEW_YORK), SETTINGS) is None


def test_travel_gives_the_accuracies_the_benefit_of_the_doubt():
    near = (48.8566 + 0.0018, 2.3522)  # about 200 m, at the same instant
    assert rules.travel(fix(PARIS, accuracy=100.0), fix(near, accuracy=100.0), SETTINGS) is None
    assert rules.travel(fix(PARIS, accuracy=5.0), fix(near, accuracy=5.0), SETTINGS) is not None


def test_out_of_order_check_ins_are_measured_by_the_absolute_interval():
    lyon = (45.764, 4.8357)  # about 390 km from Paris: 2 hours at 195 km/h
    assert rules.travel(fix(PARIS, 120), fix(lyon), SETTINGS) is None
    assert rules.travel(fix(PARIS, 30), fix(lyon), SETTINGS) is not None


def test_the_local_day_follows_the_customer_s_timezone():
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert local_day(late, "Europe/Paris") == "2026-11-24"
    assert local_day(late, "America/New_York") == "2026-11-23"
    assert local_day(late, "Not/AZone") == "2026-11-23"


def test_a_beacon_heard_fainter_than_the_minimum_is_refused():
    assert rules.signal(-90, SETTINGS) is None
    assert rules.signal(-40, SETTINGS) is None
    assert "too weak (-91 dBm" in rules.signal(-91, SETTINGS)
    assert rules.signal(-91, Settings(env="test", checkin_min_rssi=-100)) is None


def test_an_unmeasured_signal_passes():
    assert rules.signal(None, SETTINGS) is None
    assert rules.signal(0, SETTINGS) is None  # iOS: could not measure


def test_cool_down_and_open_visit_span_follow_the_settings():
    from geofence.visits import in_cooldown, open_since

    assert not in_cooldown(None, NOW, SETTINGS)
    assert in_cooldown(NOW - timedelta(minutes=59), NOW, SETTINGS)
    assert not in_cooldown(NOW - timedelta(minutes=60), NOW, SETTINGS)
    assert not in_cooldown(NOW, NOW, Settings(env="test", visit_cooldown_minutes=0))
    assert open_since(NOW, SETTINGS) == NOW - timedelta(hours=4)
