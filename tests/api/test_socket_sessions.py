"""A WebSocket lives no longer than the session that opened it: the token's
expiry, a log-out or a revoked refresh family end it, and nothing is written
through it afterwards."""

from __future__ import annotations

import asyncio
import time

from tests.api import ws_client
from tests.api.test_pos import PURCHASE, buy, purchase_input
from tests.conftest import (
    DATABASE_URL,
    PASSWORD,
    STAFF_LOG_IN,
    CustomerHandle,
    GraphQLClient,
    Shop,
    settings_for,
)

LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken errors { code } }
}"""
REFRESH = """
mutation($input: RefreshSessionInput!) {
  refreshSession(input: $input) { accessToken refreshToken errors { code } }
}"""
LOG_OUT = "mutation($input: RefreshSessionInput!) { logOut(input: $input) { errors { code } } }"
SUBSCRIBE = "subscription { pointsChanged { available } }"


async def purchases() -> int:
    from loyalty.models import Purchase

    return await Purchase.all().count()


async def cashier_session(gql: GraphQLClient) -> dict[str, str]:
    session = (await gql(STAFF_LOG_IN, {"input": {"email": "cashier@shop.test",
                                                  "password": PASSWORD}}))["staffLogIn"]
    assert session["errors"] == []
    return session


async def test_a_till_socket_posts_nothing_once_its_token_has_expired(gql, server, shop: Shop,
                                                                      alice: CustomerHandle):
    from loyalty.platform.config import set_settings

    # given: a cashier whose access token lives 3 s, with a socket open on it
    set_settings(settings_for(DATABASE_URL, access_token_seconds=3))
    cashier = await cashier_session(gql)
    ws, ack = await ws_client.connect(server.ws_url, cashier["accessToken"])
    try:
        assert ack["type"] == "connection_ack"
        first = await ws_client.execute(ws, "1", PURCHASE, purchase_input(shop, alice, 10_00))
        assert first["data"]["recordPurchase"]["errors"] == []
        # when: the token expires and the till posts again on the same socket
        import jwt

        expires = jwt.decode(cashier["accessToken"], options={"verify_signature": False})["exp"]
        await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
        await ws_client.start(ws, "2", PURCHASE, purchase_input(shop, alice, 20_00))
        # then: the server closed the socket as unauthorised, saying why, and
        # the second purchase was never written
        assert await ws_client.closed(ws) == (4401, "TOKEN_EXPIRED")
    finally:
        await ws.close()
    assert await purchases() == 1


async def test_log_out_closes_the_till_socket_and_its_token_opens_no_new_one(
        gql, server, shop: Shop, alice: CustomerHandle):
    # given: a till connected on its cashier's session
    cashier = await cashier_session(gql)
    ws, ack = await ws_client.connect(server.ws_url, cashier["accessToken"])
    try:
        assert ack["type"] == "connection_ack"
        # when: the cashier logs out (on HTTP, as the till does)
        await gql(LOG_OUT, {"input": {"refreshToken": cashier["refreshToken"]}})
        # then: the socket is closed at once, and posts nothing after
        assert await ws_client.closed(ws, within=2) == (4401, "UNAUTHENTICATED")
        await ws_client.start(ws, "1", PURCHASE, purchase_input(shop, alice, 10_00))
    finally:
        await ws.close()
    again, answer = await ws_client.connect(server.ws_url, cashier["accessToken"])
    await again.close()
    assert answer["type"] == "closed" and answer["code"] == 4403
    assert await purchases() == 0


async def test_log_out_ends_the_apps_subscription(gql, server, alice: CustomerHandle):
    ws, ack = await ws_client.connect(server.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        await ws_client.start(ws, "1", SUBSCRIBE)
        await asyncio.sleep(0.2)  # let the server register the subscriber
        await gql(LOG_OUT, {"input": {"refreshToken": alice.refresh_token}})
        assert await ws_client.receive(ws, within=2) == {"id": "1", "type": "complete"}
        assert await ws_client.closed(ws, within=2) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()


async def test_a_reused_refresh_token_ends_the_familys_sockets(gql, server, alice: CustomerHandle):
    # given: the app's socket, and its session rotated once
    ws, ack = await ws_client.connect(server.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        rotated = (await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}}))
        assert rotated["refreshSession"]["errors"] == []
        # when: the spent refresh token comes back (it leaked)
        await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}})
        # then: the family is revoked, and with it the socket opened in it
        assert await ws_client.closed(ws, within=2) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()


async def test_logging_out_one_device_leaves_the_other_devices_socket(
        gql, server, shop: Shop, alice: CustomerHandle):
    # given: alice signed in on a second device, subscribed there
    tablet = (await gql(LOG_IN, {"input": {"email": alice.email,
                                           "password": PASSWORD}}))["logIn"]
    ws, ack = await ws_client.connect(server.ws_url, tablet["accessToken"])
    try:
        assert ack["type"] == "connection_ack"
        await ws_client.start(ws, "1", SUBSCRIBE)
        await asyncio.sleep(0.2)
        # when: she logs out on the phone, then buys something
        await gql(LOG_OUT, {"input": {"refreshToken": alice.refresh_token}})
        await buy(gql, shop, alice, 15_00)
        # then: the tablet still hears her balance
        assert await ws_client.receive(ws, within=2) == {
            "id": "1", "type": "next", "payload": {"data": {"pointsChanged": {"available": 15}}}}
    finally:
        await ws.close()


async def test_a_token_that_names_no_session_ends_with_any_log_out_of_its_principal(
        gql, server, alice: CustomerHandle):
    import jwt

    from tests.conftest import TEST_SECRET

    # given: a socket on a token issued before tokens named their session
    now = int(time.time())
    legacy = jwt.encode({"sub": str(alice.id), "typ": "customer", "aud": "loyalty-api",
                         "iss": "loyalty", "iat": now, "exp": now + 600}, TEST_SECRET,
                        algorithm="HS256")
    ws, ack = await ws_client.connect(server.ws_url, legacy)
    try:
        assert ack["type"] == "connection_ack"
        # when: any session of hers is logged out
        await gql(LOG_OUT, {"input": {"refreshToken": alice.refresh_token}})
        # then: it cannot be told apart from that session, so it ends too
        assert await ws_client.closed(ws, within=2) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()
