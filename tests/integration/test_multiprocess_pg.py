"""Two real `loyalty serve` processes on one PostgreSQL database.

What a single process cannot show: the account row lock serialises spending
across processes, the idempotency key's unique index makes concurrent retries
post once whichever process they reach, and LISTEN/NOTIFY carries a balance
change committed by one process to a subscriber connected to the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tortoise import connections
from websockets.asyncio.client import connect as ws_connect

from tests.api import ws_client
from tests.conftest import IS_PG, PASSWORD, GraphQLClient, sign_up
from tests.integration.serve_process import (
    ServerProcess,
    loyalty_command,
    server_env,
    start,
    stop,
    wait_healthy,
)
from wallet.qr import make_qr

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.slow,
    pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (row locks and LISTEN/NOTIFY "
                       "across processes): set TEST_DATABASE_URL=postgres://..."),
]

STAFF_LOG_IN = """
mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code field message } }
}"""
CREATE_STORE = """
mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id } errors { code field message } }
}"""
CREATE_STAFF = """
mutation($input: CreateStaffInput!) {
  createStaff(input: $input) { staff { id } errors { code field message } }
}"""
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id kind points }
    errors { code field message }
  }
}"""
REDEEM = """
mutation($input: RedeemPointsInput!) {
  redeemPoints(input: $input) {
    transaction { id kind points }
    errors { code field message }
  }
}"""
BALANCE = "query { me { points { available pending lifetimeEarned } } }"
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken errors { code retryAfterSeconds } }
}"""
LOG_OUT = "mutation($input: RefreshSessionInput!) { logOut(input: $input) { errors { code } } }"
POINTS_CHANGED = "subscription { pointsChanged { available pending lifetimeEarned } }"

STORE_NAME = "Multi-process"  # the same in every test: servers cache names by id
HTTP_TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
async def servers(database: str) -> AsyncIterator[list[ServerProcess]]:
    """Two server processes. Started one after the other: each migrates first."""
    started: list[ServerProcess] = []
    try:
        for _ in range(2):
            started.append(await start(database))
            await wait_healthy(started[-1])
        yield started
    finally:
        stopped = await asyncio.gather(*(stop(s) for s in started), return_exceptions=True)
        for failure in stopped:
            if failure is not None:
                raise failure


@dataclass
class World:
    tills: list[GraphQLClient]  # one per server process
    cashier_token: str
    store_id: str
    customer_token: str
    card_number: str
    qr_secret: str
    customer_email: str

    def qr(self) -> str:
        return make_qr(self.card_number, self.qr_secret).payload

    def till(self, i: int) -> GraphQLClient:
        """Requests alternate between the two processes."""
        return self.tills[i % len(self.tills)]


@pytest.fixture
async def world(servers: list[ServerProcess]) -> AsyncIterator[World]:
    """An admin (made in-process, as the CLI does), a store, its cashier and a
    customer, all seeded through the first server."""
    from loyalty.identity.accounts import create_admin

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        httpx.AsyncClient(base_url=servers[0].url, timeout=HTTP_TIMEOUT, limits=limits) as h1,
        httpx.AsyncClient(base_url=servers[1].url, timeout=HTTP_TIMEOUT, limits=limits) as h2,
    ):
        gql = GraphQLClient(h1)
        await create_admin("admin@shop.test", PASSWORD)
        admin = (await gql(STAFF_LOG_IN, {"input": {"email": "admin@shop.test",
                                                      "password": PASSWORD}}))["staffLogIn"]
        store = (await gql(CREATE_STORE, {"input": {"name": STORE_NAME, "latitude": 48.87,
                                                    "longitude": 2.33,
                                                    "timezone": "Europe/Paris"}},
                           token=admin["accessToken"]))["createStore"]
        assert store["errors"] == []
        staff = (await gql(CREATE_STAFF, {"input": {"email": "cashier@shop.test",
                                                    "password": PASSWORD, "role": "CASHIER",
                                                    "storeIds": [store["store"]["id"]]}},
                           token=admin["accessToken"]))["createStaff"]
        assert staff["errors"] == []
        cashier = (await gql(STAFF_LOG_IN, {"input": {"email": "cashier@shop.test",
                                                        "password": PASSWORD}}))["staffLogIn"]
        customer = await sign_up(gql, "Alice")
        yield World([GraphQLClient(h1), GraphQLClient(h2)], cashier["accessToken"],
                    store["store"]["id"], customer.token, customer.card_number,
                    customer.qr_secret, customer.email)


def purchase_args(world: World, amount: int, *, key: str | None = None,
                  receipt: str | None = None, qr: str | None = None) -> dict[str, Any]:
    return {"input": {"idempotencyKey": key or uuid.uuid4().hex,
                      "card": {"qrPayload": qr or world.qr()}, "storeId": world.store_id,
                      "receiptId": receipt or uuid.uuid4().hex[:12],
                      "total": {"amountMinor": amount, "currency": "EUR"}}}


def redeem_args(world: World, points: int, *, key: str | None = None,
                qr: str | None = None) -> dict[str, Any]:
    return {"input": {"idempotencyKey": key or uuid.uuid4().hex,
                      "card": {"qrPayload": qr or world.qr()}, "storeId": world.store_id,
                      "points": points}}


async def purchase(world: World, i: int, args: dict[str, Any]) -> dict[str, Any]:
    return (await world.till(i)(PURCHASE, args, token=world.cashier_token))["recordPurchase"]


async def redeem(world: World, i: int, args: dict[str, Any]) -> dict[str, Any]:
    return (await world.till(i)(REDEEM, args, token=world.cashier_token))["redeemPoints"]


async def balance(world: World) -> dict[str, int]:
    return (await world.till(0)(BALANCE, token=world.customer_token))["me"]["points"]


async def count(sql: str) -> int:
    _, rows = await connections.get("default").execute_query(sql)
    return int(rows[0][0])


async def test_200_concurrent_redemptions_across_two_processes_spend_exactly_the_balance(
        world: World, database: str) -> None:
    # given: exactly 500 points
    earned = await purchase(world, 0, purchase_args(world, 500_00))
    assert earned["errors"] == [] and earned["transaction"]["points"] == 500
    # when: 200 redemptions of 10, each with its own fresh code and key, at once
    requests = [redeem_args(world, 10) for _ in range(200)]
    assert len({r["input"]["card"]["qrPayload"] for r in requests}) == 200
    results = await asyncio.gather(*(redeem(world, i, args) for i, args in enumerate(requests)))
    # then: exactly 50 spent, 150 refused for want of points, nothing else
    spent = [r for r in results if r["errors"] == [] and r["transaction"] is not None]
    refused = [r for r in results if r["transaction"] is None
               and [e["code"] for e in r["errors"]] == ["INSUFFICIENT_POINTS"]]
    others = [r for r in results if r not in spent and r not in refused]
    assert others == []
    assert (len(spent), len(refused)) == (50, 150)
    assert {r["transaction"]["points"] for r in spent} == {-10}
    assert len({r["transaction"]["id"] for r in spent}) == 50
    assert (await balance(world))["available"] == 0
    assert await count("SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'REDEEM'") == 50
    verify = await asyncio.create_subprocess_exec(
        *loyalty_command(), "ledger", "verify",
        env={**os.environ, **server_env(database)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output = (await asyncio.wait_for(verify.communicate(), 60))[0].decode()
    finally:
        if verify.returncode is None:
            verify.kill()
            await verify.wait()
    assert verify.returncode == 0, output
    assert "ledger ok" in output


async def test_same_idempotency_key_sent_20_times_at_once_posts_once(world: World) -> None:
    # given: one purchase request, as a till retrying hard would send it
    args = purchase_args(world, 123_45, key="till-1-0001", receipt="R-0001")
    # when: it arrives 20 times at once, on both processes
    bought = await asyncio.gather(*(purchase(world, i, args) for i in range(20)))
    # then: every answer is the one posting
    assert [r["errors"] for r in bought] == [[]] * 20
    assert len({r["transaction"]["id"] for r in bought}) == 1
    assert bought[0]["transaction"]["points"] == 123
    assert await count("SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'EARN'") == 1
    assert await count("SELECT COUNT(*) FROM purchase") == 1
    assert (await balance(world))["available"] == 123

    # given: one redemption request with one code
    args = redeem_args(world, 23, key="till-1-0002")
    # when: it arrives 20 times at once, on both processes
    spent = await asyncio.gather(*(redeem(world, i, args) for i in range(20)))
    # then: every answer is the one posting, debited once
    assert [r["errors"] for r in spent] == [[]] * 20
    assert len({r["transaction"]["id"] for r in spent}) == 1
    assert spent[0]["transaction"]["points"] == -23
    assert await count("SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'REDEEM'") == 1
    assert await count("SELECT COUNT(*) FROM spent_code") == 1
    assert (await balance(world))["available"] == 100


async def _subscriber_count(server: ServerProcess) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("loyalty_subscribers "):
            return int(float(line.split()[1]))  # prometheus-client writes gauges as floats
    raise AssertionError(f"no loyalty_subscribers in /metrics:\n{text}")


async def test_points_changed_reaches_a_subscriber_on_the_other_process(
        world: World, servers: list[ServerProcess]) -> None:
    # given: the customer subscribed to their balance on process 1
    async with ws_connect(servers[0].ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                          open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {world.customer_token}"}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": POINTS_CHANGED}}))
        deadline = time.monotonic() + 5
        while await _subscriber_count(servers[0]) < 1:
            assert time.monotonic() < deadline, "the subscription was never registered"
            await asyncio.sleep(0.02)

        async def next_message() -> tuple[float, dict[str, Any]]:
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                return time.monotonic(), message

        listening = asyncio.create_task(next_message())
        try:
            # when: a till posts a purchase through process 2
            bought = await purchase(world, 1, purchase_args(world, 42_00))
            answered = time.monotonic()
            assert bought["errors"] == []
            arrived, message = await asyncio.wait_for(listening, 5)
        finally:
            if not listening.done():
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)
        # then: process 1 pushes the new balance within a second of the till's answer
        assert message == {"id": "1", "type": "next", "payload": {"data": {"pointsChanged": {
            "available": 42, "pending": 0, "lifetimeEarned": 42}}}}
        assert arrived - answered < 1.0
        await ws.send(json.dumps({"id": "1", "type": "complete"}))



async def test_log_out_on_one_process_closes_the_sessions_socket_on_the_other(
        world: World, servers: list[ServerProcess]) -> None:
    # given: a customer's session, with its socket on process 1
    session = (await world.till(1)(LOG_IN, {"input": {"email": world.customer_email,
                                                      "password": PASSWORD}}))["logIn"]
    assert session["errors"] == []
    ws, ack = await ws_client.connect(servers[0].ws_url, session["accessToken"])
    try:
        assert ack["type"] == "connection_ack", ack
        # when: the app logs out through process 2
        await world.till(1)(LOG_OUT, {"input": {"refreshToken": session["refreshToken"]}})
        # then: process 1 closes the socket within a second or two
        assert await ws_client.closed(ws, within=3) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()


async def test_failed_log_ins_through_either_process_lock_out_both(world: World) -> None:
    # given: a customer, and each process left at its default limits (5 failures
    # of one account from one address, then a 30 s lock-out)
    mallory = await sign_up(world.till(0), "Mallory")

    async def log_in(i: int, password: str) -> dict[str, Any]:
        return (await world.till(i)(LOG_IN, {"input": {"email": mallory.email,
                                                       "password": password}}))["logIn"]

    # when: five wrong passwords, alternating between the processes
    for i in range(5):
        assert [e["code"] for e in (await log_in(i, f"wrong {i}"))["errors"]] == [
            "INVALID_CREDENTIALS"]
    # then: the right one is refused by both, the counts being in the database
    for i in range(2):
        refused = await log_in(i, PASSWORD)
        assert refused["accessToken"] is None
        [error] = refused["errors"]
        assert error["code"] == "RATE_LIMITED" and 1 <= error["retryAfterSeconds"] <= 30
