"""The event stream: trackEvents validated per event, idempotent by messageId,
anonymous events merged at log-in, and the server's own events read from the
outbox exactly once, gaps included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from audience import consumer, partitions
from audience.config import AudienceSettings, set_audience_settings
from audience.events import EventIn, prune_messages, track_events
from audience.identity_merge import merge_anonymous, merge_stragglers
from loyalty.errors import ErrorCode
from loyalty.events import PointsEarned, PointsRedeemed
from loyalty.identity.privacy import erase_customer
from loyalty.money import Money
from loyalty.platform.sql import execute
from loyalty.points import refunds
from tests.conftest import IS_PG
from tests.integration.test_expiry import buy, customer, redeem, rows, store

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime.now(UTC)


def ev(message_id: str, name: str = "product_viewed", *, minutes_ago: int = 1,
       customer_id: int | str | None = None, anonymous_id: str | None = None,
       properties: object = None, channel: str = "APP") -> EventIn:
    return EventIn(message_id, name, NOW - timedelta(minutes=minutes_ago), channel,
                   customer_id, anonymous_id, properties)


async def stream(customer_id: int | None = None) -> list[tuple]:
    where = "WHERE customer_id = $1" if customer_id is not None else ""
    args = [customer_id] if customer_id is not None else []
    found = await rows(f"SELECT message_id, name, channel, customer_id, anonymous_id, "
                       f"properties FROM customer_event {where} ORDER BY id", *args)
    return [(*r[:5], json.loads(r[5]) if isinstance(r[5], str) else r[5]) for r in found]


async def test_a_customer_batch_is_stored_once_and_resends_count_as_duplicates():
    # given a customer
    alice = await customer("alice@example.test")
    batch = [ev("m-1", properties={"sku": "X1", "priceMinor": 350}), ev("m-2", "page_viewed")]
    # when the app sends a batch, then sends it again with one new event
    first = await track_events(batch, customer_id=alice.customer_id, now=NOW)
    second = await track_events([*batch, ev("m-3")], customer_id=alice.customer_id, now=NOW)
    # then each event is stored once, as the customer's
    assert (first.accepted, first.duplicates, first.errors) == (2, 0, [])
    assert (second.accepted, second.duplicates, second.errors) == (1, 2, [])
    found = await stream(alice.customer_id)
    assert [r[0] for r in found] == ["m-1", "m-2", "m-3"]
    assert found[0][1:] == ("product_viewed", "APP", alice.customer_id, None,
                            {"sku": "X1", "priceMinor": 350})


async def test_each_bad_event_is_refused_with_its_path_and_the_good_ones_are_kept():
    alice = await customer("alice@example.test")
    set_audience_settings(AudienceSettings(events_max_properties_bytes=64))
    batch = [
        ev("ok-1"),
        ev("bad name", "x"),                                   # messageId with a space
        ev("bad-2", "9lives"),                                 # name must start with a letter
        ev("bad-3", minutes_ago=-10),                          # 10 minutes ahead
        ev("bad-4", minutes_ago=31 * 24 * 60),                 # 31 days old
        ev("bad-5", properties={"blob": "x" * 100}),           # over 64 bytes as JSON
        ev("bad-6", properties=["not", "an", "object"]),
        ev("bad-7", "purchase"),                               # the server's own name
        ev("srv:outbox:1"),                                    # the server's message ids
        ev("bad-9", channel="TELEPATHY"),
        ev("ok-2", minutes_ago=-4),                            # 4 minutes ahead is fine
        ev("ok-1"),                                            # twice in one batch
    ]
    result = await track_events(batch, customer_id=alice.customer_id, now=NOW)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [(e.code, e.field) for e in result.errors] == [
        (ErrorCode.INVALID_INPUT, "events.1.messageId"),
        (ErrorCode.INVALID_INPUT, "events.2.name"),
        (ErrorCode.INVALID_INPUT, "events.3.occurredAt"),
        (ErrorCode.INVALID_INPUT, "events.4.occurredAt"),
        (ErrorCode.INVALID_INPUT, "events.5.properties"),
        (ErrorCode.INVALID_INPUT, "events.6.properties"),
        (ErrorCode.INVALID_INPUT, "events.7.name"),
        (ErrorCode.INVALID_INPUT, "events.8.messageId"),
        (ErrorCode.INVALID_INPUT, "events.9.channel"),
    ]
    assert [r[0] for r in await stream()] == ["ok-1", "ok-2"]


async def test_a_batch_over_the_limit_is_refused_whole():
    alice = await customer("alice@example.test")
    set_audience_settings(AudienceSettings(events_max_batch=3))
    result = await track_events([ev(f"m-{i}") for i in range(4)],
                                customer_id=alice.customer_id, now=NOW)
    assert (result.accepted, [(e.code, e.field) for e in result.errors]) == (
        0, [(ErrorCode.INVALID_INPUT, "events")])
    assert await stream() == []


async def test_a_customer_may_not_send_another_customers_events():
    alice, bob = await customer("alice@example.test"), await customer("bob@example.test")
    result = await track_events([ev("m-1", customer_id=bob.customer_id),
                                 ev("m-2", customer_id=alice.customer_id)],
                                customer_id=alice.customer_id, now=NOW)
    assert [(e.code, e.field) for e in result.errors] == [
        (ErrorCode.FORBIDDEN, "events.0.customerId")]
    assert [(r[0], r[3]) for r in await stream()] == [("m-2", alice.customer_id)]


async def test_a_trusted_sender_names_existing_customers_or_anonymous_ids():
    alice = await customer("alice@example.test")
    result = await track_events([
        ev("m-1", customer_id=str(alice.customer_id), channel="WEB"),
        ev("m-2", customer_id=alice.customer_id + 1000),
        ev("m-3", anonymous_id="anon-7"),
        ev("m-4"),
        ev("m-5", customer_id="12abc"),
    ], now=NOW)
    assert result.accepted == 2
    assert [(e.code, e.field) for e in result.errors] == [
        (ErrorCode.NOT_FOUND, "events.1.customerId"),
        (ErrorCode.INVALID_INPUT, "events.3"),
        (ErrorCode.INVALID_INPUT, "events.4.customerId"),
    ]
    assert [(r[0], r[2], r[3], r[4]) for r in await stream()] == [
        ("m-1", "WEB", alice.customer_id, None), ("m-3", "APP", None, "anon-7")]


async def test_anonymous_events_become_the_customers_at_log_in_and_after():
    alice, bob = await customer("alice@example.test"), await customer("bob@example.test")
    await track_events([ev("a-1", anonymous_id="phone-1"), ev("a-2", anonymous_id="phone-1"),
                        ev("b-1", anonymous_id="phone-2")], now=NOW)
    # when Alice logs in from phone-1
    assert await merge_anonymous(alice.customer_id, "phone-1") == 2
    # then its events are hers, a later one is attributed on arrival, and Bob
    # naming the same phone afterwards takes nothing
    await track_events([ev("a-3", anonymous_id="phone-1")], now=NOW)
    assert await merge_anonymous(bob.customer_id, "phone-1") == 0
    assert [r[0] for r in await stream(alice.customer_id)] == ["a-1", "a-2", "a-3"]
    assert [r[0] for r in await stream(None) if r[3] is None] == ["b-1"]
    # and a straggler (written while the claim was in flight) is merged by the job
    await execute(connections.get("default"),
                  "UPDATE customer_event SET customer_id = NULL WHERE message_id = 'a-3'")
    assert await merge_stragglers(NOW) == 1
    assert [r[0] for r in await stream(alice.customer_id)] == ["a-1", "a-2", "a-3"]


async def test_message_ids_are_forgotten_only_when_a_resend_would_be_too_old():
    alice = await customer("alice@example.test")
    await track_events([ev("m-1")], customer_id=alice.customer_id, now=NOW)
    assert await prune_messages(NOW + timedelta(days=30)) == 0
    assert await prune_messages(NOW + timedelta(days=32)) == 1


async def test_postings_become_server_events_once_with_their_facts():
    # given a purchase, a redemption and a partial refund
    alice, shop = await customer("alice@example.test"), await store()
    await buy(alice, shop, 40, key="r-1")
    await redeem(alice, shop, 10, key="x-1")
    await refunds.refund_purchase(idempotency_key="rf-1", store_id=shop, receipt_id="r-1",
                                  amount=Money(1000, "EUR"))
    # when the consumer runs twice
    first = await consumer.consume(now=NOW)
    second = await consumer.consume(now=NOW)
    # then the stream holds one event per posting, with the purchase's facts
    assert (first.read, first.written, second.read, second.written) == (4, 4, 0, 0)
    found = await stream(alice.customer_id)
    assert [(r[1], r[2]) for r in found] == [("signed_up", "SYSTEM"), ("purchase", "STORE"),
                                             ("redemption", "STORE"), ("refund", "STORE")]
    assert found[0][5] == {}
    found = found[1:]
    assert found[0][5] == {"channel": "STORE", "storeId": str(shop), "totalMinor": 4000,
                           "currency": "EUR", "receiptId": "r-1", "points": 40}
    assert found[2][5]["receiptId"] == "r-1"
    assert all(r[0].startswith("srv:outbox:") for r in found)
    # and the customer is marked for segment re-evaluation
    assert {r[0] for r in await rows("SELECT customer_id FROM segment_touch")} == {
        alice.customer_id}


async def outbox(kind: str, customer_id: int, payload: str) -> None:
    """An outbox row as written by hand: a payload no producer writes."""
    await execute(connections.get("default"),
                  "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
                  "VALUES ($1, $2, $3, $4, 0)", kind, customer_id, payload, NOW)


async def test_a_row_that_does_not_read_as_its_kind_is_skipped_and_the_stream_goes_on(caplog):
    # given, between a purchase and a redemption, rows no producer writes
    alice, shop = await customer("alice@example.test"), await store()
    await buy(alice, shop, 40, key="r-1")
    await outbox(PointsRedeemed.kind, alice.customer_id, "[1, 2]")
    await outbox(PointsEarned.kind, alice.customer_id,
                 json.dumps({"transaction_id": "seven", "channel": "STORE"}))
    await outbox("journey.started", alice.customer_id, json.dumps({"journey_id": 1}))
    if not IS_PG:  # jsonb refuses it
        await outbox(PointsEarned.kind, alice.customer_id, "{not json")
    await redeem(alice, shop, 10, key="x-1")
    # when the consumer runs twice
    first = await consumer.consume(now=NOW)
    second = await consumer.consume(now=NOW)
    # then every row is read once, the bad ones skipped with a warning, the others kept
    assert (first.read, first.written) == (6 if IS_PG else 7, 3)
    assert (second.read, second.written) == (0, 0)
    assert [r[1] for r in await stream(alice.customer_id)] == ["signed_up", "purchase",
                                                               "redemption"]
    skipped = [r.getMessage() for r in caplog.records if r.name == "audience.domain_events"]
    assert len(skipped) == (2 if IS_PG else 3)
    assert "points.redeemed" in skipped[0] and "must be an object" in skipped[0]
    assert {r[0] for r in await rows("SELECT customer_id FROM segment_touch")} == {
        alice.customer_id}


async def test_rows_erasure_emptied_before_the_stream_read_them_make_no_events():
    # given a customer's sign-up, purchase and redemption, erased before the
    # stream read them (erasure marks them processed: the stream reads them all
    # the same)
    alice, bob, shop = (await customer("alice@example.test"), await customer("bob@example.test"),
                        await store())
    await buy(alice, shop, 40, key="r-1")
    await redeem(alice, shop, 10, key="x-1")
    await buy(bob, shop, 20, key="r-2")
    await erase_customer(None, alice.customer_id, source="test")
    # when the consumer runs
    result = await consumer.consume(now=NOW)
    # then her rows make no event (no redemption of nothing, no sign-up), Bob's do
    assert result.read == 7  # 2 sign-ups, 3 postings, her closing and her erasure
    assert await stream(alice.customer_id) == []
    assert [r[1] for r in await stream(bob.customer_id)] == ["signed_up", "purchase"]


async def test_an_outbox_row_committed_late_is_read_from_its_gap():
    alice, shop = await customer("alice@example.test"), await store()
    await buy(alice, shop, 10, key="r-1")
    await buy(alice, shop, 20, key="r-2")
    await buy(alice, shop, 30, key="r-3")
    ids = [r[0] for r in await rows("SELECT id FROM outbox_event WHERE kind = $1 ORDER BY id",
                                    "points.earned")]
    # given the middle row hidden, as if its transaction were still open
    await execute(connections.get("default"),
                  "UPDATE outbox_event SET id = -id WHERE id = $1", ids[1])
    first = await consumer.consume(now=NOW, clock=1000.0)
    assert first.read == 3  # the sign-up, the first and the third purchase
    # when it commits, the next pass reads it from the remembered gap
    await execute(connections.get("default"),
                  "UPDATE outbox_event SET id = -id WHERE id = $1", -ids[1])
    second = await consumer.consume(now=NOW, clock=1010.0)
    assert (second.read, second.written) == (1, 1)
    totals = sorted(r[5]["totalMinor"] for r in await stream(alice.customer_id)
                    if r[1] == "purchase")
    assert totals == [1000, 2000, 3000]


async def test_a_gap_is_given_up_after_a_while():
    alice, shop = await customer("alice@example.test"), await store()
    for n in range(3):
        await buy(alice, shop, 10, key=f"r-{n}")
    ids = [r[0] for r in await rows("SELECT id FROM outbox_event WHERE kind = $1 ORDER BY id",
                                    "points.earned")]
    await execute(connections.get("default"), "DELETE FROM outbox_event WHERE id = $1", ids[1])
    await consumer.consume(now=NOW, clock=1000.0)
    gaps = (await rows("SELECT gaps FROM audience_cursor"))[0][0]
    assert str(ids[1]) in (json.loads(gaps) if isinstance(gaps, str) else gaps)
    await consumer.consume(now=NOW, clock=1000.0 + consumer.GAP_SECONDS + 1)
    gaps = (await rows("SELECT gaps FROM audience_cursor"))[0][0]
    assert (json.loads(gaps) if isinstance(gaps, str) else gaps) == {}


@pytest.mark.skipif(not IS_PG, reason="partitions are PostgreSQL's")
async def test_events_land_in_monthly_partitions_made_on_demand():
    alice = await customer("alice@example.test")
    long_ago = datetime(2020, 2, 15, tzinfo=UTC)
    set_audience_settings(AudienceSettings(events_max_age_days=10_000))
    result = await track_events([EventIn("old-1", "page_viewed", long_ago, "WEB")],
                                customer_id=alice.customer_id, now=NOW)
    assert result.accepted == 1
    found = await rows("SELECT tableoid::regclass::text FROM customer_event")
    assert found == [(partitions.partition_name(2020, 2),)]
    # and the job makes this month's and the next two months' ahead
    assert await partitions.ensure_ahead(NOW) == 3
    names = {r[0] for r in await rows(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'customer_event'")}
    assert partitions.partition_name(*partitions.month_of(NOW)) in names
