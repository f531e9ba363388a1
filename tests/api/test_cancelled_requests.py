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


async def _still_answers(server: Server, gql: GraphQLClient, token: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        health = await asyncio.wait_for(http.get("/healthz"), 5)
    assert health.status_code == 200
    data = await asyncio.wait_for(gql("{ me { points { available } } }", token=token), 5)
    assert data["me"]["points"]["available"] == 0


async def test_a_refused_field_does_not_freeze_the_server(server, gql, alice):
    for query, who in REFUSED_BESIDE_A_TRANSACTION:
        token = alice.token if who == "customer" else None
        for _ in range(5):
            body = await asyncio.wait_for(gql.raw(query, token=token), 5)
            assert body["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
        await _still_answers(server, gql, alice.token)
