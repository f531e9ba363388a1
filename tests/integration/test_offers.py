"""Offers against the real database: targeting, clipping, per-customer limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import accounts as identity
from loyalty.models import Customer, CustomerTier, Tier
from loyalty.platform.db import transaction
from loyalty.programme import offers, stores
from tests.conftest import PASSWORD
from wallet.cards import issue_card

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


async def _customer(email: str) -> int:
    await identity.sign_up(email=email, password=PASSWORD, first_name="C",
                           issue_card=issue_card)
    return (await Customer.get(email=email)).id


async def _store(name: str = "Opéra") -> int:
    return (await stores.create_store(name, 48.87, 2.33, "Europe/Paris")).id


async def _offer(title: str, **kw: Any) -> int:
    values: dict[str, Any] = dict(benefit_kind="PERCENT_OFF", benefit_value=10)
    values.update(kw)
    return (await offers.create_offer(title=title, **values)).id


async def _titles(customer_id: int, store_id: int | None, now: datetime = NOW) -> list[str]:
    return [o.title for o in await offers.offers_for(connections.get("default"), customer_id,
                                                     store_id, now)]


async def _clipped(customer_id: int, store_id: int, now: datetime = NOW):
    return await offers.clipped_benefits(connections.get("default"), customer_id, store_id, now)


async def _code(call) -> ErrorCode:
    with pytest.raises(DomainError) as refused:
        await call
    return refused.value.code


class CountingConnection:
    """The real connection, counting the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self._conn, self.statements = conn, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute_query(self, *args: Any, **kw: Any) -> Any:
        self.statements += 1
        return await self._conn.execute_query(*args, **kw)


async def test_each_target_reaches_only_its_customers():
    alice, bob = await _customer("a@example.test"), await _customer("b@example.test")
    opera, bastille = await _store("Opéra"), await _store("Bastille")
    gold = await Tier.create(name="Gold", threshold=1000)
    await CustomerTier.create(customer_id=alice, tier=gold, since=NOW, review_at=NOW)
    await _offer("everyone")
    await _offer("gold", target="TIER", tier_id=gold.id)
    await _offer("opera", target="STORE", store_id=opera)
    await _offer("alice", target="CUSTOMERS", customer_ids=[alice])
    assert await _titles(alice, None) == ["everyone", "gold", "opera", "alice"]
    assert await _titles(alice, opera) == ["everyone", "gold", "opera", "alice"]
    assert await _titles(alice, bastille) == ["everyone", "gold", "alice"]
    assert await _titles(bob, None) == ["everyone", "opera"]
    assert await _titles(bob, bastille) == ["everyone"]


async def test_only_active_offers_within_their_dates_are_shown():
    alice = await _customer("a@example.test")
    await _offer("open", starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1))
    await _offer("future", starts_at=NOW + timedelta(seconds=1))
    await _offer("over", ends_at=NOW)
    stopped = await _offer("stopped")
    await offers.deactivate_offer(stopped)
    assert await _titles(alice, None) == ["open"]
    [view] = await offers.offers_for(connections.get("default"), alice, None, NOW)
    assert view.expires_at == NOW + timedelta(days=1) and view.activated is False


async def test_listing_offers_takes_one_statement_whatever_their_number():
    alice = await _customer("a@example.test")
    store = await _store()
    for i in range(12):
        offer = await _offer(f"o{i}", target=["ALL", "STORE", "CUSTOMERS"][i % 3],
                             store_id=store if i % 3 == 1 else None,
                             customer_ids=[alice] if i % 3 == 2 else None)
        if i % 2:
            await offers.activate_offer(alice, offer, NOW)
    counting = CountingConnection(connections.get("default"))
    shown = await offers.offers_for(counting, alice, store, NOW)  # type: ignore[arg-type]
    clipped = await offers.clipped_benefits(counting, alice, store, NOW)  # type: ignore[arg-type]
    assert len(shown) == 12 and len(clipped) == 6
    assert counting.statements == 2


async def test_activation_clips_once_and_is_refused_when_not_offered():
    alice, bob = await _customer("a@example.test"), await _customer("b@example.test")
    offer = await _offer("alice only", target="CUSTOMERS", customer_ids=[alice])
    first = await offers.activate_offer(alice, offer, NOW)
    again = await offers.activate_offer(alice, offer, NOW)
    assert first == again and first.activated is True
    assert [o.activated for o in await offers.offers_for(connections.get("default"), alice,
                                                         None, NOW)] == [True]
    assert await _code(offers.activate_offer(bob, offer, NOW)) == ErrorCode.OFFER_NOT_AVAILABLE
    assert await _code(offers.activate_offer(alice, 999_999, NOW)) == ErrorCode.NOT_FOUND
    late = await _offer("over", ends_at=NOW)
    assert await _code(offers.activate_offer(alice, late, NOW)) == ErrorCode.OFFER_NOT_AVAILABLE


async def test_concurrent_activations_make_one_row():
    alice = await _customer("a@example.test")
    offer = await _offer("everyone")
    views = await asyncio.gather(*[offers.activate_offer(alice, offer, NOW) for _ in range(8)])
    assert {v.activated for v in views} == {True}
    _, rows = await connections.get("default").execute_query(
        "SELECT COUNT(*) FROM offer_activation")
    assert rows[0][0] == 1


