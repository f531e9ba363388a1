"""Personalised messages: what the ledger says fills the templates, and a
sentence without its values is left out whole. Pure logic, no database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from loyalty.events import PointsEarned, PointsRedeemed, VisitAccepted
from loyalty.programme.progress import Goal, Progress, next_reward, next_tier
from loyalty.programme.tiers import TierInfo
from notifications import templates
from notifications.personalise import NOWHERE, Standing, template_for, values
from notifications.templates import ALLOWED, TemplateError, load, render

BASE = {"first_name": "Alice", "points": 12, "balance": 1450}
TIERS = (TierInfo(1, "Silver", 100, 1), TierInfo(2, "Gold", 500, 1))  # type: ignore[arg-type]


def progress(reward: Goal | None = None, tier: Goal | None = None, expiring: int | None = None,
             at: datetime | None = None) -> Progress:
    return Progress(1450, reward, tier, expiring, at)


@pytest.mark.parametrize("kind,locale,store,body", [
    ("points.earned", "en", None, "Alice, +12 points, 1,450 in all"),
    ("points.earned", "fr", None, "Alice, +12 points, 1\u202f450 au total"),
    ("points.redeemed", "en", None, "Alice, you spent 12 points. 1,450 left"),
    ("points.redeemed", "fr", "Opéra",
     "Alice, vous avez utilisé 12 points à Opéra. Il vous en reste 1\u202f450"),
    ("points.refunded", "en", None, "Alice, a refund took back 12 points, 1,450 in all"),
])
def test_without_a_store_the_message_names_none(kind, locale, store, body):
    assert render(kind, locale, {**BASE, "store": store}).body == body


@pytest.mark.parametrize("locale,title,body", [
    ("en", "You got Free coffee",
     "Alice, your coupon is ready: 30 points spent, 1,450 left. 50 more points for Cake"),
    ("fr", "Vous avez obtenu Free coffee",
     "Alice, votre bon est prêt : 30 points utilisés, il vous en reste 1\u202f450. "
     "Encore 50 points pour Cake"),
])
def test_a_reward_bought_in_the_app_says_what_was_got(locale, title, body):
    event = PointsRedeemed(points=30, balance=1450, store_name=None, reward_name="Free coffee")
    kind = template_for(event)
    assert kind == "reward.redeemed"
    standing = Standing(None, progress(reward=Goal("Cake", 50)))
    message = render(kind, locale, values(event, "Alice", None, standing))
    assert (message.title, message.body) == (title, body)


@pytest.mark.parametrize("locale,goal,expected", [
    ("en", {"next_reward": "Cake"},
     "Alice, +12 points at Opéra, 1,450 in all. 1,050 more points for Cake"),
    ("fr", {"next_reward": "Cake"},
     "Alice, +12 points à Opéra, 1\u202f450 au total. Encore 1\u202f050 points pour Cake"),
    ("en", {"next_tier": "Gold"},
     "Alice, +12 points at Opéra, 1,450 in all. 1,050 more points to reach Gold"),
    ("fr", {"next_tier": "Gold"}, "Alice, +12 points à Opéra, 1\u202f450 au total. "
     "Encore 1\u202f050 points pour atteindre le niveau Gold"),
])
def test_the_next_goal_is_told_in_the_customers_language(locale, goal, expected):
    filled = {**BASE, "store": "Opéra", "points_to_next": 1050, **goal}
    assert render("points.earned", locale, filled).body == expected


def test_points_expiring_soon_are_told_on_the_customers_day():
    # 23:30 UTC on 1 December is 2 December in Paris
    at = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    standing = Standing(1450, progress(expiring=1200, at=at))
    event = PointsEarned(points=12, balance=1450, store_name="Opéra", channel="STORE")
    filled = values(event, "Alice", "Europe/Paris", standing)
    assert render("points.earned", "fr", filled).body == (
        "Alice, +12 points à Opéra, 1\u202f450 au total. 1\u202f200 points expirent le 2 décembre")
    filled = values(event, "Alice", "UTC", standing)
    assert render("points.earned", "en", filled).body == (
        "Alice, +12 points at Opéra, 1,450 in all. 1,200 points expire on 1 December")


def test_a_visit_welcome_tells_balance_next_reward_and_the_stores_offer():
    standing = Standing(80, progress(reward=Goal("Cake", 70)), offer="Coffee week")
    welcome = VisitAccepted(visit_id=1, store_name="Opéra", store_id=1)
    kind = template_for(welcome)
    assert kind == "visit.welcome"
    filled = values(welcome, "Alice", None, standing)
    assert render(kind, "en", filled).body == (
        "You have 80 points. 70 more points for Cake. In store: Coffee week")
    rewarded = VisitAccepted(visit_id=1, store_name="Opéra", store_id=1, points=10, balance=90)
    message = render("visit.accepted", "fr", values(rewarded, "Alice", None, standing))
    assert (message.title, message.body) == (
        "Bienvenue à Opéra, Alice",
        "Merci de votre visite : +10 points, 90 au total. Encore 70 points pour Cake. "
        "En magasin : Coffee week")
    bare = values(rewarded, "Alice", None, Standing(90))
    assert render("visit.accepted", "en", bare).body == (
        "Thanks for coming in: +10 points for your visit, 90 in all")


def test_the_nearer_of_next_reward_and_next_tier_is_the_one_told():
    near_tier = Standing(0, progress(reward=Goal("Spa", 260), tier=Goal("Silver", 60)))
    filled = values(PointsEarned(points=1, channel="STORE"), "A", None, near_tier)
    assert (filled["points_to_next"], filled["next_reward"], filled["next_tier"]) == (
        60, None, "Silver")
    tie = Standing(0, progress(reward=Goal("Cake", 60), tier=Goal("Silver", 60)))
    filled = values(PointsEarned(points=1, channel="STORE"), "A", None, tie)
    assert (filled["next_reward"], filled["next_tier"]) == ("Cake", None)
    none = values(PointsEarned(points=1, channel="STORE"), "A", None, NOWHERE)
    assert (none["points_to_next"], none["next_reward"], none["next_tier"]) == (None,) * 3


def test_goals_are_measured_from_the_balance():
    prices = [(100, "Coffee"), (150, "Cake"), (400, "Lunch")]
    assert next_reward(prices, 120) == Goal("Cake", 30)
    assert next_reward(prices, -20) == Goal("Coffee", 100)
    assert next_reward(prices, 400) is None
    assert next_tier(TIERS, None, 40) == Goal("Silver", 60)
    assert next_tier(TIERS, TIERS[0], 110) == Goal("Gold", 390)
    assert next_tier(TIERS, TIERS[1], 900) is None
    # reached on points but not yet placed: the tier after it
    assert next_tier(TIERS, None, 120) == Goal("Gold", 380)


def test_every_declared_placeholder_is_filled_and_used():
    filled = values(PointsEarned(channel="STORE"), "A", None, NOWHERE)
    assert set(filled) == ALLOWED
    used = set()
    for by_locale in templates.TEMPLATES.values():
        for title, body in by_locale.values():
            used |= set(re.findall(r"{(\w+)}", title + body))
    assert used == ALLOWED


@pytest.mark.parametrize("raw,message", [
    ({"k": {"en": ("x", "a[ at {stor}]")}}, "unknown placeholder"),
    ({"k": {"en": ("x", "a[ at {store}")}}, r"unbalanced or nested \[ \]"),
    ({"k": {"en": ("x", "a[ at [{store}]]")}}, r"unbalanced or nested \[ \]"),
    ({"k": {"en": ("x", "a] at {store}")}}, r"unbalanced or nested \[ \]"),
])
def test_bad_optional_parts_fail_when_templates_load(raw, message):
    with pytest.raises(TemplateError, match=message):
        load(raw)


def test_a_date_value_is_formatted_for_the_language():
    assert render("points.expiring", "fr", {"first_name": "Alice", "points": 5,
                                     "expiring_date": date(2026, 1, 3)}
                  ).body.startswith("Alice, 5 points expirent le 3 janvier")
