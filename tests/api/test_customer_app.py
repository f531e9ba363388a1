"""The app's home screen: card, balance, expiry, history; and live updates."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import websockets

from tests.api.test_pos import REDEEM, buy
from tests.conftest import GraphQLClient

HOME = """
query($after: String) {
  me {
    firstName
    card { number qrSecret qrPeriodSeconds qr { payload expiresAt svg } }
    points { available pending lifetimeEarned nextExpiry { points expiresAt } }
    tier { name }
    offers { id }
    history(first: 3, after: $after) {
      edges { cursor node { id occurredAt kind points balanceAfter channel storeName
                            description } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
SUBSCRIBE = "subscription { pointsChanged { available pending lifetimeEarned } }"


async def test_each_fetch_of_the_qr_gives_a_fresh_verifiable_code(gql: GraphQLClient, alice):
    from wallet.qr import parse_qr, verify_qr

    first = (await gql(HOME, token=alice.token))["me"]["card"]
    second = (await gql(HOME, token=alice.token))["me"]["card"]
    assert first["qr"]["payload"] != second["qr"]["payload"]
    assert first["qrPeriodSeconds"] == 30
    verify_qr(parse_qr(first["qr"]["payload"]), first["qrSecret"])
    assert first["qr"]["svg"].lstrip().startswith(("<svg", "<?xml"))
    assert datetime.fromisoformat(first["qr"]["expiresAt"]) > datetime.now(UTC)


async def test_history_is_newest_first_paginated_and_explained(gql, shop, alice):
    for amount in (10_00, 20_00, 30_00, 40_00):
        await buy(gql, shop, alice, amount)
    await gql(REDEEM, {"input": {"idempotencyKey": "r", "card": {"qrPayload": alice.qr()},
                                 "storeId": shop.store_id, "points": 25}},
              token=shop.cashier_token)
    page1 = (await gql(HOME, token=alice.token))["me"]["history"]
    nodes = [e["node"] for e in page1["edges"]]
    assert [n["points"] for n in nodes] == [-25, 40, 30]
    assert [n["balanceAfter"] for n in nodes] == [75, 100, 60]
    assert nodes[0]["kind"] == "REDEEM" and nodes[0]["description"] == "Points spent at Opéra"
    assert nodes[1]["kind"] == "EARN" and nodes[1]["channel"] == "STORE"
    assert nodes[1]["storeName"] == "Opéra"
    assert page1["pageInfo"]["hasNextPage"] is True
    page2 = (await gql(HOME, {"after": page1["pageInfo"]["endCursor"]},
                       token=alice.token))["me"]["history"]
    assert [e["node"]["points"] for e in page2["edges"]] == [20, 10]
    assert page2["pageInfo"]["hasNextPage"] is False
    bad = await gql.raw(HOME, {"after": "bm9wZQ=="}, token=alice.token)
    assert bad["errors"][0]["message"] == "Invalid cursor."


async def test_balance_and_next_expiry_after_spending_first_expiring_first(gql, shop, alice):
    await buy(gql, shop, alice, 50_00)
    home = (await gql(HOME, token=alice.token))["me"]
    points = home["points"]
    assert points["available"] == 50 and points["lifetimeEarned"] == 50
    assert points["pending"] == 0
    expiry = points["nextExpiry"]
    assert expiry["points"] == 50
    expires = datetime.fromisoformat(expiry["expiresAt"])
    # Twelve months after earning, at the following midnight UTC.
    assert 365 <= (expires - datetime.now(UTC)).days <= 367
    assert (expires.hour, expires.minute) == (0, 0)
    await gql(REDEEM, {"input": {"idempotencyKey": "r", "card": {"qrPayload": alice.qr()},
                                 "storeId": shop.store_id, "points": 50}},
              token=shop.cashier_token)
    assert (await gql(HOME, token=alice.token))["me"]["points"]["nextExpiry"] is None


async def _subscribe(server, token: str):
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {token}"}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return ws, ack


async def test_points_changed_arrives_within_a_second_of_a_pos_write(gql, server, shop, alice):
    ws, ack = await _subscribe(server, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": SUBSCRIBE}}))
        await asyncio.sleep(0.2)  # let the server register the subscriber
        await buy(gql, shop, alice, 42_00)
        posted = time.monotonic()
        message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
        assert time.monotonic() - posted < 1.0
        assert message["type"] == "next"
        assert message["payload"]["data"]["pointsChanged"] == {
            "available": 42, "pending": 0, "lifetimeEarned": 42}
    finally:
        await ws.close()


async def test_a_subscriber_hears_only_their_own_balance(gql, server, shop, alice, bob):
    ws, _ = await _subscribe(server, alice.token)
    try:
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": SUBSCRIBE}}))
        await asyncio.sleep(0.2)
        await buy(gql, shop, bob, 10_00)
        try:
            message = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            message = None
        assert message is None
    finally:
        await ws.close()


async def test_websocket_without_or_with_a_bad_token_is_refused(server):
    for payload in ({}, {"authorization": "Bearer nope"}):
        ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("the server acknowledged a connection without a valid token")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403


async def test_a_subscription_ends_when_its_token_expires(server, alice):
    import jwt

    from tests.conftest import TEST_SECRET

    now = int(time.time())
    short = jwt.encode({"sub": str(alice.id), "typ": "customer", "aud": "loyalty-api",
                        "iss": "loyalty", "iat": now, "exp": now + 2}, TEST_SECRET,
                       algorithm="HS256")
    ws, ack = await _subscribe(server, short)
    try:
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": SUBSCRIBE}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message == {"id": "1", "type": "complete"}
    finally:
        await ws.close()
