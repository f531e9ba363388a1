"""Surveys and coupons in the customer's event stream (journeys wait for
them), survey links answered without signing in, and the survey bonus taken
back by a full refund, through HTTP GraphQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from audience import worker
from loyalty.ledger.balances import verify_ledger
from loyalty.platform.config import set_settings
from loyalty.points import survey_links, surveys
from tests.api import test_coupon_channels
from tests.api.test_coupon_channels import buy, issue
from tests.api.test_earn_rules_api import SURVEY, create
from tests.api.test_pos import REFUND, available
from tests.conftest import DATABASE_URL, settings_for

tills = test_coupon_channels.tills  # the fixture, used here too

EVENTS = """
query($id: ID!) {
  customer(id: $id) { events(first: 20) { edges { node { name channel properties } } } }
}"""
FROM_LINK = """
mutation($input: SubmitSurveyFromLinkInput!) {
  submitSurveyFromLink(input: $input) { pointsAwarded errors { code field message } }
}"""
HISTORY = "query { me { history(first: 10) { edges { node { kind points description } } } } }"


async def stream(gql, shop, customer) -> list[tuple[str, str, dict]]:
    """The 360 view's timeline, oldest first, after the audience worker's pass."""
    await worker.run_until_idle()
    edges = (await gql(EVENTS, {"id": str(customer.id)}, token=shop.admin_token)
             )["customer"]["events"]["edges"]
    found = [(e["node"]["name"], e["node"]["channel"], e["node"]["properties"] or {})
             for e in reversed(edges)]
    assert found[0][:2] == ("signed_up", "SYSTEM")  # the customer's first event
    return found[1:]


async def answer(gql, shop, customer, receipt: str, rating: int, store_id: str | None = None
                 ) -> dict:
    return (await gql(SURVEY, {"input": {"storeId": store_id or shop.store_id,
                                         "receiptId": receipt, "rating": rating}},
                      token=customer.token))["submitSurvey"]


async def test_coupon_redeemed_and_survey_submitted_reach_the_stream(gql, shop, alice, tills):
    # given a journey coupon spent on the web shop, and a survey answered
    # without any survey bonus running
    code = await issue(alice, channels=["WEB", "STORE"])
    bought = await buy(gql, tills.web, alice, 30_00, code=code, receipt="W-1001",
                       channel="WEB")
    assert bought["errors"] == []
    assert await answer(gql, shop, alice, "W-1001", 5, tills.web.store_id) == {
        "pointsAwarded": 0, "errors": []}
    # then the stream has the purchase, the coupon and the answer
    events = await stream(gql, shop, alice)
    assert [(name, channel) for name, channel, _ in events] == [
        ("purchase", "WEB"), ("coupon_redeemed", "WEB"), ("survey_submitted", "APP")]
    assert events[1][2] == {"code": code, "receiptId": "W-1001", "channel": "WEB",
                            "storeId": tills.web.store_id}
    assert events[2][2] == {"receiptId": "W-1001", "rating": 5,
                            "storeId": tills.web.store_id, "points": 0}


async def test_a_survey_with_a_bonus_is_one_survey_submitted_event(gql, shop, alice):
    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    from tests.api.test_pos import buy as pos_buy

    await pos_buy(gql, shop, alice, 10_00, receipt="R-1")
    assert await answer(gql, shop, alice, "R-1", 4) == {"pointsAwarded": 20, "errors": []}
    # a retry of the same answer replays it and writes nothing
    assert await answer(gql, shop, alice, "R-1", 4) == {"pointsAwarded": 20, "errors": []}
    events = await stream(gql, shop, alice)
    assert [name for name, _, _ in events] == ["purchase", "survey_submitted"]
    assert events[1][2] == {"receiptId": "R-1", "rating": 4, "storeId": shop.store_id,
                            "points": 20}


async def test_a_survey_link_is_answered_without_signing_in(gql, shop, alice, bob):
    from tests.api.test_pos import buy as pos_buy

    # without LOYALTY_SURVEY_URL there is no link
    assert surveys.survey_url(alice.id, int(shop.store_id), "R-9") is None
    set_settings(settings_for(DATABASE_URL, survey_url="https://shop.test/survey?t={token}"))
    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    await pos_buy(gql, shop, alice, 10_00, receipt="R-9")
    url = surveys.survey_url(alice.id, int(shop.store_id), "R-9")
    assert url is not None and url.startswith("https://shop.test/survey?t=")
    token = parse_qs(urlsplit(url).query)["t"][0]

    # a forged or altered token is refused; so is bob's link to alice's receipt
    body, mac = token.split(".")
    forged = survey_links.sign(alice.id, int(shop.store_id), "R-9",
                               datetime.now(UTC) + timedelta(days=1))
    for bad in (f"{body}.{mac[:-2]}AA", "x", forged.replace(".", "..")):
        refused = (await gql(FROM_LINK, {"input": {"token": bad, "rating": 5}})
                   )["submitSurveyFromLink"]
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("INVALID_INPUT", "token")]
    bobs = surveys.survey_url(bob.id, int(shop.store_id), "R-9")
    assert bobs is not None
    refused = (await gql(FROM_LINK, {"input": {"token": bobs.split("t=")[1], "rating": 5}})
               )["submitSurveyFromLink"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    expired = survey_links.sign(alice.id, int(shop.store_id), "R-9",
                                datetime.now(UTC) - timedelta(seconds=1))
    refused = (await gql(FROM_LINK, {"input": {"token": expired, "rating": 5}})
               )["submitSurveyFromLink"]
    assert [e["code"] for e in refused["errors"]] == ["SURVEY_NOT_ELIGIBLE"]
    assert await available(gql, alice) == 10

    # the link's answer, with no access token, credits alice once
    answered = (await gql(FROM_LINK, {"input": {"token": token, "rating": 5,
                                                "comment": "Parfait"}}))["submitSurveyFromLink"]
    assert answered == {"pointsAwarded": 20, "errors": []}
    again = (await gql(FROM_LINK, {"input": {"token": token, "rating": 2}})
             )["submitSurveyFromLink"]
    assert [e["code"] for e in again["errors"]] == ["SURVEY_ALREADY_ANSWERED"]
    assert await available(gql, alice) == 30
    assert [n for n, _, _ in await stream(gql, shop, alice)] == ["purchase", "survey_submitted"]


async def refund(gql, shop, receipt: str, key: str, amount: int | None = None) -> dict:
    payload: dict = {"idempotencyKey": key, "storeId": shop.store_id, "receiptId": receipt}
    if amount is not None:
        payload["amount"] = {"amountMinor": amount, "currency": "EUR"}
    result = (await gql(REFUND, {"input": payload}, token=shop.cashier_token))["refundPurchase"]
    assert result["errors"] == []
    return result


async def test_a_full_refund_after_the_survey_takes_its_bonus_back(gql, shop, alice):
    from tests.api.test_pos import buy as pos_buy

    # given a purchase of 10.00 (10 points) whose survey earned +20
    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    await pos_buy(gql, shop, alice, 10_00, receipt="R-7")
    await pos_buy(gql, shop, alice, 5_00, receipt="R-8")
    assert (await answer(gql, shop, alice, "R-7", 5))["pointsAwarded"] == 20
    assert await available(gql, alice) == 35
    # when part of it comes back, the bonus stays (something was kept)
    await refund(gql, shop, "R-7", "ref-1", 4_00)
    assert await available(gql, alice) == 31
    # when the rest comes back (and the till retries), the bonus goes too, once
    await refund(gql, shop, "R-7", "ref-2")
    await refund(gql, shop, "R-7", "ref-2")
    assert await available(gql, alice) == 5
    history = [e["node"] for e in (await gql(HISTORY, token=alice.token)
                                   )["me"]["history"]["edges"]]
    assert [(h["kind"], h["points"]) for h in history[:3]] == [
        ("REFUND", -20), ("REFUND", -6), ("REFUND", -4)]
    assert history[0]["description"] == "Survey bonus taken back: refund at Opéra"
    # a refunded purchase cannot be answered for a bonus any more
    refused = await answer(gql, shop, alice, "R-7", 1)
    assert [e["code"] for e in refused["errors"]] == ["SURVEY_NOT_ELIGIBLE"]
    assert (await verify_ledger()).problems == []
    # the stream shows the two refunds, not the bonus taken back as a third
    names = [n for n, _, _ in await stream(gql, shop, alice)]
    assert names.count("refund") == 2


async def test_the_bonus_taken_back_after_it_was_spent_leaves_a_debt(gql, shop, alice):
    from tests.api.test_pos import REDEEM
    from tests.api.test_pos import buy as pos_buy

    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    await pos_buy(gql, shop, alice, 10_00, receipt="R-5")
    await answer(gql, shop, alice, "R-5", 5)
    spent = (await gql(REDEEM, {"input": {"idempotencyKey": "spend-all",
                                          "card": {"qrPayload": alice.qr()},
                                          "storeId": shop.store_id, "points": 30}},
                       token=shop.cashier_token))["redeemPoints"]
    assert spent["errors"] == []
    await refund(gql, shop, "R-5", "ref-5")
    # 10 points of the purchase and 20 of the bonus, all spent: a debt of 30
    assert await available(gql, alice) == -30
    assert (await verify_ledger()).problems == []


async def test_an_answer_and_a_full_refund_at_once_never_leave_a_bonus_on_nothing(
        gql, shop, alice):
    import asyncio

    from tests.api.test_pos import buy as pos_buy

    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    for i in range(6):
        await pos_buy(gql, shop, alice, 10_00, receipt=f"RACE-{i}")
    # each receipt is answered and refunded in full at the same instant
    await asyncio.gather(*(
        call for i in range(6) for call in (
            gql(SURVEY, {"input": {"storeId": shop.store_id, "receiptId": f"RACE-{i}",
                                   "rating": 5}}, token=alice.token),
            refund(gql, shop, f"RACE-{i}", f"race-{i}"))))
    # whichever came first, every purchase was refunded and no bonus is kept
    assert await available(gql, alice) == 0
    assert (await verify_ledger()).problems == []
