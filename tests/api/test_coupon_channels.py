"""Journey coupons at the till: valid only on their channels (the store's kind
decides) and in their currency, shown with both in me.coupons, reminded at
their own time, through HTTP GraphQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from loyalty.ledger.balances import verify_ledger
from loyalty.platform.db import transaction
from loyalty.points.reminders import write_reminders
from loyalty.programme import coupons
from notifications.worker import run_once
from tests.api.test_notifications_personal import inbox
from tests.api.test_pos import available
from tests.conftest import (
    CREATE_STAFF,
    IS_PG,
    PASSWORD,
    STAFF_LOG_IN,
    CustomerHandle,
    GraphQLClient,
    Shop,
)

CREATE_STORE = """
mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id } errors { code field } }
}"""
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points }
    applied { title discount { amountMinor currency } }
    errors { code field message }
  }
}"""
OFFLINE = """
mutation($input: RecordPurchasesInput!) {
  recordPurchases(input: $input) {
    results { transaction { id } applied { title } errors { code field } }
    errors { code }
  }
}"""
COUPONS = """
query { me { coupons { code title kind value currency channels expiresAt redeemedAt } } }"""


@dataclass(frozen=True)
class Till:
    store_id: str
    token: str


@dataclass(frozen=True)
class Tills:
    store: Till
    web: Till
    phone: Till


@pytest.fixture
async def tills(gql: GraphQLClient, shop: Shop) -> Tills:
    """The shop's physical store, a web shop and a call centre, with a
    cashier for the two new ones."""
    ids = []
    for name, kind in (("Boutique en ligne", "ONLINE"), ("Service client", "CALL_CENTRE")):
        made = (await gql(CREATE_STORE, {"input": {"name": name, "kind": kind,
                                                   "timezone": "Europe/Paris"}},
                          token=shop.admin_token))["createStore"]
        assert made["errors"] == []
        ids.append(made["store"]["id"])
    email = f"desk-{uuid.uuid4().hex[:6]}@shop.test"
    staff = await gql(CREATE_STAFF, {"input": {"email": email, "password": PASSWORD,
                                               "role": "CASHIER", "storeIds": ids}},
                      token=shop.admin_token)
    assert staff["createStaff"]["errors"] == []
    desk = (await gql(STAFF_LOG_IN, {"input": {"email": email, "password": PASSWORD}})
            )["staffLogIn"]["accessToken"]
    return Tills(Till(shop.store_id, shop.cashier_token), Till(ids[0], desk), Till(ids[1], desk))


async def issue(customer: CustomerHandle, *, kind: str = "PERCENT_OFF", value: int = 10,
                title: str = "10% off", channels: list[str] | None = None,
                currency: str | None = None, expires_at: datetime | None = None,
                remind_at: datetime | None = None) -> str:
    """A coupon as the journeys runtime issues it."""
    async with transaction() as conn:
        return await coupons.issue_coupon(
            conn, customer_id=customer.id, title=title, kind=kind, value=value,
            expires_at=expires_at or datetime.now(UTC) + timedelta(days=30),
            channels=channels, currency=currency, remind_at=remind_at,
            issue_key=f"test:{uuid.uuid4().hex}")


def item(till: Till, customer: CustomerHandle, amount: int, *, code: str | None = None,
         currency: str = "EUR", receipt: str | None = None, **extra: object) -> dict:
    return {
        **extra,
        "idempotencyKey": uuid.uuid4().hex,
        "card": {"cardNumber": customer.card_number},
        "storeId": till.store_id,
        "receiptId": receipt or uuid.uuid4().hex[:12],
        "total": {"amountMinor": amount, "currency": currency},
        **({"couponCode": code} if code else {}),
    }


async def buy(gql: GraphQLClient, till: Till, customer: CustomerHandle, amount: int,
              **kw: object) -> dict:
    return (await gql(PURCHASE, {"input": item(till, customer, amount, **kw)},  # type: ignore[arg-type]
                      token=till.token))["recordPurchase"]


async def purchases_of(receipt: str) -> int:
    _, rows = await connections.get("default").execute_query(
        "SELECT COUNT(*) FROM purchase WHERE receipt_id = ?" if not IS_PG else
        "SELECT COUNT(*) FROM purchase WHERE receipt_id = $1", [receipt])
    return int(rows[0][0])


async def test_a_web_and_store_coupon_is_taken_in_store_and_online_and_refused_by_phone(
        gql, alice, tills):
    # given three coupons valid on the web shop and in store
    codes = [await issue(alice, channels=["WEB", "STORE"]) for _ in range(3)]
    # when each is presented: at the physical store, the web shop, the call centre
    in_store = await buy(gql, tills.store, alice, 10_00, code=codes[0])
    online = await buy(gql, tills.web, alice, 10_00, code=codes[1])
    by_phone = await buy(gql, tills.phone, alice, 10_00, code=codes[2], receipt="PH-1")
    # then the first two take 10% off, the call centre refuses and posts nothing
    for taken in (in_store, online):
        assert taken["errors"] == []
        assert taken["applied"] == [{"title": "10% off",
                                     "discount": {"amountMinor": 100, "currency": "EUR"}}]
        assert taken["transaction"]["points"] == 9
    assert by_phone["transaction"] is None
    assert [(e["code"], e["field"]) for e in by_phone["errors"]] == [
        ("COUPON_NOT_VALID_HERE", "couponCode")]
    assert "online or in store" in by_phone["errors"][0]["message"]
    assert await purchases_of("PH-1") == 0
    assert await available(gql, alice) == 18
    mine = {c["code"]: c for c in (await gql(COUPONS, token=alice.token))["me"]["coupons"]}
    assert mine[codes[2]]["redeemedAt"] is None
    assert mine[codes[0]]["redeemedAt"] is not None
    # the same receipt without the coupon goes through (on PostgreSQL, the
    # one-statement path, which never applies a coupon)
    plain = await buy(gql, tills.phone, alice, 10_00, receipt="PH-1")
    assert plain["errors"] == [] and plain["transaction"]["points"] == 10
    # and the refused coupon is still good where it is valid
    later = await buy(gql, tills.web, alice, 10_00, code=codes[2])
    assert later["errors"] == []
    assert (await verify_ledger()).problems == []


