"""What is committed while the LISTEN connection is down still reaches the
subscribers once it is back: the listener resynchronises them."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections

from tests.api import ws_client
from tests.api.test_pos import buy
from tests.conftest import IS_PG, CustomerHandle, Shop

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (LISTEN/NOTIFY): "
                       "set TEST_DATABASE_URL=postgres://..."),
]

SUBSCRIBE = "subscription { pointsChanged { available } }"
LOG_OUT = "mutation($input: RefreshSessionInput!) { logOut(input: $input) { errors { code } } }"


async def cut_the_listener() -> int:
    """Terminate the server's LISTEN connection, as a failover or an idle
    timeout would; the number of backends cut."""
    _, rows = await connections.get("default").execute_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN %' "
        "AND pid <> pg_backend_pid()")
    return len(rows)


async def test_a_purchase_made_while_the_listener_is_down_reaches_the_subscriber(
        gql, server, shop: Shop, alice: CustomerHandle):
    ws, ack = await ws_client.connect(server.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        await ws_client.start(ws, "1", SUBSCRIBE)
        await asyncio.sleep(0.2)  # let the server register the subscriber
        # when: the listener's connection drops, and a purchase commits before it is back
        assert await cut_the_listener() >= 1
        await buy(gql, shop, alice, 30_00)
        # then: once the listener reconnects, the subscriber hears the balance
        assert await ws_client.receive(ws, within=5) == {
            "id": "1", "type": "next", "payload": {"data": {"pointsChanged": {"available": 30}}}}
    finally:
        await ws.close()


async def test_a_log_out_made_while_the_listener_is_down_still_closes_the_socket(
        gql, server, alice: CustomerHandle):
    ws, ack = await ws_client.connect(server.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        assert await cut_the_listener() >= 1
        await gql(LOG_OUT, {"input": {"refreshToken": alice.refresh_token}})
        assert await ws_client.closed(ws, within=5) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()
