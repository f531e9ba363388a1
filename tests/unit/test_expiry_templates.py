"""The messages of the scheduled jobs' events, and their dates: pure logic."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty.events import parse
from loyalty.platform.config import load_settings
from notifications.personalise import template_for
from notifications.templates import format_date, render

DEC_2 = date(2026, 12, 2)


@pytest.mark.parametrize("locale,expected", [
    ("en-GB", "2 December"), ("fr-FR", "2 décembre"), ("de", "2 December"), (None, "2 December"),
])
def test_dates_are_written_as_people_write_them(locale, expected):
    assert format_date(DEC_2, locale) == expected


@pytest.mark.parametrize("kind,locale,values,title,body", [
    ("points.expiring", "en", {"first_name": "Alice", "points": 150, "expiring_date": DEC_2},
     "Your points expire soon", "Alice, 150 points expire on 2 December: use them before then"),
    ("points.expiring", "fr-FR", {"first_name": "Alice", "points": 1500, "expiring_date": DEC_2},
     "Vos points expirent bientôt",
     "Alice, 1\u202f500 points expirent le 2 décembre : utilisez-les d'ici là"),
    ("points.expired", "en", {"first_name": "Alice", "points": 1200, "balance": 30},
     "1,200 points expired", "Alice, 1,200 points reached their expiry date. You have 30 points."),
    ("coupon.expiring", "fr", {"first_name": "Alice", "coupon": "Un café offert",
                         "expiring_date": DEC_2},
     "Votre bon expire bientôt",
     "Alice, Un café offert expire le 2 décembre : utilisez-le d'ici là"),
    ("tier.up", "en", {"first_name": "Ann", "tier": "Gold"},
     "Welcome to Gold", "Congratulations Ann, you are now Gold."),
    ("tier.down", "fr", {"first_name": "Ann", "tier": "Silver"},
     "Votre niveau est désormais Silver", "Ann, votre niveau est désormais Silver."),
])
def test_the_job_events_read_well_in_each_language(kind, locale, values, title, body):
    message = render(kind, locale, values)
    assert (message.title, message.body) == (title, body)


@pytest.mark.parametrize("payload,template", [
    ({"from": "Silver", "to": "Gold", "direction": "up"}, "tier.up"),
    ({"from": None, "to": "Silver", "direction": "up"}, "tier.up"),
    ({"from": "Gold", "to": "Silver", "direction": "down"}, "tier.down"),
    ({"from": "Silver", "to": None, "direction": "down"}, "tier.lost"),
])
def test_a_tier_change_picks_its_message_by_direction(payload, template):
    assert template_for(parse("tier.changed", payload)) == template


def test_the_jobs_interval_is_a_setting():
    assert load_settings({}).jobs_interval_seconds == 60
    assert load_settings({"LOYALTY_JOBS_INTERVAL_SECONDS": "5"}).jobs_interval_seconds == 5
