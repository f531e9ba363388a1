"""Lifetime value, acquisition cost, points liability: per customer and for
the whole programme, the same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tortoise import connections

from audience import value
from audience.config import AudienceSettings, set_audience_settings
from audience.events import EventIn, track_events
from audience.profiles import profile_rows
from audience.scope import EVERYONE
from loyalty.errors import DomainError
from loyalty.identity import accounts as identity
from loyalty.money import Money
from loyalty.platform.sql import execute
from loyalty.points import refunds
from loyalty.points.expiry import expire_due
from notifications.worker import run_once as notify
from tests.conftest import PASSWORD
from tests.integration.test_expiry import buy, redeem, store
from wallet.cards import issue_card, resolve_card
from wallet.models import Card

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime.now(UTC)


async def signed_up(email: str, source: str | None = None, campaign: str | None = None):
    acquisition = identity.Acquisition(source, "social", campaign) if source else None
    await identity.sign_up(email=email, password=PASSWORD, first_name="C",
                           issue_card=issue_card, acquisition=acquisition)
    card = await Card.get(customer__email=email)
    return await resolve_card(None, card.number)


async def test_lifetime_value_adds_up_margin_acquisition_and_retention():
    set_audience_settings(AudienceSettings(margin_rate=Decimal("0.4"),
                                           point_cost_minor=Decimal("0.5"),
                                           message_cost_minor={"PUSH": Decimal(2),
                                                               "INBOX": Decimal(1),
                                                               "EMAIL": Decimal(0),
                                                               "SMS": Decimal(0)}))
    shop = await store()
    alice = await signed_up("alice@example.test", "instagram", "spring")
    await signed_up("bob@example.test", "instagram", "spring")
    await signed_up("carol@example.test", "instagram")
    month = value.month_of(NOW)
    # the source cost 300 this month (3 customers), its spring campaign 1000 (2 customers)
    await value.record_acquisition_cost(source="instagram", campaign=None, month=month,
                                        amount_minor=300, currency="EUR", staff_id=None)
    await value.record_acquisition_cost(source="instagram", campaign="spring", month=month,
                                        amount_minor=1000, currency="EUR", staff_id=None)
    # Alice buys 50 and 30 EUR, 10 EUR of the first refunded, and gets one message
    await buy(alice, shop, 50, key="a-1")
    await buy(alice, shop, 30, key="a-2")
    await refunds.refund_purchase(idempotency_key="rf", store_id=shop, receipt_id="a-1",
                                  amount=Money(1000, "EUR"))
    await execute(connections.get("default"), "DELETE FROM outbox_event WHERE kind <> $1",
                  "points.earned")
    await execute(connections.get("default"),
                  "DELETE FROM outbox_event WHERE id <> (SELECT MIN(id) FROM outbox_event)")
    await notify()
    rows = await profile_rows([alice.customer_id], scope=EVERYONE)
    found = (await value.lifetime_values(list(rows.values())))[alice.customer_id]
    # margin 0.4 x (8000 - 1000) = 2800; acquisition 300/3 + 1000/2 = 600;
    # retention: 70 points net (80 earned, 10 refunded) x 0.5 + one inbox message = 36
    assert (found.historical_margin_minor, found.acquisition_cost_minor,
            found.retention_cost_minor) == (2800, 600, 36)
    assert found.currency == "EUR" and found.prediction == value.NO_PREDICTION


async def test_the_value_by_channel_count_averages_the_same_figures():
    shop = await store()
    people = [await signed_up(f"c{i}@example.test", "news" if i % 2 else None)
              for i in range(5)]
    await value.record_acquisition_cost(source="news", campaign=None,
                                        month=value.month_of(NOW), amount_minor=999,
                                        currency="EUR", staff_id=None)
    for i, who in enumerate(people):
        for n in range(i):
            await buy(who, shop, 10 + n, key=f"{i}-{n}")
    for who in people[3:]:
        await track_events([EventIn(f"w{who.customer_id}", "page_viewed", NOW, "WEB")],
                           customer_id=who.customer_id, now=NOW)
    await notify()
    by_count = await value.value_by_channel_count()
    rows = await profile_rows([p.customer_id for p in people], scope=EVERYONE)
    each = await value.lifetime_values(list(rows.values()))
    from audience.timeline import activity_of

    activity = await activity_of([p.customer_id for p in people])
    expected: dict[int, list[int]] = {}
    for who in people:
        expected.setdefault(len(activity[who.customer_id].channels), []).append(
            value.net_value(each[who.customer_id]))
    assert by_count == [
        (n, len(v), int((Decimal(sum(v)) / len(v)).quantize(Decimal(1), "ROUND_HALF_UP")))
        for n, v in sorted(expected.items())]
    assert [n for n, _, _ in by_count] == [0, 1, 2]


async def test_points_liability_and_breakage():
    set_audience_settings(AudienceSettings(point_cost_minor=Decimal("0.5")))
    shop = await store()
    alice = await signed_up("alice@example.test")
    await buy(alice, shop, 100, key="a-1")
    await buy(alice, shop, 60, key="a-2")
    await redeem(alice, shop, 30, key="x")
    await execute(connections.get("default"),
                  "UPDATE lot SET expires_at = $1 WHERE id = (SELECT MAX(id) FROM lot)",
                  NOW - timedelta(hours=1))
    await expire_due(NOW)
    found = await value.points_liability()
    # 160 issued, 30 spent, the second lot's 60 expired: 70 owed, 60/160 broken
    assert (found.outstanding_points, found.pending_points, found.value_minor) == (70, 0, 35)
    assert found.breakage_rate == pytest.approx(60 / 160)


@pytest.mark.parametrize("kwargs, field", [
    ({"source": " "}, "source"),
    ({"campaign": "x" * 101}, "campaign"),
    ({"month": "2026-13"}, "month"),
    ({"month": "26-01"}, "month"),
    ({"currency": "USD"}, "amount.currency"),
    ({"amount_minor": -1}, "amount.amountMinor"),
])
async def test_acquisition_costs_are_validated(kwargs, field):
    args = {"source": "news", "campaign": None, "month": "2026-01", "amount_minor": 5,
            "currency": "EUR", "staff_id": None, **kwargs}
    with pytest.raises(DomainError) as refused:
        await value.record_acquisition_cost(**args)
    assert refused.value.field == field


async def test_attribution_feeds_the_models_conversion_paths_once_they_exist(monkeypatch):

    from audience import touchpoints

    shop = await store()
    alice = await signed_up("alice@example.test", "instagram")
    await track_events([EventIn("p-1", "page_viewed", NOW - timedelta(days=2), "WEB",
                                properties={"utm_source": "news"}),
                        EventIn("p-2", "push_opened", NOW - timedelta(days=1), "APP")],
                       customer_id=alice.customer_id, now=NOW)
    await buy(alice, shop, 25, key="a-1")
    window = (NOW - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1))
    [path] = await touchpoints.conversion_paths(*window)
    assert path.revenue_minor == 2500
    # oldest first; she signed up (the acquisition) after the events' stated times
    assert [t for t, _ in path.touchpoints] == ["utm:news", "push_opened",
                                                "acquisition:instagram"]
    # The linear model splits the one conversion and its 25.00 three ways, to the cent.
    credits = await touchpoints.attribution("LINEAR", *window)
    assert sorted((c.touchpoint, round(c.conversions, 6)) for c in credits) == [
        ("acquisition:instagram", 0.333333), ("push_opened", 0.333333), ("utm:news", 0.333333)]
    assert sorted(c.revenue_minor for c in credits) == [833, 833, 834]
