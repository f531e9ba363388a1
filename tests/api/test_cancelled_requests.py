"""A cancelled resolver leaves no connection, lock or transaction behind.

graphql-core cancels a field's sibling resolvers when one fails; a client may
go away mid-request; a worker is stopped. Whatever point a task is cancelled
at, the database must answer the next request at once."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import GraphQLClient, Server

# One field refused, its sibling inside a transaction when the refusal lands.
REFUSED_BESIDE_A_TRANSACTION = [
    ("{ tiers { id } rewards { id } }", None),
    ("{ tiers { id } programmeSettings { timezone } }", "customer"),
]


async def _still_answers(server: Server, gql: GraphQLClient, token: str,
                         points: int | None = 0) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        health = await asyncio.wait_for(http.get("/healthz"), 5)
    assert health.status_code == 200
    data = await asyncio.wait_for(gql("{ me { points { available } } }", token=token), 5)
    if points is not None:
        assert data["me"]["points"]["available"] == points


async def test_a_refused_field_does_not_freeze_the_server(server, gql, alice):
    for query, who in REFUSED_BESIDE_A_TRANSACTION:
        token = alice.token if who == "customer" else None
        for _ in range(5):
            body = await asyncio.wait_for(gql.raw(query, token=token), 5)
            assert body["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
        await _still_answers(server, gql, alice.token)


async def test_requests_refused_or_abandoned_at_random_points(server, gql, shop, alice):
    """Refused siblings, purchases and reads at once, with clients hanging up
    after a random wait: afterwards no session is left in a transaction or
    mid-statement, the server answers at once, every pool connection is back
    and the ledger holds."""
    import random

    from loyalty.ledger.balances import verify_ledger
    from tests.api.test_fuzz_findings import REFUSED_BESIDE_A_QUERY
    from tests.api.test_pos import PURCHASE, purchase_input
    from tests.api.test_tiers_api import CREATE_TIER
    from tests.conftest import sessions_left_busy
    from tests.integration.test_cancellation import _pool_is_whole

    await gql(CREATE_TIER, {"input": {"name": "Silver", "threshold": 100}},
              token=shop.admin_token)

    rng = random.Random(11)
    keys = [f"k{i}" for i in range(60)]

    async def one(i: int) -> None:
        # Each on its own connection: a client that gives up closes it mid-request.
        async with httpx.AsyncClient(base_url=server.url) as http:
            client = GraphQLClient(http)
            if i % 3 == 0:
                key = keys[i // 3]
                call = client.raw(PURCHASE, purchase_input(shop, alice, 5_00, key=key,
                                                           receipt=key),
                                  token=shop.cashier_token)
            elif i % 3 == 1:
                # Its siblings in the middle of plain queries, not in a transaction.
                call = client.raw(REFUSED_BESIDE_A_QUERY, token=alice.token)
            else:
                query, who = REFUSED_BESIDE_A_TRANSACTION[i % 2]
                call = client.raw(query, token=alice.token if who else None)
            try:
                await asyncio.wait_for(call, rng.uniform(0, 0.2))
            except TimeoutError:
                pass

    await asyncio.gather(*(one(i) for i in range(180)))
    # Before anything uses the pool again: using a stuck connection ends
    # what it was stuck in.
    assert await sessions_left_busy() == []
    await _still_answers(server, gql, alice.token, points=None)
    await _pool_is_whole()
    assert (await verify_ledger()).problems == []
    # Every abandoned purchase, retried with its key, is posted exactly once.
    for key in keys:
        result = (await gql(PURCHASE, purchase_input(shop, alice, 5_00, key=key, receipt=key),
                            token=shop.cashier_token))["recordPurchase"]
        assert result["errors"] == []
    data = await gql("{ me { points { available } } }", token=alice.token)
    assert data["me"]["points"]["available"] == 5 * len(keys)
    assert (await verify_ledger()).problems == []