async def test_an_offline_batch_refuses_the_coupon_alone_where_it_is_not_valid(
        gql, alice, tills):
    store_only = await issue(alice, channels=["STORE"])
    anywhere = await issue(alice)
    batch = [item(tills.phone, alice, 20_00, code=store_only),
             item(tills.phone, alice, 20_00, code=anywhere)]
    result = (await gql(OFFLINE, {"input": {"purchases": batch}},
                        token=tills.phone.token))["recordPurchases"]
    assert result["errors"] == []
    refused, taken = result["results"]
    assert refused["transaction"] is None
    assert refused["errors"] == [{"code": "COUPON_NOT_VALID_HERE", "field": "couponCode"}]
    assert taken["errors"] == [] and taken["applied"] == [{"title": "10% off"}]
    assert await available(gql, alice) == 18


async def test_an_amount_off_coupon_is_refused_in_another_currency(gql, alice, tills):
    code = await issue(alice, kind="AMOUNT_OFF", value=500, title="5 EUR off",
                       currency="EUR")
    dollars = await buy(gql, tills.web, alice, 20_00, code=code, currency="USD")
    assert dollars["transaction"] is None
    assert [e["code"] for e in dollars["errors"]] == ["COUPON_NOT_VALID_HERE"]
    assert await available(gql, alice) == 0
    euros = await buy(gql, tills.web, alice, 20_00, code=code)
    assert euros["errors"] == []
    assert euros["applied"][0]["discount"] == {"amountMinor": 500, "currency": "EUR"}
    assert euros["transaction"]["points"] == 15


async def test_me_coupons_shows_where_each_coupon_is_valid(gql, alice):
    expires = datetime(2030, 1, 31, 23, 0, tzinfo=UTC)
    journey = await issue(alice, channels=["WEB", "STORE"], expires_at=expires)
    amount = await issue(alice, kind="AMOUNT_OFF", value=500, title="5 EUR off",
                         currency="EUR", channels=["PHONE"],
                         expires_at=expires + timedelta(days=1))
    anywhere = await issue(alice, kind="BONUS_POINTS", value=50, title="+50 points",
                           expires_at=expires + timedelta(days=2))
    found = (await gql(COUPONS, token=alice.token))["me"]["coupons"]
    assert found == [
        {"code": journey, "title": "10% off", "kind": "PERCENT_OFF", "value": 10,
         "currency": None, "channels": ["WEB", "STORE"], "expiresAt": "2030-01-31T23:00:00+00:00",
         "redeemedAt": None},
        {"code": amount, "title": "5 EUR off", "kind": "AMOUNT_OFF", "value": 500,
         "currency": "EUR", "channels": ["PHONE"], "expiresAt": "2030-02-01T23:00:00+00:00",
         "redeemedAt": None},
        {"code": anywhere, "title": "+50 points", "kind": "BONUS_POINTS", "value": 50,
         "currency": None, "channels": None, "expiresAt": "2030-02-02T23:00:00+00:00",
         "redeemedAt": None},
    ]


async def test_a_coupon_is_reminded_once_at_its_remind_at_not_by_the_programme_window(
        gql, alice):
    # given (a clock at NOW) a journey coupon reminded 3 days before it ends
    # at 23:30 UTC on 31 March, 1 April in Paris (summer time); a coupon with
    # a later reminder though it ends within the programme's 14 days; and
    # one without its own time, ending in 20 days
    now = datetime(2027, 3, 20, 9, 0, tzinfo=UTC)
    ends = datetime(2027, 3, 31, 23, 30, tzinfo=UTC)
    remind = ends - timedelta(days=3)
    await issue(alice, channels=["WEB", "STORE"], expires_at=ends, remind_at=remind)
    await issue(alice, title="Later", expires_at=now + timedelta(days=12),
                remind_at=now + timedelta(days=11))
    await issue(alice, title="Default", expires_at=now + timedelta(days=20))
    # when the job runs: now, when the programme's window reaches the third,
    # just before the first's reminder, at it, and a day later
    assert await write_reminders(now) == 0
    assert await write_reminders(now + timedelta(days=6, hours=1)) == 1  # Default
    assert await write_reminders(remind - timedelta(minutes=1)) == 0
    assert await write_reminders(remind) == 1
    assert await write_reminders(remind + timedelta(days=1)) == 0
    # then its message names the coupon and its last day, in French, in Paris
    await run_once(100, now=remind + timedelta(days=1))
    messages = await inbox(gql, alice)
    assert ("Votre bon expire bientôt",
            "Alice, 10% off expire le 1 avril : utilisez-le d'ici là") in messages
    assert len(messages) == 2
    # and the one with a later time of its own is reminded then, once
    assert await write_reminders(now + timedelta(days=11)) == 1
    assert await write_reminders(now + timedelta(days=11, hours=1)) == 0
