"""Privacy: a customer's data exported, their account deleted or erased by
support, with nothing personal left in any table and the ledger whole."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from tortoise import connections

from loyalty.ledger.balances import verify_ledger
from notifications.worker import run_once
from tests.api import ws_client
from tests.api.test_adjustments import support_token
from tests.api.test_api_clients import LOOKUP, create_client
from tests.api.test_notifications_api import REGISTER, device
from tests.api.test_pos import buy
from tests.conftest import IS_PG, PASSWORD, SIGN_UP, GraphQLClient, Shop
from tests.fakes.fixtures import notification_tables

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["notification_tables"]

EXPORT = "query { me { exportData } }"
DELETE = """
mutation($input: DeleteMyAccountInput!) { deleteMyAccount(input: $input) { errors { code field } } }
"""
ERASE = """
mutation($input: EraseCustomerInput!) { eraseCustomer(input: $input) { errors { code field } } }
"""
ME = "query { me { id firstName } }"
REFRESH = """
mutation($input: RefreshSessionInput!) {
  refreshSession(input: $input) { accessToken errors { code } }
}"""
LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { accessToken errors { code } } }"""
PREFERENCES = """
mutation { updatePreferences(input: {marketingOptIn: true}) { errors { code } } }"""
SURVEY = """
mutation($input: SubmitSurveyInput!) { submitSurvey(input: $input) { errors { code } } }"""

EMAIL = "zephyrine.quaglia@example.test"
NAME = "Zéphyrine"
PHONE = "+33 6 12 34 56 78"
DEVICE = "fcm-token-zephyrine-0123456789"
BIRTH = "1987-03-21"


async def customer(gql: GraphQLClient) -> dict:
    auth = (await gql(SIGN_UP, {"input": {"email": EMAIL, "password": PASSWORD,
                                          "firstName": NAME, "birthDate": BIRTH,
                                          "marketingOptIn": False}}))["signUp"]
    token = auth["accessToken"]
    me = (await gql("query { me { id card { number } } }", token=token))["me"]
    # A phone, as an import brings one.
    await connections.get("default").execute_query(
        f"UPDATE customer SET phone = '{PHONE}' WHERE id = {int(me['id'])}")
    return {"id": int(me["id"]), "token": token, "refresh": auth["refreshToken"],
            "card": me["card"]["number"]}


async def everything_in_the_database() -> str:
    """Every value of every column of every table, as text, lower-cased."""
    conn = connections.get("default")
    if IS_PG:
        _, rows = await conn.execute_query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    else:
        _, rows = await conn.execute_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    dump = []
    for (table,) in rows:
        _, values = await conn.execute_query(f'SELECT * FROM "{table}"')
        dump.extend(f"{table}: " + " | ".join(str(x) for x in v) for v in values)
    return "\n".join(dump).lower()


