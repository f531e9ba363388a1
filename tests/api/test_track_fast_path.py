"""The persisted trackEvents document answered without the generic executor:
the same answer and the same rows as the executor, for good and bad events,
and anything of another shape left to the executor."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import dateutil.parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.fast_track import _TIMESTAMP, TRACK_DOCUMENT, events_of
from tests.conftest import GraphQLClient, Shop
from tests.integration.test_expiry import rows

# The same selection, but named: the fast path leaves it to the executor.
EXECUTOR_DOCUMENT = TRACK_DOCUMENT.replace("mutation(", "mutation Named(", 1)


def _event(rng: random.Random, i: int, customer_id: int | None) -> dict:
    when = datetime.now(UTC) - timedelta(seconds=rng.randrange(0, 3600))
    event: dict = {"messageId": f"m-{uuid.uuid4().hex}", "name": "product_viewed",
                   "channel": rng.choice(["APP", "WEB"]),
                   "occurredAt": when.isoformat().replace("+00:00", "Z"),
                   "properties": {"sku": f"S{i}", "priceMinor": i}}
    fault = rng.randrange(8)
    if fault == 0:
        event["name"] = "purchase"
    elif fault == 1:
        event["occurredAt"] = "2001-01-01T00:00:00Z"
    elif fault == 2:
        event["properties"] = ["x"]
    elif fault == 3 and customer_id is not None:
        event["customerId"] = str(customer_id)
    elif fault == 4:
        event["anonymousId"] = "phone-1"
    return event


async def test_the_fast_path_answers_as_the_executor_does(gql: GraphQLClient, alice, bob,
                                                          monkeypatch: pytest.MonkeyPatch):
    import api.fast_track

    answered = []
    original = api.fast_track.data_of
    monkeypatch.setattr(api.fast_track, "data_of",
                        lambda tracked: answered.append(1) or original(tracked))
    rng = random.Random(13)
    for round_ in range(4):
        batch = [_event(rng, i, bob.id) for i in range(25)]
        batch.append(dict(batch[0]))  # a duplicate within the batch
        twin = [{**e, "messageId": e["messageId"] + "-x"} for e in batch]
        fast = await gql.raw(TRACK_DOCUMENT, {"input": {"events": batch}}, token=alice.token)
        slow = await gql.raw(EXECUTOR_DOCUMENT, {"input": {"events": twin}}, token=alice.token)
        assert fast == slow, round_
        again = await gql.raw(TRACK_DOCUMENT, {"input": {"events": batch}}, token=alice.token)
        assert again["data"]["trackEvents"]["accepted"] == 0
    assert len(answered) == 8  # the persisted document's calls, none of the named one's
    stored = await rows("SELECT message_id, customer_id, anonymous_id, name, channel, "
                        "occurred_at, properties FROM customer_event ORDER BY id")
    fast_rows = {r[0]: r[1:] for r in stored if not r[0].endswith("-x")}
    slow_rows = {r[0][:-2]: r[1:] for r in stored if r[0].endswith("-x")}
    assert fast_rows == slow_rows and len(fast_rows) > 40


async def test_a_staff_sender_and_other_shapes(gql: GraphQLClient, shop: Shop, alice):
    now = datetime.now(UTC).isoformat()
    event = {"messageId": "s-1", "name": "page_viewed", "channel": "WEB", "occurredAt": now,
             "customerId": str(alice.id)}
    ok = await gql.raw(TRACK_DOCUMENT, {"input": {"events": [event]}}, token=shop.admin_token)
    assert ok == {"data": {"trackEvents": {"accepted": 1, "duplicates": 0, "errors": []}}}
    refused = await gql.raw(TRACK_DOCUMENT, {"input": {"events": [event]}},
                            token=shop.cashier_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # an int as messageId is a GraphQL error, as the executor gives it
    wrong = await gql.raw(TRACK_DOCUMENT, {"input": {"events": [{**event, "messageId": 5}]}},
                          token=shop.admin_token)
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    unstorable = await gql.raw(TRACK_DOCUMENT, {"input": {"events": [
        {**event, "messageId": "s-2", "properties": {"x": "a\u0000b"}}]}},
        token=shop.admin_token)
    assert unstorable["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_bodies_with_unstorable_strings_go_to_the_executor():
    import json

    from api.fast_track import storable

    assert not storable(json.dumps({"x": "a\u0000b"}).encode())
    assert not storable(json.dumps({"x": "\ud800"}).encode())
    assert storable(json.dumps({"x": "été \u00e9"}).encode())


def test_only_the_exact_shape_is_taken():
    event = {"messageId": "a", "name": "b", "occurredAt": "2026-01-01T00:00:00Z",
             "channel": "WEB"}
    doc = {"query": TRACK_DOCUMENT, "variables": {"input": {"events": [event]}}}
    assert events_of(doc) is not None
    for changed in ({**event, "extra": 1}, {**event, "channel": "MOON"},
                    {**event, "occurredAt": "2026-01-01"}, {**event, "customerId": 5},
                    {k: v for k, v in event.items() if k != "name"}):
        assert events_of({**doc, "variables": {"input": {"events": [changed]}}}) is None
    assert events_of({**doc, "operationName": "X"}) is None
    assert events_of({**doc, "query": TRACK_DOCUMENT.replace("message", "")}) is None


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
       st.sampled_from(["Z", "+00:00", "+05:30", "-11:00"]),
       st.sampled_from([0, 1, 3, 6]))
def test_timestamps_the_fast_path_takes_parse_as_the_executor_parses_them(moment, zone, digits):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += zone
    assert _TIMESTAMP.fullmatch(text)
    assert datetime.fromisoformat(text) == dateutil.parser.isoparse(text)


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
                                  "2026-01-01T00:00Z", "20260101T000000Z"])
def test_other_timestamps_go_to_the_executor(text):
    assert not _TIMESTAMP.fullmatch(text)
