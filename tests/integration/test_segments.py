"""Segments on the real database: every condition of the grammar compiled to
SQL selects the right customers, membership follows events and postings
within a pass of the worker, and entries and exits are events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from audience import jobs, membership, segments, worker
from audience.events import EventIn, StreamRow, track_events, write_events
from loyalty.errors import DomainError, ErrorCode
from loyalty.ledger import Channel
from loyalty.money import Money
from loyalty.platform.sql import execute
from loyalty.points import purchases
from loyalty.programme import tier_admin
from tests.integration.test_expiry import buy, customer, rows, store

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime.now(UTC)


async def web_buy(holder, store_id: int, amount_minor: int, key: str, days_ago: int = 0):
    await purchases.record_purchase(purchases.RecordPurchase(
        idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
        store_id=store_id, receipt_id=key, total=Money(amount_minor, "EUR"), channel=Channel.WEB,
        occurred_at=NOW - timedelta(days=days_ago) if days_ago else None))


async def views(customer_id: int, sku: str, count: int, prefix: str,
                channel: str = "APP") -> None:
    result = await track_events(
        [EventIn(f"{prefix}-{i}", "product_viewed", NOW - timedelta(hours=1), channel,
                 properties={"sku": sku, "priceMinor": 350, "promo": True})
         for i in range(count)], customer_id=customer_id, now=NOW)
    assert result.errors == []


async def members(segment_id: int) -> set[int]:
    return {r[0] for r in await rows(
        "SELECT customer_id FROM segment_member WHERE segment_id = $1", segment_id)}


async def segment_events(customer_id: int) -> list[tuple]:
    found = await rows("SELECT name, channel, properties FROM customer_event "
                       "WHERE customer_id = $1 AND name LIKE 'segment_%' ORDER BY id",
                       customer_id)
    return [(r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else r[2]) for r in found]


@pytest.fixture
async def people():
    """Alice: web and store buyer, viewed X twice, opted in, a check-in.
    Bob: one store purchase 100 days ago. Carol: no purchase, browsed the web."""
    for name, threshold in (("Member", 0), ("Silver", 100), ("Gold", 10_000)):
        await tier_admin.create_tier(None, name=name, threshold=threshold, multiplier="1")
    shop = await store()
    alice = await customer("alice@example.test")
    bob = await customer("bob@example.test")
    carol = await customer("carol@example.test")
    await execute(connections.get("default"),
                  "UPDATE customer SET marketing_opt_in = $1 WHERE id = $2", True,
                  alice.customer_id)
    await web_buy(alice, shop, 5000, "a-1", days_ago=10)
    await web_buy(alice, shop, 4000, "a-2", days_ago=5)
    await buy(alice, shop, 30, key="a-3")   # 30 EUR in store, today
    await buy(bob, shop, 20, key="b-1")
    # A till cannot back-date a purchase that far: moved in the table.
    await execute(connections.get("default"),
                  "UPDATE purchase SET occurred_at = $1 WHERE receipt_id = 'b-1'",
                  NOW - timedelta(days=100))
    await views(alice.customer_id, "X", 2, "av")
    await track_events([EventIn("cv-1", "page_viewed", NOW - timedelta(hours=2), "WEB",
                                properties={"url": "/", "utm_source": "news"})],
                       customer_id=carol.customer_id, now=NOW)
    await track_events([EventIn("ac-1", "push_opened", NOW - timedelta(hours=2), "APP")],
                       customer_id=alice.customer_id, now=NOW)
    await worker.run_until_idle(NOW)   # the purchases' server events
    # A check-in as the outbox adapter writes it (the visit machinery aside).
    await write_events([StreamRow("srv:test:v-1", "checkin", "CHECKIN", NOW - timedelta(days=3),
                                  alice.customer_id, None,
                                  json.dumps({"storeId": str(shop), "kind": "VISIT"}))], NOW)
    return {"alice": alice.customer_id, "bob": bob.customer_id, "carol": carol.customer_id,
            "shop": shop, "holders": {"alice": alice, "bob": bob}}


CASES = [
    ({"purchases": {"gte": 2, "within": "P90D", "channel": "WEB"}}, {"alice"}),
    ({"purchases": {"gte": 1}}, {"alice", "bob"}),
    ({"purchases": {"lt": 1}}, {"carol"}),
    ({"spend": {"gte": 10000, "within": "P365D"}}, {"alice"}),
    ({"spend": {"gte": 2000, "lte": 2000}}, {"bob"}),
    ({"event": "product_viewed", "where": {"sku": "X"}, "gte": 2, "within": "P7D"}, {"alice"}),
    ({"event": "product_viewed", "where": {"sku": "Y"}}, set()),
    ({"event": "product_viewed", "where": {"priceMinor": 350, "promo": True}}, {"alice"}),
    ({"event": "page_viewed"}, {"carol"}),
    ({"channels": {"gte": 3}}, {"alice"}),   # WEB, STORE, APP (CHECKIN too)
    ({"channels": {"eq": 1}}, {"bob", "carol"}),
    ({"visited": {"within": "P30D"}}, {"alice"}),
    ({"visited": {"storeId": "{shop}"}}, {"alice", "bob"}),
    ({"lastPurchase": {"olderThan": "P60D"}}, {"bob"}),
    ({"lastPurchase": {"within": "P7D"}}, {"alice"}),
    ({"points": {"gte": 100}}, {"alice"}),
    ({"marketingOptIn": True}, {"alice"}),
    ({"not": {"marketingOptIn": True}}, {"bob", "carol"}),
    ({"tier": ["silver"]}, {"alice"}),
    ({"tier": ["Member"]}, {"bob", "carol"}),
    ({"engagement": ["C"]}, {"alice", "bob", "carol"}),   # no scores computed yet
    ({"rfm": ["CHAMPIONS"]}, set()),
    ({"any": [{"marketingOptIn": True}, {"event": "page_viewed"}]}, {"alice", "carol"}),
    ({"all": [{"purchases": {"gte": 1}}, {"not": {"marketingOptIn": True}}]}, {"bob"}),
]


@pytest.mark.parametrize("definition, expected", CASES)
async def test_each_condition_selects_its_customers(people, definition, expected):
    text = json.dumps(definition).replace("{shop}", str(people["shop"]))
    made = await segments.create_segment(name="s", description=None,
                                         definition=json.loads(text), staff_id=None)
    await membership.refresh(NOW, only_pending=True)
    assert await members(made.id) == {people[n] for n in expected}


async def test_a_segment_naming_another_uses_its_definition(people):
    buyers = await segments.create_segment(name="buyers", description=None,
                                           definition={"purchases": {"gte": 1}}, staff_id=None)
    lapsed = await segments.create_segment(
        name="lapsed buyers", description=None,
        definition={"all": [{"segment": str(buyers.id)}, {"lastPurchase": {"olderThan": "P30D"}}]},
        staff_id=None)
    await membership.refresh(NOW, only_pending=True)
    assert await members(lapsed.id) == {people["bob"]}


async def test_cycles_unknown_segments_and_tiers_are_refused(people):
    a = await segments.create_segment(name="a", description=None,
                                      definition={"marketingOptIn": True}, staff_id=None)
    b = await segments.create_segment(name="b", description=None,
                                      definition={"segment": str(a.id)}, staff_id=None)
    cases = [
        (segments.update_segment(a.id, definition={"all": [{"points": {"gte": 1}},
                                                           {"segment": str(b.id)}]}),
         "definition.all.1"),
        (segments.update_segment(a.id, definition={"segment": str(a.id)}), "definition"),
        (segments.create_segment(name="c", description=None,
                                 definition={"not": {"segment": "999"}}, staff_id=None),
         "definition.not"),
        (segments.create_segment(name="d", description=None,
                                 definition={"any": [{"tier": ["Platinum"]}]}, staff_id=None),
         "definition.any.0.tier.0"),
    ]
    for call, path in cases:
        with pytest.raises(DomainError) as refused:
            await call
        assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_DEFINITION, path)
    with pytest.raises(DomainError) as taken:
        await segments.create_segment(name="a", description=None,
                                      definition={"marketingOptIn": True}, staff_id=None)
    assert taken.value.field == "name"


async def test_an_event_moves_a_customer_in_within_a_pass_and_a_change_moves_them_out(people):
    # given a segment of customers who viewed Y twice, evaluated: nobody
    made = await segments.create_segment(
        name="Y fans", description=None,
        definition={"event": "product_viewed", "where": {"sku": "Y"}, "gte": 2},
        staff_id=None)
    await worker.run_until_idle(NOW)
    assert await members(made.id) == set()
    # when Bob views Y twice, and the worker makes one pass
    bob = people["bob"]
    await views(bob, "Y", 2, "bv")
    stats = await worker.run_once(now=NOW)
    # then he is in, and his timeline says so
    assert stats.customers_evaluated == 1 and stats.entered == 1
    assert await members(made.id) == {bob}
    assert await segment_events(bob) == [
        ("segment_entered", "SYSTEM", {"segmentId": str(made.id), "segmentName": "Y fans"})]
    # when the definition changes so that he no longer matches
    await segments.update_segment(made.id, definition={"event": "product_viewed",
                                                       "where": {"sku": "Y"}, "gte": 3})
    await worker.run_once(now=NOW)
    assert await members(made.id) == set()
    assert [e[0] for e in await segment_events(bob)] == ["segment_entered", "segment_exited"]


async def test_a_posting_moves_a_customer_in_through_the_outbox(people):
    made = await segments.create_segment(name="big", description=None,
                                         definition={"spend": {"gte": 5000}}, staff_id=None)
    await worker.run_until_idle(NOW)
    assert await members(made.id) == {people["alice"]}
    await buy(people["holders"]["bob"], people["shop"], 40, key="b-2")
    await worker.run_once(now=NOW)
    assert await members(made.id) == {people["alice"], people["bob"]}


async def test_time_alone_moves_customers_out_at_the_full_refresh(people):
    made = await segments.create_segment(name="recent", description=None,
                                         definition={"lastPurchase": {"within": "P30D"}},
                                         staff_id=None)
    await worker.run_until_idle(NOW)
    assert await members(made.id) == {people["alice"]}
    later = NOW + timedelta(days=40)
    assert await jobs.refresh_segments(later) == 1
    assert await jobs.refresh_segments(later + timedelta(seconds=10)) == 0  # not due again
    assert await members(made.id) == set()
    assert [e[0] for e in await segment_events(people["alice"])] == [
        "segment_entered", "segment_exited"]


async def test_segment_recomputations_are_timed_for_the_metrics():
    from prometheus_client import REGISTRY

    from audience import membership

    def count(mode: str) -> float:
        return REGISTRY.get_sample_value("loyalty_segment_recompute_seconds_count",
                                         {"mode": mode}) or 0.0

    full, incremental = count("full"), count("incremental")
    await membership.refresh()
    await membership.evaluate_touched()
    assert (count("full"), count("incremental")) == (full + 1, incremental + 1)
