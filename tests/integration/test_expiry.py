"""Expiring lots through the ledger: once, first-expiring-first, and safely
from several workers at once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from loyalty.identity import accounts as identity
from loyalty.ledger.balances import balances_for, verify_ledger
from loyalty.money import Money
from loyalty.platform.config import set_settings
from loyalty.platform.sql import fetch
from loyalty.points import purchases, redemptions, refunds
from loyalty.points.expiry import expire_due
from loyalty.programme import stores
from tests.conftest import DATABASE_URL, PASSWORD, settings_for
from wallet.cards import CardHolder, issue_card, resolve_card

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime.now(UTC)
# Lots expire 12 months after the purchase (the default LOYALTY_EXPIRY_MONTHS).
YEAR_ON = NOW + timedelta(days=366)
ZONE = ZoneInfo("Europe/Paris")


async def customer(email: str = "c@example.test", timezone: str = "Europe/Paris",
                   first_name: str = "C", locale: str = "fr-FR") -> CardHolder:
    await identity.sign_up(email=email, password=PASSWORD, first_name=first_name,
                           locale=locale, timezone=timezone, issue_card=issue_card)
    from wallet.models import Card

    card = await Card.get(customer__email=email)
    return await resolve_card(None, card.number)


async def store() -> int:
    return (await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")).id


async def buy(holder: CardHolder, store_id: int, points: int, *, key: str,
              days_ago: int = 0) -> None:
    await purchases.record_purchase(purchases.RecordPurchase(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, receipt_id=key, total=Money(points * 100, "EUR"),
        occurred_at=NOW - timedelta(days=days_ago) if days_ago else None))


async def redeem(holder: CardHolder, store_id: int, points: int, *, key: str) -> None:
    await redemptions.redeem_points(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, points=points, spend_key=None)


async def rows(sql: str, *args: object) -> list:
    """`sql` with $n placeholders on either database."""
    return [tuple(r) for r in await fetch(connections.get("default"), sql, *args)]


async def balance(holder: CardHolder) -> tuple[int, int]:
    b = (await balances_for([holder.customer_id]))[holder.customer_id]
    return b.available, b.pending


async def expiries() -> list[tuple]:
    return await rows("SELECT customer_id, points, channel, description, idempotency_key "
                      "FROM ledger_transaction WHERE kind = 'EXPIRE' ORDER BY id")


async def test_due_lots_expire_in_one_posting_to_the_expired_account():
    # given two purchases more than a year old and one recent
    holder, shop = await customer(), await store()
    await buy(holder, shop, 120, key="old-1", days_ago=25)
    await buy(holder, shop, 30, key="old-2", days_ago=20)
    await buy(holder, shop, 50, key="new")
    # when the job runs a year after the old ones
    expired = await expire_due(YEAR_ON - timedelta(days=10))
    # then their 150 points leave in one EXPIRE posting, the new lot stays
    assert expired == 150
    assert await balance(holder) == (50, 0)
    [(customer_id, points, channel, description, key)] = await expiries()
    first = (NOW - timedelta(days=25)).astimezone(ZONE).date().isoformat()
    last = (NOW - timedelta(days=20)).astimezone(ZONE).date().isoformat()
    assert (customer_id, points, channel) == (holder.customer_id, -150, "SYSTEM")
    assert description == f"150 points expired (earned {first} to {last})"
    assert key.startswith(f"sys:expire:{holder.account_id}:")
    legs = await rows("SELECT a.code, e.points FROM ledger_entry e JOIN account a "
                      "ON a.id = e.account_id JOIN ledger_transaction t ON t.id = "
                      "e.transaction_id WHERE t.kind = 'EXPIRE' ORDER BY e.points")
    assert legs == [(None, -150), ("expired", 150)]
    [(payload,)] = await rows("SELECT payload FROM outbox_event WHERE kind = 'points.expired'")
    event = json.loads(payload) if isinstance(payload, str) else payload
    assert (event["points"], event["balance"]) == (150, 50)
    assert (await verify_ledger()).problems == []


async def test_expiry_takes_only_what_is_left_after_spending_first_expiring_first():
    # given an old lot of 100 and a new one of 100, and 130 points spent
    holder, shop = await customer(), await store()
    await buy(holder, shop, 100, key="old", days_ago=25)
    await buy(holder, shop, 100, key="new")
    await redeem(holder, shop, 130, key="spend")
    # when the old lot's date passes: it is already empty, nothing expires
    assert await expire_due(YEAR_ON - timedelta(days=20)) == 0
    assert await balance(holder) == (70, 0)
    # and when the new lot's date passes, its 70 left expire
    assert await expire_due(YEAR_ON) == 70
    assert await balance(holder) == (0, 0)
    assert [(r[1], r[3][:18]) for r in await expiries()] == [(-70, "70 points expired ")]
    assert (await verify_ledger()).problems == []


async def test_running_again_expires_nothing_more():
    holder, shop = await customer(), await store()
    await buy(holder, shop, 40, key="p", days_ago=5)
    assert await expire_due(YEAR_ON) == 40
    assert await expire_due(YEAR_ON) == 0
    assert await expire_due(YEAR_ON + timedelta(days=1)) == 0
    assert len(await expiries()) == 1
    assert await balance(holder) == (0, 0)
    assert (await verify_ledger()).problems == []


async def test_workers_running_at_once_expire_each_lot_once():
    # given twelve customers with due lots
    shop = await store()
    holders = [await customer(f"c{i}@example.test") for i in range(12)]
    for i, holder in enumerate(holders):
        await buy(holder, shop, 10 + i, key=f"p{i}", days_ago=3)
        await buy(holder, shop, 5, key=f"q{i}", days_ago=2)
    expected = sum(15 + i for i in range(12))
    # when four workers run the job at the same moment, in small batches
    done = await asyncio.gather(*[expire_due(YEAR_ON, batch=3) for _ in range(4)])
    # then every point expired exactly once
    assert sum(done) == expected
    assert len(await expiries()) == 12
    assert {await balance(h) for h in holders} == {(0, 0)}
    assert (await rows("SELECT SUM(e.points) FROM ledger_entry e JOIN account a "
                       "ON a.id = e.account_id WHERE a.code = 'expired'"))[0][0] == expected
    assert (await verify_ledger()).problems == []


async def test_a_negative_account_has_nothing_to_expire():
    # given points spent and then refunded: the account owes 70 (ADR 0002)
    holder, shop = await customer(), await store()
    await buy(holder, shop, 50, key="old", days_ago=28)
    await buy(holder, shop, 100, key="new", days_ago=10)
    await redeem(holder, shop, 120, key="spend")
    await refunds.refund_purchase(idempotency_key="r", store_id=shop, receipt_id="new")
    assert await balance(holder) == (-70, 0)
    # when both lots' dates pass, no points are taken: the lots hold none
    assert await expire_due(YEAR_ON) == 0
    assert await expiries() == []
    assert await balance(holder) == (-70, 0)
    # and a later purchase repays the debt first, its surplus expiring later
    await buy(holder, shop, 100, key="later")
    assert await balance(holder) == (30, 0)
    assert await expire_due(YEAR_ON + timedelta(days=1)) == 30
    assert await balance(holder) == (0, 0)
    assert (await verify_ledger()).problems == []


async def test_a_lot_past_its_pending_window_is_matured_then_expired():
    # given points still counted as pending, though their window has passed
    set_settings(settings_for(DATABASE_URL, pending_days=14))
    holder, shop = await customer(), await store()
    await buy(holder, shop, 25, key="fresh")
    await buy(holder, shop, 60, key="p", days_ago=20)
    assert await balance(holder) == (0, 85)
    # when its expiry date passes (the fresh lot's a few days later)
    assert await expire_due(YEAR_ON - timedelta(days=10)) == 60
    # then it was matured and expired in the same posting, and the fresh lot,
    # past its window too by then, is available
    assert await balance(holder) == (25, 0)
    assert (await verify_ledger()).problems == []


async def test_nothing_due_is_a_quiet_no_op():
    holder, shop = await customer(), await store()
    await buy(holder, shop, 10, key="p")
    assert await expire_due(NOW) == 0
    assert await balance(holder) == (10, 0)
