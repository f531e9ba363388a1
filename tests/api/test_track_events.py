"""trackEvents over HTTP: who may send what, per-event errors, and the merge of
anonymous events at sign-up and log-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import PASSWORD, SIGN_UP, GraphQLClient, Shop, sign_up
from tests.integration.test_expiry import rows

TRACK = """
mutation($input: TrackEventsInput!) {
  trackEvents(input: $input) { accepted duplicates errors { code field message } }
}"""
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken errors { code field } }
}"""


def event(message_id: str, name: str = "product_viewed", **extra: object) -> dict:
    return {"messageId": message_id, "name": name, "channel": "APP",
            "occurredAt": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(), **extra}


async def test_the_app_sends_its_customers_events(gql: GraphQLClient, alice, bob):
    batch = [event("e-1", properties={"sku": "X1", "category": "coffee"}),
             event("e-2", occurredAt="2001-01-01T00:00:00Z"),
             event("e-3", customerId=str(bob.id)),
             event("e-4", "cart_updated", customerId=str(alice.id))]
    first = (await gql(TRACK, {"input": {"events": batch}}, token=alice.token))["trackEvents"]
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert [(e["code"], e["field"]) for e in first["errors"]] == [
        ("INVALID_INPUT", "events.1.occurredAt"), ("FORBIDDEN", "events.2.customerId")]
    again = (await gql(TRACK, {"input": {"events": batch}}, token=alice.token))["trackEvents"]
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert await rows("SELECT message_id, customer_id FROM customer_event ORDER BY id") == [
        ("e-1", alice.id), ("e-4", alice.id)]


async def test_staff_senders_are_admins_or_managers(gql: GraphQLClient, shop: Shop, alice):
    batch = {"input": {"events": [event("w-1", "page_viewed", customerId=str(alice.id),
                                        channel="WEB",
                                        properties={"url": "/shoes", "utm_source": "news"})]}}
    admin = (await gql(TRACK, batch, token=shop.admin_token))["trackEvents"]
    assert (admin["accepted"], admin["errors"]) == (1, [])
    cashier = await gql.raw(TRACK, batch, token=shop.cashier_token)
    assert cashier["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    nobody = await gql.raw(TRACK, batch)
    assert nobody["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sign_up_and_log_in_merge_anonymous_events(gql: GraphQLClient, shop: Shop):
    # given events from two phones before anyone signed in
    anonymous = [event("a-1", anonymousId="phone-A", customerId=None),
                 event("a-2", "page_viewed", anonymousId="phone-B")]
    sent = (await gql(TRACK, {"input": {"events": anonymous}},
                      token=shop.admin_token))["trackEvents"]
    assert sent["accepted"] == 2
    # when Zoé signs up from phone A, saying where she came from
    auth = (await gql(SIGN_UP, {"input": {
        "email": "zoe@example.test", "password": PASSWORD, "firstName": "Zoé",
        "anonymousId": "phone-A",
        "acquisition": {"source": "instagram", "medium": "social", "campaign": "spring"}}}
    ))["signUp"]
    assert auth["errors"] == []
    # and Alice logs in from phone B
    alice = await sign_up(gql, "Alice")
    logged = (await gql(LOG_IN, {"input": {"email": alice.email, "password": PASSWORD,
                                           "anonymousId": "phone-B"}}))["logIn"]
    assert logged["errors"] == []
    # then each phone's events are its customer's, and Zoé's acquisition is kept
    zoe = (await rows("SELECT id, acquisition_source, acquisition_medium, acquisition_campaign "
                      "FROM customer WHERE email = 'zoe@example.test'"))[0]
    assert zoe[1:] == ("instagram", "social", "spring")
    assert await rows("SELECT message_id, customer_id FROM customer_event ORDER BY id") == [
        ("a-1", zoe[0]), ("a-2", alice.id)]


async def test_a_bad_anonymous_id_or_acquisition_is_refused_before_anything(gql: GraphQLClient):
    bad = (await gql(SIGN_UP, {"input": {"email": "x@example.test", "password": PASSWORD,
                                         "firstName": "X", "anonymousId": "has space"}}
                     ))["signUp"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_INPUT", "anonymousId")]
    bad = (await gql(SIGN_UP, {"input": {"email": "x@example.test", "password": PASSWORD,
                                         "firstName": "X", "acquisition": {"source": " "}}}
                     ))["signUp"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [
        ("INVALID_INPUT", "acquisition.source")]
    assert await rows("SELECT id FROM customer") == []
