"""check_in against the real database, without HTTP: concurrent check-ins of
one customer are judged one at a time (the account row lock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from geofence import checkin_fast
from geofence.checkins import check_in
from geofence.models import CheckInKind, Geofence
from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import accounts as identity
from loyalty.ledger.balances import balances_for, verify_ledger
from loyalty.models import Customer
from loyalty.platform.config import set_settings
from loyalty.programme import stores
from tests.conftest import DATABASE_URL, PASSWORD, settings_for
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


def _at(customer_id: int, fence: int, kind: CheckInKind, key: str, when: datetime):
    return check_in(customer_id, idempotency_key=key, kind=kind, occurred_at=when,
                    geofence_id=fence, latitude=48.87, longitude=2.33, accuracy_meters=15.0)


async def test_concurrent_enters_open_one_visit():
    customer_id, fence = await _opted_in_customer(), await _fence()
    when = datetime.now(UTC) - timedelta(seconds=30)
    results = await asyncio.gather(*[_at(customer_id, fence, CheckInKind.ENTER, f"e{i}", when)
                                     for i in range(8)])
    assert len({r.visit.id for r in results if r.visit}) == 1
    assert all(r.visit and not r.visit.confirmed for r in results)


async def test_concurrent_dwells_after_the_day_s_reward_confirm_one_new_visit():
    # Given the day's reward earned and that visit left
    set_settings(settings_for(DATABASE_URL, checkin_rate_per_minute=100))
    customer_id, fence = await _opted_in_customer(), await _fence()
    when = datetime.now(UTC) - timedelta(seconds=30)
    first = await _at(customer_id, fence, CheckInKind.DWELL, "first", when)
    await _at(customer_id, fence, CheckInKind.EXIT, "left", when)
    # When eight DWELLs of the next visit arrive at once
    results = await asyncio.gather(*[_at(customer_id, fence, CheckInKind.DWELL, f"d{i}", when)
                                     for i in range(8)])
    # Then they confirm one new visit, unrewarded
    visits = {r.visit.id for r in results if r.visit}
    assert len(visits) == 1 and first.visit and first.visit.id not in visits
    assert all(r.visit and r.visit.confirmed and r.visit.points_earned == 0 for r in results)
    assert (await balances_for([customer_id]))[customer_id].available == 10
    assert (await verify_ledger()).problems == []


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="PostgreSQL only")
async def test_on_postgres_common_check_ins_take_the_one_statement_path(monkeypatch):
    # Given a spy on the one-statement path
    set_settings(settings_for(DATABASE_URL, checkin_rate_per_minute=100))
    outcomes: list[str] = []
    real = checkin_fast.try_fast

    async def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = await real(*args, **kwargs)
        outcomes.append("general" if result is None else "fast")
        return result

    monkeypatch.setattr(checkin_fast, "try_fast", spy)
    customer_id, fence = await _opted_in_customer(), await _fence()
    when = datetime.now(UTC) - timedelta(seconds=30)
    # When a first visit (rewarded), a second one (not), a replay and a refusal arrive
    for key, kind in (("e1", CheckInKind.ENTER), ("d1", CheckInKind.DWELL),
                      ("x1", CheckInKind.EXIT), ("e2", CheckInKind.ENTER),
                      ("d2", CheckInKind.DWELL), ("x2", CheckInKind.EXIT),
                      ("x2", CheckInKind.EXIT)):
        await _at(customer_id, fence, kind, key, when)
    with pytest.raises(DomainError) as far:
        await check_in(customer_id, idempotency_key="far", kind=CheckInKind.ENTER,
                       occurred_at=when, geofence_id=fence, latitude=48.9, longitude=2.33,
                       accuracy_meters=15.0)
    # Then only the reward and the replay needed the general path
    assert outcomes == ["fast", "general", "fast", "fast", "fast", "fast", "general", "fast"]
    assert "outside the geofence" in far.value.message
    assert (await balances_for([customer_id]))[customer_id].available == 10
    assert (await verify_ledger()).problems == []
