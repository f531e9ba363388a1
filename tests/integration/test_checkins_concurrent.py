"""check_in against the real database, without HTTP: concurrent check-ins of
one customer are judged one at a time (the account row lock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from geofence.checkins import check_in
from geofence.models import CheckInKind, Geofence
from loyalty import identity, stores
from loyalty.balances import balances_for, verify_ledger
from loyalty.errors import DomainError, ErrorCode
from loyalty.models import Customer
from tests.conftest import PASSWORD
from wallet.cards import issue_card

pytestmark = pytest.mark.usefixtures("database")


async def _opted_in_customer() -> int:
    await identity.sign_up(email="c@example.test", password=PASSWORD, first_name="C",
                           issue_card=issue_card)
    customer = await Customer.get(email="c@example.test")
    customer.location_opt_in = True
    await customer.save(update_fields=["location_opt_in"])
    return customer.id


async def _fence() -> int:
    store = await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")
    return (await Geofence.get(store_id=store.id)).id


def _dwell(customer_id: int, fence: int, key: str, when: datetime):
    return check_in(customer_id, idempotency_key=key, kind=CheckInKind.DWELL, occurred_at=when,
                    geofence_id=fence, latitude=48.87, longitude=2.33, accuracy_meters=15.0)


async def test_concurrent_dwells_reward_one_visit_once():
    customer_id, fence = await _opted_in_customer(), await _fence()
    when = datetime.now(UTC) - timedelta(seconds=30)
    results = await asyncio.gather(*[_dwell(customer_id, fence, f"d{i}", when)
                                     for i in range(8)])
    assert len({r.visit.id for r in results if r.visit}) == 1
    assert sorted(r.visit.points_earned for r in results if r.visit)[-1] == 10
    assert (await balances_for([customer_id]))[customer_id].available == 10
    assert (await verify_ledger()).problems == []


async def test_concurrent_retries_of_one_check_in_record_it_once():
    customer_id, fence = await _opted_in_customer(), await _fence()
    when = datetime.now(UTC) - timedelta(seconds=30)
    results = await asyncio.gather(*[_dwell(customer_id, fence, "same", when) for _ in range(5)])
    assert [r.replayed for r in results].count(False) == 1
    assert {r.visit.id for r in results if r.visit} and len({r.visit.id for r in results}) == 1
    with pytest.raises(DomainError) as refused:
        await check_in(customer_id, idempotency_key="same", kind=CheckInKind.EXIT,
                       occurred_at=when, geofence_id=fence)
    assert refused.value.code == ErrorCode.IDEMPOTENCY_CONFLICT
