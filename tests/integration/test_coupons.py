"""Coupons against the real database: issued, peeked, spent once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import accounts as identity
from loyalty.money import Money
from loyalty.platform.db import transaction
from loyalty.points import purchases
from loyalty.programme import stores
from loyalty.programme.coupons import (
    ALPHABET,
    issue_coupon,
    list_coupons,
    peek_coupon,
    spend_coupon,
)
from tests.conftest import PASSWORD
from wallet.cards import issue_card, resolve_card

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


async def _customer(email: str):
    await identity.sign_up(email=email, password=PASSWORD, first_name="C",
                           issue_card=issue_card)
    from wallet.models import Card

    card = await Card.get(customer__email=email)
    return await resolve_card(None, card.number)


async def _purchase_ids(holder, count: int) -> list[int]:
    """Real ledger transactions for coupons to be spent in."""
    store_id = (await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")).id
    ids = []
    for i in range(count):
        posted = await purchases.record_purchase(purchases.RecordPurchase(
            idempotency_key=f"p{i}", customer_id=holder.customer_id,
            account_id=holder.account_id, store_id=store_id, receipt_id=f"r{i}",
            total=Money(10_00, "EUR")))
        ids.append(posted.transaction.id)
    return ids


async def _issue(customer_id: int | None, *, expires_at: datetime = NOW + timedelta(days=30),
                 title: str = "Free coffee") -> str:
    async with transaction() as conn:
        return await issue_coupon(conn, customer_id=customer_id, title=title,
                                  kind="AMOUNT_OFF", value=250, expires_at=expires_at)


async def _spend(code: str, customer_id: int, txn_id: int, *, hold: float = 0.0):
    async with transaction() as conn:
        benefit = await spend_coupon(conn, code, customer_id, txn_id, NOW)
        await asyncio.sleep(hold)  # keep the row lock while the other till tries
        return benefit


async def _code_of(call) -> ErrorCode:
    with pytest.raises(DomainError) as refused:
        await call
    return refused.value.code


async def test_a_coupon_presented_at_two_tills_at_once_is_spent_once():
    alice = await _customer("a@example.test")
    till1, till2 = await _purchase_ids(alice, 2)
    code = await _issue(alice.customer_id)
    outcomes = await asyncio.gather(
        _spend(code, alice.customer_id, till1, hold=0.2),
        _spend(code, alice.customer_id, till2, hold=0.2),
        return_exceptions=True,
    )
    spent = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(spent) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == ErrorCode.COUPON_ALREADY_USED
    assert spent[0].kind == "AMOUNT_OFF" and spent[0].value == 250
    [coupon] = await list_coupons_of(alice.customer_id)
    assert coupon.redeemed_at is not None


async def list_coupons_of(customer_id: int):
    async with transaction() as conn:
        return await list_coupons(conn, customer_id, NOW)


async def test_codes_are_short_unambiguous_and_read_back_case_and_spaces_ignored():
    alice = await _customer("a@example.test")
    code = await _issue(alice.customer_id)
    assert 10 <= len(code) <= 12 and set(code) <= set(ALPHABET)
    typed = " ".join(code[i:i + 4] for i in range(0, len(code), 4)).lower()
    async with transaction() as conn:
        benefit = await peek_coupon(conn, typed, alice.customer_id, NOW)
    assert (benefit.source, benefit.title, benefit.value) == ("coupon", "Free coffee", 250)
    assert benefit.coupon_id is not None and benefit.offer_id is None


async def test_an_expired_coupon_is_refused_and_left_unspent():
    alice = await _customer("a@example.test")
    [txn] = await _purchase_ids(alice, 1)
    code = await _issue(alice.customer_id, expires_at=NOW)
    async with transaction() as conn:
        assert await _code_of(peek_coupon(conn, code, alice.customer_id, NOW)) == (
            ErrorCode.COUPON_EXPIRED)
    assert await _code_of(_spend(code, alice.customer_id, txn)) == ErrorCode.COUPON_EXPIRED
    [coupon] = await list_coupons_of(alice.customer_id)
    assert coupon.redeemed_at is None


async def test_a_coupon_of_another_customer_reads_as_unknown():
    alice, bob = await _customer("a@example.test"), await _customer("b@example.test")
    [txn] = await _purchase_ids(bob, 1)
    code = await _issue(alice.customer_id)
    assert await _code_of(_spend(code, bob.customer_id, txn)) == ErrorCode.COUPON_NOT_FOUND
    assert await _code_of(_spend("NOSUCHCODE", bob.customer_id, txn)) == (
        ErrorCode.COUPON_NOT_FOUND)
    assert await _code_of(_spend("", bob.customer_id, txn)) == ErrorCode.COUPON_NOT_FOUND


async def test_an_unbound_coupon_works_for_anyone_but_only_once():
    alice, bob = await _customer("a@example.test"), await _customer("b@example.test")
    [txn] = await _purchase_ids(bob, 1)
    code = await _issue(None)
    assert (await _spend(code, bob.customer_id, txn)).title == "Free coffee"
    assert await _code_of(_spend(code, alice.customer_id, txn)) == ErrorCode.COUPON_ALREADY_USED


async def test_a_rolled_back_spend_leaves_the_coupon_usable():
    alice = await _customer("a@example.test")
    [txn] = await _purchase_ids(alice, 1)
    code = await _issue(alice.customer_id)
    with pytest.raises(RuntimeError):
        async with transaction() as conn:
            await spend_coupon(conn, code, alice.customer_id, txn, NOW)
            raise RuntimeError("the purchase failed after the coupon")
    assert (await _spend(code, alice.customer_id, txn)).value == 250


async def test_usable_coupons_are_listed_first_soonest_to_expire_first():
    alice = await _customer("a@example.test")
    [txn] = await _purchase_ids(alice, 1)
    later = await _issue(alice.customer_id, title="later", expires_at=NOW + timedelta(days=60))
    await _issue(alice.customer_id, title="expired", expires_at=NOW - timedelta(days=1))
    spent = await _issue(alice.customer_id, title="spent")
    await _issue(alice.customer_id, title="sooner", expires_at=NOW + timedelta(days=2))
    await _spend(spent, alice.customer_id, txn)
    listed = await list_coupons_of(alice.customer_id)
    assert [c.title for c in listed[:2]] == ["sooner", "later"]
    assert {c.title for c in listed[2:]} == {"expired", "spent"}
    assert listed[1].code == later
