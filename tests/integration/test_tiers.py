"""Tiers against the real database: up at once, down only at period end, with
the period edges on the programme's wall clock (not UTC)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from loyalty import ledger
from loyalty.events import PointsEarned
from loyalty.identity import accounts as identity
from loyalty.ledger import Channel, Kind, NewLot, Posting, PurchaseRow
from loyalty.money import Money
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetchrow
from loyalty.points import purchases, refunds
from loyalty.points.earning import expiry_for
from loyalty.programme import stores, tier_admin
from loyalty.programme.progress import Goal, progress_for
from loyalty.programme.settings import update_programme_settings
from loyalty.programme.tiers import active_tiers, after_earning, review_due, tier_of, tier_status
from tests.conftest import PASSWORD
from wallet.cards import issue_card, resolve_card

pytestmark = pytest.mark.usefixtures("database")

LA = "America/Los_Angeles"
AKL = "Pacific/Auckland"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def _customer(name: str = "c"):
    email = f"{name}@example.test"
    await identity.sign_up(email=email, password=PASSWORD, first_name=name,
                           issue_card=issue_card)
    from wallet.models import Card

    card = await Card.get(customer__email=email)
    return await resolve_card(None, card.number)


async def _ladder(tz: str = LA, **settings: object) -> None:
    await update_programme_settings(None, timezone=tz, **settings)  # type: ignore[arg-type]
    await tier_admin.create_tier(None, name="Silver", threshold=100, multiplier="1.25")
    await tier_admin.create_tier(None, name="Gold", threshold=500, multiplier="1.5")


async def _store() -> int:
    return (await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")).id


async def _earn_at(holder, store_id: int, points: int, when: datetime, key: str):
    """A posting as a till that was offline would make it, at any instant (the
    purchase use case refuses receipts older than 30 days): the same ledger
    rows, then the tier check the posting makes in its transaction."""
    async with transaction() as conn:
        await ledger.post(conn, Posting(
            kind=Kind.EARN, channel=Channel.STORE, customer_id=holder.customer_id,
            account_id=holder.account_id, points=points,
            lots=NewLot(expiry_for(when, get_settings())), description="Purchase", key=key,
            fingerprint=key, event=PointsEarned(store_id=store_id, store_name="Opéra",
                                                channel="STORE"),
            occurred_at=when, now=when, store_id=store_id,
            purchase=PurchaseRow(store_id, key, points * 100, "EUR")))
        return await after_earning(conn, holder.customer_id, when)


async def _buy(holder, store_id: int, amount: int, key: str) -> None:
    """A real purchase, then the tier check as the posting coordinator makes it
    (harmless if record_purchase already made it: a second check changes nothing)."""
    await purchases.record_purchase(purchases.RecordPurchase(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, receipt_id=key, total=Money(amount, "EUR")))
    async with transaction() as conn:
        await fetchrow(conn, "SELECT id FROM account WHERE id = $1 FOR UPDATE",
                       holder.account_id)
        await after_earning(conn, holder.customer_id, datetime.now(UTC))


async def _tier(holder) -> str | None:
    found = await tier_of(connections.get("default"), holder.customer_id)
    return None if found is None else found.name


async def _review_at(holder) -> datetime:
    row = await fetchrow(connections.get("default"),
                         "SELECT review_at FROM customer_tier WHERE customer_id = $1",
                         holder.customer_id)
    return as_datetime(row[0])


async def _events(holder=None) -> list[dict]:
    _, rows = await connections.get("default").execute_query(
        "SELECT customer_id, payload FROM outbox_event WHERE kind = 'tier.changed' ORDER BY id")
    found = [dict(json.loads(p) if isinstance(p, str) else p, customer=c) for c, p in rows]
    return [e for e in found if holder is None or e["customer"] == holder.customer_id]


async def test_upgrade_happens_at_once_mid_period():
    # given a ladder and a customer below it
    await _ladder()
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 60_00, "p1")
    assert await _tier(holder) is None and await _events() == []
    # when a purchase takes the year's total over 100, then over 500
    await _buy(holder, store_id, 50_00, "p2")
    assert await _tier(holder) == "Silver"
    await _buy(holder, store_id, 400_00, "p3")
    # then each step is taken at once, with one event each
    assert await _tier(holder) == "Gold"
    assert [(e["from"], e["to"], e["direction"]) for e in await _events(holder)] == [
        (None, "Silver", "up"), ("Silver", "Gold", "up")]
    # reviewed at the end of this year on the Los Angeles clock
    now = datetime.now(UTC)
    assert await _review_at(holder) == datetime(
        now.astimezone(ZoneInfo(LA)).year + 1, 1, 1, tzinfo=ZoneInfo(LA))


async def test_downgrade_only_at_period_end_on_the_programme_clock():
    # given a Gold customer from 2025 who, in 2026, earned only Silver's worth;
    # 30 of those points at 23:30 on 31 December in Los Angeles (07:30 UTC on
    # 1 January: still 2026 for the programme)
    await _ladder(LA)
    store_id = await _store()
    kept, dropped = await _customer("kept"), await _customer("dropped")
    for h in (kept, dropped):
        assert await _earn_at(h, store_id, 600, utc(2025, 3, 1), f"{h.customer_id}-25")
        await _earn_at(h, store_id, 80, utc(2026, 6, 15), f"{h.customer_id}-26")
    assert await review_due(utc(2026, 1, 1, 8)) == 2  # 2025 earned Gold: kept
    assert [await _tier(kept), await _tier(dropped)] == ["Gold", "Gold"]
    assert await _review_at(kept) == utc(2027, 1, 1, 8)
    assert await _earn_at(kept, store_id, 30, local(LA, 2026, 12, 31, 23, 30), "k") is None
    # the other customer's 30 points came at 00:30 on 1 January, LA time
    await _earn_at(dropped, store_id, 30, local(LA, 2027, 1, 1, 0, 30), "d")

    # when the period-end job runs a second before local midnight: nothing is due
    assert await review_due(utc(2027, 1, 1, 7, 59, 59)) == 0
    assert [await _tier(kept), await _tier(dropped)] == ["Gold", "Gold"]
    # and at local midnight
    assert await review_due(utc(2027, 1, 1, 8)) == 2

    # then each drops to what 2026 (LA) earned: 110 is Silver, 80 is nothing
    assert [await _tier(kept), await _tier(dropped)] == ["Silver", None]
    assert [(e["from"], e["to"], e["direction"]) for e in await _events(kept)] == [
        (None, "Gold", "up"), ("Gold", "Silver", "down")]
    assert (await _events(dropped))[-1]["to"] is None
    assert await _review_at(kept) == utc(2028, 1, 1, 8)
    # and running the job again changes nothing
    before = len(await _events())
    assert await review_due(utc(2027, 1, 1, 9)) == 0
    assert len(await _events()) == before


@pytest.mark.parametrize(
    ("tz", "instant", "review"),
    [
        # 23:30 on New Year's Eve in LA: reviewed half an hour later.
        (LA, local(LA, 2026, 12, 31, 23, 30), utc(2027, 1, 1, 8)),
        # 11:30 UTC on 31 December is already 2027 in Auckland: a whole year.
        (AKL, utc(2026, 12, 31, 11, 30), local(AKL, 2028, 1, 1)),
    ],
)
async def test_upgrade_late_in_the_year_is_reviewed_at_local_year_end(tz, instant, review):
    # given
    await _ladder(tz)
    holder, store_id = await _customer(), await _store()
    # when a purchase crosses Silver's threshold
    upgraded = await _earn_at(holder, store_id, 120, instant, "late")
    # then it is Silver until the end of that local year, which it keeps
    assert upgraded is not None and upgraded.name == "Silver"
    assert await _review_at(holder) == review
    assert await review_due(review) == 1
    assert await _tier(holder) == "Silver"
    assert len(await _events(holder)) == 1


async def test_rolling_window_review_measures_the_window_since_the_upgrade():
    await _ladder("UTC", tier_period="ROLLING", tier_window_days=30)
    holder, store_id = await _customer(), await _store()
    await _earn_at(holder, store_id, 520, utc(2026, 3, 1), "a")
    assert await _review_at(holder) == utc(2026, 3, 31)
    await _earn_at(holder, store_id, 150, utc(2026, 3, 20), "b")
    # the window [1 March, 31 March) earned 670: Gold again for 30 days
    assert await review_due(utc(2026, 3, 31)) == 1 and await _tier(holder) == "Gold"
    # [31 March, 30 April) earned nothing
    assert await review_due(utc(2026, 4, 30)) == 1 and await _tier(holder) is None


async def test_spend_basis_counts_money_net_of_refunds():
    # given tiers on spend: Silver at 100.00, Gold at 1,000.00
    await _ladder("UTC", tier_basis="SPEND")
    silver, gold = await active_tiers(connections.get("default"))
    await tier_admin.update_tier(None, gold.id, threshold=1000_00)
    await tier_admin.update_tier(None, silver.id, threshold=100_00)
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 80_00, "s1")
    await refunds.refund_purchase(idempotency_key="r1", store_id=store_id, receipt_id="s1",
                                  amount=Money(30_00, "EUR"))
    # when the net spend is 50.00, then 95.00, then 105.00
    await _buy(holder, store_id, 45_00, "s2")
    assert await _tier(holder) is None
    await _buy(holder, store_id, 10_00, "s3")
    # then only the last one reaches Silver
    assert await _tier(holder) == "Silver"


async def test_tier_status_points_to_the_next_tier():
    conn = connections.get("default")
    holder, store_id = await _customer(), await _store()
    now = datetime.now(UTC)
    assert await tier_status(conn, holder.customer_id, now) is None  # no ladder
    await _ladder()
    await _buy(holder, store_id, 40_00, "t1")
    below = await tier_status(conn, holder.customer_id, now)
    assert below is not None and below.name == "" and below.next_tier.name == "Silver"
    assert below.points_to_next_tier == 60
    await _buy(holder, store_id, 500_00, "t2")
    top = await tier_status(conn, holder.customer_id, now)
    assert top.name == "Gold" and top.next_tier is None and top.points_to_next_tier is None


async def test_a_tier_reached_but_not_held_is_not_named_as_the_next_one():
    # given 40 points this period, then a Bronze tier at 20 created mid-period
    # (granted with the next earning, not before)
    conn = connections.get("default")
    await _ladder()
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, "b1")
    await tier_admin.create_tier(None, name="Bronze", threshold=20, multiplier="1.1")
    now = datetime.now(UTC)
    # then the app and the pushes both name Silver, 60 points away, not "0 to Bronze"
    status = await tier_status(conn, holder.customer_id, now)
    assert status.name == "" and status.next_tier.name == "Silver"
    assert status.points_to_next_tier == 60
    progress = (await progress_for(conn, [holder.customer_id], now))[holder.customer_id]
    assert progress.next_tier == Goal("Silver", 60)
    # and the next earning grants Bronze, still aiming at Silver
    await _buy(holder, store_id, 10_00, "b2")
    status = await tier_status(conn, holder.customer_id, now)
    assert status.name == "Bronze" and status.points_to_next_tier == 50


async def test_a_deactivated_tier_counts_as_the_one_below_it():
    await _ladder()
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 600_00, "g")
    gold = (await active_tiers(connections.get("default")))[-1]
    await tier_admin.update_tier(None, gold.id, active=False)
    assert await _tier(holder) == "Silver"


async def test_without_tiers_the_posting_check_touches_no_database():
    assert await active_tiers(connections.get("default")) == ()

    class NoDatabase:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"queried the database ({name})")

    assert await after_earning(NoDatabase(), 1, datetime.now(UTC)) is None  # type: ignore[arg-type]
    assert await tier_of(NoDatabase(), 1) is None  # type: ignore[arg-type]


async def test_two_workers_at_once_change_each_customer_once():
    # given twenty Gold customers whose year ended with nothing earned
    await _ladder(LA)
    store_id = await _store()
    holders = [await _customer(f"w{i}") for i in range(20)]
    for h in holders:
        await _earn_at(h, store_id, 600, utc(2025, 3, 1), f"w{h.customer_id}")
    assert await review_due(utc(2026, 1, 1, 8)) == 20  # 2025 kept them Gold for 2026
    # when two workers run the period-end job at the same moment, in small batches
    reviewed = await asyncio.gather(review_due(utc(2027, 1, 1, 8), batch=3),
                                    review_due(utc(2027, 1, 1, 8), batch=3))
    # then every customer was reviewed once, and dropped once
    assert sum(reviewed) == 20
    downs = [e for e in await _events() if e["direction"] == "down"]
    assert sorted(e["customer"] for e in downs) == sorted(h.customer_id for h in holders)
    assert {await _tier(h) for h in holders} == {None}
