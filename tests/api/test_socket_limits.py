"""What one sign-in may hold open: sockets, live operations per socket and in
all, and the size of a message (the HTTP body limit)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import websockets

from loyalty.platform.config import load_settings
from tests.api import ws_client
from tests.api.test_pos import buy
from tests.conftest import TEST_SECRET, CustomerHandle, Server, Shop, serving

SUBSCRIBE = "subscription { pointsChanged { available } }"
# Set as an operator would, through the environment.
LIMITS = {"LOYALTY_WS_MAX_SOCKETS_PER_PRINCIPAL": "2",
          "LOYALTY_WS_MAX_SUBSCRIPTIONS_PER_SOCKET": "2",
          "LOYALTY_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "3"}


@pytest.fixture(scope="module")
async def limited(database: str) -> AsyncIterator[Server]:
    settings = load_settings({"DATABASE_URL": database, "LOYALTY_SECRET_KEY": TEST_SECRET,
                              "LOYALTY_ENV": "test", "LOYALTY_SCRYPT_LOG_N": "10", **LIMITS})
    async with serving(settings) as running:
        yield running


async def test_a_principal_holds_at_most_the_configured_sockets(limited: Server,
                                                                alice: CustomerHandle,
                                                                bob: CustomerHandle):
    first, ack1 = await ws_client.connect(limited.ws_url, alice.token)
    second, ack2 = await ws_client.connect(limited.ws_url, alice.token)
    try:
        assert [ack1["type"], ack2["type"]] == ["connection_ack", "connection_ack"]
        # when: a third socket on the same sign-in
        third, refused = await ws_client.connect(limited.ws_url, alice.token)
        await third.close()
        # then: it is closed as over the limit; someone else is not affected
        assert (refused["type"], refused["code"], refused["reason"]) == (
            "closed", 4429, "LIMIT_REACHED")
        other, ack = await ws_client.connect(limited.ws_url, bob.token)
        await other.close()
        assert ack["type"] == "connection_ack"
        # and once one is closed, a new one is admitted
        await first.close()
        await asyncio.sleep(0.2)
        again, ack = await ws_client.connect(limited.ws_url, alice.token)
        await again.close()
        assert ack["type"] == "connection_ack"
    finally:
        await first.close()
        await second.close()


async def test_live_operations_are_capped_per_socket_and_per_principal(
        gql, limited: Server, shop: Shop, alice: CustomerHandle):
    phone, _ = await ws_client.connect(limited.ws_url, alice.token)
    tablet, _ = await ws_client.connect(limited.ws_url, alice.token)
    try:
        # given: two subscriptions on the phone, the socket's limit
        for op in ("1", "2"):
            await ws_client.start(phone, op, SUBSCRIBE)
        assert await ws_client.silent_for(phone, 0.3)
        # when: a third on the same socket
        await ws_client.start(phone, "3", SUBSCRIBE)
        # then: refused with its code, the socket stays open
        refused = await ws_client.receive(phone)
        assert refused["type"] == "error" and refused["id"] == "3"
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["LIMIT_REACHED"]
        # given: one more on the tablet, the principal's limit of three
        await ws_client.start(tablet, "1", SUBSCRIBE)
        assert await ws_client.silent_for(tablet, 0.3)
        # when: a fourth anywhere
        await ws_client.start(tablet, "2", SUBSCRIBE)
        refused = await ws_client.receive(tablet)
        assert refused["type"] == "error" and refused["id"] == "2"
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["LIMIT_REACHED"]
        # when: the phone completes one, the tablet may subscribe again
        await phone.send(json.dumps({"id": "1", "type": "complete"}))
        await asyncio.sleep(0.2)
        await ws_client.start(tablet, "3", SUBSCRIBE)
        assert await ws_client.silent_for(tablet, 0.3)
        # then: the three live subscriptions hear the next change
        await buy(gql, shop, alice, 12_00)
        heard = {(m["id"], m["payload"]["data"]["pointsChanged"]["available"])
                 for m in await ws_client.drain(phone)}
        assert heard == {("2", 12)}
        heard = {(m["id"], m["payload"]["data"]["pointsChanged"]["available"])
                 for m in await ws_client.drain(tablet)}
        assert heard == {("1", 12), ("3", 12)}
    finally:
        await phone.close()
        await tablet.close()


async def test_a_message_over_the_body_limit_closes_the_socket_before_connection_init(server):
    # 64 KiB is the tests' (and the default) LOYALTY_MAX_BODY_BYTES
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    try:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"padding": "x" * 100_000}}))
        assert await ws_client.closed(ws) == (1009, "Messages are limited to 65536 bytes.")
    finally:
        await ws.close()


async def test_a_message_over_the_body_limit_closes_an_open_socket(server, alice: CustomerHandle):
    ws, ack = await ws_client.connect(server.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        # multi-byte characters: the limit counts bytes
        await ws_client.start(ws, "1", "query { me { id } } #" + "é" * 40_000)
        assert (await ws_client.closed(ws))[0] == 1009
    finally:
        await ws.close()
