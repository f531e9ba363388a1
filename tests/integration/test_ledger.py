"""The ledger's use cases against the real database, without HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import accounts as identity
from loyalty.ledger.balances import balances_for, verify_ledger
from loyalty.money import Money
from loyalty.platform.config import set_settings
from loyalty.points import purchases, redemptions, refunds
from loyalty.programme import stores
from tests.conftest import DATABASE_URL, IS_PG, PASSWORD, settings_for
from wallet.cards import issue_card, resolve_card

pytestmark = pytest.mark.usefixtures("database")


async def _customer(email: str = "c@example.test"):
    await identity.sign_up(email=email, password=PASSWORD, first_name="C",
                           issue_card=issue_card)
    from wallet.models import Card

    card = await Card.get(customer__email=email)
    return await resolve_card(None, card.number)


async def _store() -> int:
    return (await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")).id


async def _buy(holder, store_id: int, amount: int, *, key: str, when: datetime | None = None):
    return await purchases.record_purchase(purchases.RecordPurchase(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, receipt_id=key, total=Money(amount, "EUR"), occurred_at=when))


async def _redeem(holder, store_id: int, points: int, *, key: str, spend: str | None = None):
    return await redemptions.redeem_points(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, points=points, spend_key=spend)


async def _rows(sql: str) -> list:
    _, rows = await connections.get("default").execute_query(sql)
    return list(rows)


async def test_concurrent_redemptions_never_overdraw():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 100_00, key="p")
    outcomes = await asyncio.gather(
        *[_redeem(holder, store_id, 10, key=f"r{i}", spend=f"code-{i}") for i in range(30)],
        return_exceptions=True)
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(ok) == 10 and len(refused) == 20
    assert {e.code for e in refused} == {ErrorCode.INSUFFICIENT_POINTS}
    assert (await balances_for([holder.customer_id]))[holder.customer_id].available == 0
    assert (await verify_ledger()).problems == []


async def test_concurrent_retries_of_one_purchase_post_once():
    holder, store_id = await _customer(), await _store()
    results = await asyncio.gather(*[_buy(holder, store_id, 25_00, key="same") for _ in range(20)])
    assert len({r.transaction.id for r in results}) == 1
    assert (await _rows("SELECT COUNT(*) FROM purchase"))[0][0] == 1
    assert (await balances_for([holder.customer_id]))[holder.customer_id].available == 25


async def test_redemption_consumes_the_first_expiring_lot_first():
    holder, store_id = await _customer(), await _store()
    now = datetime.now(UTC)
    await _buy(holder, store_id, 30_00, key="new")
    await _buy(holder, store_id, 20_00, key="old", when=now - timedelta(days=20))
    await _redeem(holder, store_id, 25, key="r")
    lots = await _rows("SELECT l.points, l.remaining FROM lot l ORDER BY l.expires_at")
    assert [(r[0], r[1]) for r in lots] == [(20, 0), (30, 25)]
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    assert balance.next_expiry_points == 25
    assert (await verify_ledger()).problems == []


async def test_pending_points_are_not_spendable_until_the_window_passes():
    set_settings(settings_for(DATABASE_URL, pending_days=14))
    holder, store_id = await _customer(), await _store()
    now = datetime.now(UTC)
    await _buy(holder, store_id, 40_00, key="fresh")
    await _buy(holder, store_id, 60_00, key="matured", when=now - timedelta(days=20))
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    assert (balance.available, balance.pending) == (0, 100)
    with pytest.raises(DomainError) as refused:
        await _redeem(holder, store_id, 61, key="too-much")
    assert refused.value.code == ErrorCode.INSUFFICIENT_POINTS
    await _redeem(holder, store_id, 60, key="ok")  # the 20-day-old lot has matured
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    assert (balance.available, balance.pending) == (0, 40)
    assert (await verify_ledger()).problems == []


async def test_refund_of_a_still_pending_purchase_comes_out_of_pending():
    set_settings(settings_for(DATABASE_URL, pending_days=14))
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    await refunds.refund_purchase(idempotency_key="f", store_id=store_id, receipt_id="p")
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    assert (balance.available, balance.pending, balance.lifetime_earned) == (0, 0, 0)
    assert (await verify_ledger()).problems == []


async def test_refund_retry_after_completion_replays_instead_of_failing():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    first = await refunds.refund_purchase(idempotency_key="f", store_id=store_id,
                                            receipt_id="p")
    again = await refunds.refund_purchase(idempotency_key="f", store_id=store_id,
                                            receipt_id="p")
    assert again.id == first.id and again.replayed
    with pytest.raises(DomainError) as exceeded:
        await refunds.refund_purchase(idempotency_key="f2", store_id=store_id,
                                        receipt_id="p")
    assert exceeded.value.code == ErrorCode.REFUND_EXCEEDS_PURCHASE


async def test_unknown_receipt_and_currency_mismatch_on_refund():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    with pytest.raises(DomainError) as missing:
        await refunds.refund_purchase(idempotency_key="f", store_id=store_id,
                                        receipt_id="nope")
    assert missing.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as currency:
        await refunds.refund_purchase(idempotency_key="g", store_id=store_id,
                                        receipt_id="p", amount=Money(100, "USD"))
    assert (currency.value.code, currency.value.field) == (ErrorCode.INVALID_INPUT,
                                                            "amount.currency")


def _verify_cli() -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": DATABASE_URL}
    return subprocess.run([sys.executable, "-m", "api.cli", "ledger", "verify"], env=env,
                          capture_output=True, text=True, timeout=60)


async def test_ledger_verify_passes_then_reports_a_tampered_balance():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    ok = await asyncio.to_thread(_verify_cli)
    assert ok.returncode == 0 and "ledger ok" in ok.stdout, ok.stderr
    conn = connections.get("default")
    await conn.execute_query(f"UPDATE account SET available = available + 7 "
                             f"WHERE id = {holder.account_id}")
    await conn.execute_query("UPDATE ledger_entry SET points = points + 1 WHERE id = "
                             "(SELECT MIN(id) FROM ledger_entry)")
    report = await verify_ledger()
    assert any(f"account {holder.account_id}: balance" in p for p in report.problems)
    assert any("entries sum to" in p and "not 0" in p for p in report.problems)
    bad = await asyncio.to_thread(_verify_cli)
    assert bad.returncode == 1 and "ledger FAILED" in bad.stdout


async def test_refund_after_spending_matures_due_lots_before_taking_points_back():
    set_settings(settings_for(DATABASE_URL, pending_days=14))
    holder, store_id = await _customer(), await _store()
    now = datetime.now(UTC)
    await _buy(holder, store_id, 100_00, key="b", when=now - timedelta(days=25))
    await _redeem(holder, store_id, 50, key="r")
    await _buy(holder, store_id, 100_00, key="a", when=now - timedelta(days=20))
    await refunds.refund_purchase(idempotency_key="f", store_id=store_id, receipt_id="b")
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    assert (balance.available, balance.pending) == (50, 0)
    assert (await verify_ledger()).problems == []
    await _redeem(holder, store_id, 50, key="r2")
    assert (await verify_ledger()).problems == []


async def test_identical_refunds_sent_at_once_post_once():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    results = await asyncio.gather(*[
        refunds.refund_purchase(idempotency_key="f", store_id=store_id, receipt_id="p",
                                amount=Money(30_00, "EUR"))
        for _ in range(6)
    ], return_exceptions=True)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert len({r.id for r in results}) == 1  # type: ignore[union-attr]
    assert (await balances_for([holder.customer_id]))[holder.customer_id].available == 10
    assert (await verify_ledger()).problems == []


async def test_verify_reports_pending_out_of_step_with_pending_lots():
    set_settings(settings_for(DATABASE_URL, pending_days=14))
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 40_00, key="p")
    await connections.get("default").execute_query(
        f"UPDATE lot SET remaining = remaining - 1 WHERE account_id = {holder.account_id}")
    report = await verify_ledger()
    assert any("pending 40 but pending lots hold 39" in p for p in report.problems)


async def test_a_posting_is_refused_outside_a_transaction_and_heard_only_once_committed():
    """ledger.post owns the transaction's guarantees: it runs inside one, and
    the "points changed" signal reaches subscribers only at commit (SQLite:
    published after it; PostgreSQL: NOTIFY, delivered at it)."""
    from loyalty import ledger
    from loyalty.events import PointsEarned
    from loyalty.ledger import Channel, Kind, NewLot, Posting
    from loyalty.platform.bus import bus
    from loyalty.platform.db import transaction

    holder = await _customer()
    now = datetime.now(UTC)

    def posting(key: str) -> Posting:
        return Posting(kind=Kind.BONUS, channel=Channel.APP, customer_id=holder.customer_id,
                       account_id=holder.account_id, points=5,
                       lots=NewLot(now + timedelta(days=365)), description="Goodwill",
                       key=key, fingerprint=key, event=PointsEarned(channel="APP"),
                       occurred_at=now, now=now)

    with pytest.raises(RuntimeError):
        await ledger.post(connections.get("default"), posting("outside"))
    async with bus.subscribe(holder.customer_id) as heard:
        with pytest.raises(LookupError):
            async with transaction() as conn:
                await ledger.post(conn, posting("rolled-back"))
                raise LookupError("the use case fails after posting")
        await asyncio.sleep(0.05)
        assert heard.empty()
        async with transaction() as conn:
            await ledger.post(conn, posting("committed"))
            if not IS_PG:
                assert heard.empty()  # not before the commit
        if not IS_PG:
            assert heard.get_nowait() == holder.customer_id
    assert (await balances_for([holder.customer_id]))[holder.customer_id].available == 5
    assert (await verify_ledger()).ok
