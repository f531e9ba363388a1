"""Reminders before points or a coupon expire: in the window, once each."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.models import Coupon, ProgrammeSettings
from loyalty.points.reminders import write_reminders
from tests.integration.test_expiry import buy, customer, rows, store

pytestmark = pytest.mark.usefixtures("database")

# 10:00 in Paris; lots are placed relative to it.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def lots_expiring(*offsets: timedelta) -> None:
    """Give the lots, in id order, these expiry dates from NOW."""
    ids = [r[0] for r in await rows("SELECT id FROM lot ORDER BY id")]
    assert len(ids) == len(offsets)
    for lot_id, offset in zip(ids, offsets, strict=True):
        await rows("UPDATE lot SET expires_at = $1 WHERE id = $2", NOW + offset, lot_id)


async def events(kind: str) -> list[tuple[int, dict]]:
    found = await rows("SELECT customer_id, payload FROM outbox_event WHERE kind = "
                       f"'{kind}' ORDER BY id")
    return [(c, json.loads(p) if isinstance(p, str) else p) for c, p in found]


async def test_lots_expiring_within_the_window_are_reminded_grouped_by_day():
    # given lots expiring in 3 days (two, the same Paris day), 10 days, 20 days
    holder, shop = await customer(), await store()
    for i, points in enumerate((100, 50, 20, 30)):
        await buy(holder, shop, points, key=f"p{i}")
    await lots_expiring(timedelta(days=3), timedelta(days=3, hours=5), timedelta(days=10),
                        timedelta(days=20))
    # when the job runs (14 days by default)
    written = await write_reminders(NOW)
    # then one event for the day with two lots, one for the other day in range
    assert written == 2
    found = await events("points.expiring")
    assert [(c, e["points"], e["expires_at"]) for c, e in found] == [
        (holder.customer_id, 150, (NOW + timedelta(days=3)).isoformat()),
        (holder.customer_id, 20, (NOW + timedelta(days=10)).isoformat()),
    ]
    lot_ids = [r[0] for r in await rows("SELECT id FROM lot ORDER BY id")]
    assert (found[0][1]["lot_id"], found[0][1]["lot_ids"]) == (lot_ids[0], lot_ids[:2])
    reminded = await rows("SELECT reminded_at IS NOT NULL FROM lot ORDER BY id")
    assert [bool(r[0]) for r in reminded] == [True, True, True, False]


async def test_each_reminder_is_written_once_even_by_workers_at_once():
    holder, shop = await customer(), await store()
    other = await customer("d@example.test")
    await buy(holder, shop, 10, key="a")
    await buy(other, shop, 20, key="b")
    await lots_expiring(timedelta(days=2), timedelta(days=5))
    counts = await asyncio.gather(*[write_reminders(NOW) for _ in range(3)])
    assert sum(counts) == 2
    assert await write_reminders(NOW + timedelta(days=1)) == 0
    assert sorted(c for c, _ in await events("points.expiring")) == sorted(
        [holder.customer_id, other.customer_id])


async def test_spent_and_already_expired_lots_are_not_reminded():
    holder, shop = await customer(), await store()
    await buy(holder, shop, 10, key="a")
    await buy(holder, shop, 10, key="b")
    await lots_expiring(timedelta(days=2), timedelta(days=-1))
    await rows("UPDATE lot SET remaining = 0 WHERE id = (SELECT MIN(id) FROM lot)")
    assert await write_reminders(NOW) == 0


async def test_coupons_expiring_within_the_window_are_reminded_once():
    holder = await customer()
    common = dict(customer_id=holder.customer_id, benefit_kind="PERCENT_OFF", benefit_value=10)
    soon = await Coupon.create(code="SOON", title="10% off", expires_at=NOW + timedelta(days=5),
                               **common)
    await Coupon.create(code="USED", title="used", expires_at=NOW + timedelta(days=5),
                        redeemed_at=NOW - timedelta(days=1), **common)
    await Coupon.create(code="LATER", title="later", expires_at=NOW + timedelta(days=40),
                        **common)
    await Coupon.create(code="GONE", title="gone", expires_at=NOW - timedelta(days=1), **common)
    assert await write_reminders(NOW) == 1
    assert await write_reminders(NOW) == 0
    assert await events("coupon.expiring") == [(holder.customer_id, {
        "coupon_id": soon.id, "title": "10% off",
        "expires_at": (NOW + timedelta(days=5)).isoformat()})]


async def test_the_window_comes_from_the_programme_settings_and_zero_disables():
    holder, shop = await customer(), await store()
    await buy(holder, shop, 10, key="a")
    await buy(holder, shop, 10, key="b")
    await lots_expiring(timedelta(days=2), timedelta(days=6))
    settings = await ProgrammeSettings.create(id=1, reminder_days=0)
    assert await write_reminders(NOW) == 0
    settings.reminder_days = 3
    await settings.save()
    assert await write_reminders(NOW) == 1
    assert [e["points"] for _, e in await events("points.expiring")] == [10]