async def test_a_customer_exports_then_deletes_everything(gql, server, shop: Shop):
    zep = await customer(gql)
    await gql(REGISTER, device(DEVICE), token=zep["token"])
    await gql(PREFERENCES, token=zep["token"])
    card = {"cardNumber": zep["card"]}
    bought = await gql("""mutation($input: RecordPurchaseInput!) {
      recordPurchase(input: $input) { errors { code } } }""", {"input": {
        "idempotencyKey": uuid.uuid4().hex, "card": card, "storeId": shop.store_id,
        "receiptId": "Z-1", "total": {"amountMinor": 50_00, "currency": "EUR"}}},
        token=shop.cashier_token)
    assert bought["recordPurchase"]["errors"] == []
    await gql(SURVEY, {"input": {"storeId": shop.store_id, "receiptId": "Z-1", "rating": 5,
                                 "comment": f"Merci, signé {NAME}"}}, token=zep["token"])
    await run_once(100)  # an inbox row that greets her by name

    exported = (await gql(EXPORT, token=zep["token"]))["me"]["exportData"]
    assert exported["customer"]["email"] == EMAIL
    assert exported["customer"]["phone"] == PHONE
    assert exported["card"][0]["number"] == zep["card"]
    assert [d["token"] for d in exported["device"]] == [DEVICE]
    assert [e["points"] for e in exported["ledger_entry"]] == [50]
    assert exported["purchase"][0]["receipt_id"] == "Z-1"
    assert [(c["consent"], c["granted"], c["source"]) for c in exported["consent_change"]][-1] \
        == ("marketing", True, "app")
    assert exported["notification"] and exported["survey_response"]
    text = json.dumps(exported)
    assert "password_hash" not in text and "qr_secret" not in text

    before = await everything_in_the_database()
    for value in (EMAIL, NAME, PHONE, DEVICE, BIRTH, zep["card"]):
        assert value.lower() in before, value  # the scan below would see them

    ws, ack = await ws_client.connect(server.ws_url, zep["token"])
    try:
        assert ack["type"] == "connection_ack"
        wrong = await gql(DELETE, {"input": {"password": "not it at all"}}, token=zep["token"])
        assert wrong["deleteMyAccount"]["errors"] == [{"code": "INVALID_CREDENTIALS",
                                                       "field": "password"}]
        done = await gql(DELETE, {"input": {"password": PASSWORD}}, token=zep["token"])
        assert done["deleteMyAccount"]["errors"] == []
        assert await ws_client.closed(ws, within=2) == (4401, "UNAUTHENTICATED")
    finally:
        await ws.close()

    # Her old token, refresh token and password open nothing.
    old = await gql.raw(ME, token=zep["token"])
    assert old["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refreshed = await gql(REFRESH, {"input": {"refreshToken": zep["refresh"]}})
    assert refreshed["refreshSession"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    logged = await gql(LOG_IN, {"input": {"email": EMAIL, "password": PASSWORD}})
    assert logged["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]

    # Nothing personal remains anywhere; the ledger is whole and her points closed.
    dump = await everything_in_the_database()
    for value in (EMAIL, NAME, PHONE, DEVICE, BIRTH, zep["card"]):
        assert value.lower() not in dump, value
    assert (await verify_ledger()).ok
    _, rows = await connections.get("default").execute_query(
        f"SELECT kind, points, description FROM ledger_transaction "
        f"WHERE customer_id = {zep['id']} ORDER BY id")
    assert [tuple(r) for r in rows][-1] == ("ADJUST", -50, "Account closed")
    _, rows = await connections.get("default").execute_query(
        f"SELECT consent, granted, source FROM consent_change WHERE customer_id = {zep['id']} "
        "ORDER BY id DESC")
    # every consent the customer had is recorded withdrawn (email and SMS
    # marketing are on until withdrawn)
    assert {tuple(r) for r in rows[:4]} == {("marketing", False, "erasure"),
                                           ("push", False, "erasure"),
                                           ("email", False, "erasure"),
                                           ("sms", False, "erasure")}
    # The same email can sign up again, as a new customer.
    again = (await gql(SIGN_UP, {"input": {"email": EMAIL, "password": PASSWORD,
                                           "firstName": NAME}}))["signUp"]
    assert again["errors"] == []


async def test_support_erases_and_integrations_no_longer_find_the_customer(gql, shop, alice,
                                                                            bob):
    token = await support_token(gql, shop)
    reader = (await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"]))["secret"]
    await buy(gql, shop, alice, 10_00)
    for who in (shop.cashier_token, bob.token):
        denied = await gql.raw(ERASE, {"input": {"customerId": str(alice.id)}}, token=who)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    erased = await gql(ERASE, {"input": {"customerId": str(alice.id)}}, token=token)
    assert erased["eraseCustomer"]["errors"] == []
    twice = await gql(ERASE, {"input": {"customerId": str(alice.id)}}, token=token)
    assert twice["eraseCustomer"]["errors"] == []
    missing = await gql(ERASE, {"input": {"customerId": "987654"}}, token=token)
    assert missing["eraseCustomer"]["errors"] == [{"code": "NOT_FOUND", "field": "customerId"}]
    for card in ({"email": alice.email}, {"customerId": str(alice.id)},
                 {"cardNumber": alice.card_number}):
        found = (await gql(LOOKUP, {"card": card, "storeId": shop.store_id},
                           token=reader))["cardLookup"]
        assert [e["code"] for e in found["errors"]] == ["CARD_NOT_FOUND"]
    # Bob is untouched; her old token is refused at once.
    assert (await gql(ME, token=bob.token))["me"]["firstName"] == "Bob"
    old = await gql.raw(EXPORT, token=alice.token)
    assert old["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    _, rows = await connections.get("default").execute_query(
        "SELECT action, actor_kind, target_id FROM audit_log WHERE action = 'customer.erased'")
    assert [tuple(r) for r in rows] == [("customer.erased", "staff", alice.id)]
    _, rows = await connections.get("default").execute_query(
        "SELECT kind FROM outbox_event WHERE kind = 'customer.erased'")
    assert len(rows) == 1
    await asyncio.sleep(0)