async def test_clipped_offers_apply_until_the_limit_then_disappear():
    alice = await _customer("a@example.test")
    store = await _store()
    offer = await _offer("twice", per_customer_limit=2, benefit_kind="AMOUNT_OFF",
                         benefit_value=300, min_basket_minor=20_00)
    await _offer("not clipped")
    await offers.activate_offer(alice, offer, NOW)
    [benefit] = await _clipped(alice, store)
    assert (benefit.source, benefit.offer_id, benefit.kind, benefit.value,
            benefit.min_basket_minor) == ("offer", offer, "AMOUNT_OFF", 300, 20_00)
    conn = connections.get("default")
    assert [await offers.use_offer(conn, benefit.activation_id) for _ in range(3)] == [
        True, True, False]
    assert await _clipped(alice, store) == []
    assert await _titles(alice, None) == ["not clipped"]
    assert await _code(offers.activate_offer(alice, offer, NOW)) == (
        ErrorCode.OFFER_NOT_AVAILABLE)


async def test_concurrent_purchases_never_use_an_offer_beyond_its_limit():
    alice = await _customer("a@example.test")
    store = await _store()
    offer = await _offer("three times", per_customer_limit=3)
    await offers.activate_offer(alice, offer, NOW)
    [benefit] = await _clipped(alice, store)

    async def purchase() -> bool:
        async with transaction() as conn:
            counted = await offers.use_offer(conn, benefit.activation_id)
            await asyncio.sleep(0.05)  # hold the row lock like a purchase would
            return counted

    outcomes = await asyncio.gather(*[purchase() for _ in range(8)])
    assert outcomes.count(True) == 3
    _, rows = await connections.get("default").execute_query(
        "SELECT uses FROM offer_activation")
    assert rows[0][0] == 3


@pytest.mark.parametrize(("fields", "field"), [
    (dict(title=" "), "title"),
    (dict(target="NOBODY"), "target"),
    (dict(target="TIER"), "tierId"),
    (dict(target="STORE"), "storeId"),
    (dict(target="CUSTOMERS", customer_ids=[]), "customerIds"),
    (dict(store_id=1), "storeId"),
    (dict(per_customer_limit=0), "perCustomerLimit"),
    (dict(benefit_kind="FREE_LUNCH"), "benefitKind"),
    (dict(benefit_value=101), "benefitValue"),
    (dict(benefit_kind="AMOUNT_OFF", benefit_value=0), "benefitValue"),
    (dict(benefit_kind="BONUS_POINTS", benefit_value=-5), "benefitValue"),
    (dict(min_basket_minor=0), "minBasketMinor"),
    (dict(starts_at=NOW, ends_at=NOW), "endsAt"),
    (dict(starts_at=datetime(2030, 1, 1)), "startsAt"),
])
async def test_bad_offers_are_refused_with_the_field_at_fault(fields, field):
    values: dict[str, Any] = dict(title="x")
    values.update(fields)
    with pytest.raises(DomainError) as refused:
        await _offer(**values)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, field)


async def test_unknown_targets_are_not_found():
    for fields, field in ((dict(target="TIER", tier_id=999), "tierId"),
                          (dict(target="STORE", store_id=999), "storeId"),
                          (dict(target="CUSTOMERS", customer_ids=[999]), "customerIds")):
        with pytest.raises(DomainError) as refused:
            await _offer("x", **fields)
        assert (refused.value.code, refused.value.field) == (ErrorCode.NOT_FOUND, field)
    assert await _code(offers.deactivate_offer(999)) == ErrorCode.NOT_FOUND


async def test_first_offers_in_stores_agrees_with_offers_for_in_one_statement():
    # given offers for everyone from a date, for a tier, for one store, for a
    # listed customer, and an offer one customer has used up
    alice, bob, carol = [await _customer(f"{n}@example.test") for n in "abc"]
    opera, bastille = await _store("Opéra"), await _store("Bastille")
    gold = await Tier.create(name="Gold", threshold=1000)
    await CustomerTier.create(customer_id=bob, tier=gold, since=NOW, review_at=NOW)
    used = await _offer("used up", target="CUSTOMERS", customer_ids=[alice], per_customer_limit=1)
    await _offer("later", starts_at=NOW + timedelta(days=1))
    await _offer("gold", target="TIER", tier_id=gold.id)
    await _offer("bastille", target="STORE", store_id=bastille)
    await _offer("carol", target="CUSTOMERS", customer_ids=[carol])
    conn = connections.get("default")
    await offers.activate_offer(alice, used, NOW)
    [benefit] = await _clipped(alice, opera)
    assert await offers.use_offer(conn, benefit.activation_id)
    visits = [(c, s) for c in (alice, bob, carol) for s in (opera, bastille)]
    # when the first offer of every visit is read at once
    counting = CountingConnection(conn)
    first = await offers.first_offers_in_stores(counting, visits + visits[:2], NOW)
    # then one statement, each pair as offers_for would name it (none: left out)
    assert counting.statements == 1
    expected = {}
    for c, s in visits:
        titles = await _titles(c, s)
        if titles:
            expected[(c, s)] = titles[0]
    assert first == expected
    assert first == {(alice, bastille): "bastille", (bob, opera): "gold", (bob, bastille): "gold",
                     (carol, opera): "carol", (carol, bastille): "bastille"}
    assert await offers.first_offers_in_stores(conn, visits, NOW + timedelta(days=2)) == {
        v: "later" for v in visits}
