"""Earn rules through HTTP GraphQL: admin management and audit, the simulator,
the survey bonus and the birth date a birthday bonus needs."""

from __future__ import annotations

import asyncio
from datetime import date

from loyalty.ledger.balances import verify_ledger
from tests.api.test_pos import BALANCE, buy
from tests.conftest import PASSWORD, SIGN_UP, GraphQLClient, Shop

RULE_FIELDS = """rule { id name label kind rate points cap priority active version
  conditions { skus categories storeIds channels tiers daysOfWeek startsOn endsOn
               minBasketMinor } }
errors { code field message }"""
CREATE = f"""
mutation($input: CreateEarnRuleInput!) {{ createEarnRule(input: $input) {{ {RULE_FIELDS} }} }}"""
UPDATE = f"""
mutation($input: UpdateEarnRuleInput!) {{ updateEarnRule(input: $input) {{ {RULE_FIELDS} }} }}"""
DEACTIVATE = f"""
mutation($input: DeactivateEarnRuleInput!) {{
  deactivateEarnRule(input: $input) {{ {RULE_FIELDS} }}
}}"""
RULES = """
query($all: Boolean) { earnRules(includeInactive: $all) { id label active version } }"""
CHANGES = """
query($id: ID!) { earnRuleChanges(ruleId: $id) { id who action before after at } }"""
SIMULATE = """
query($input: SimulatePurchaseInput!) {
  simulatePurchase(input: $input) { points description lines { ruleId label points } }
}"""
SURVEY = """
mutation($input: SubmitSurveyInput!) {
  submitSurvey(input: $input) { pointsAwarded errors { code field message } }
}"""
PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { errors { code field } } }"""
HISTORY = "query { me { history(first: 5) { edges { node { kind points description } } } } }"


async def create(gql: GraphQLClient, shop: Shop, **fields: object) -> dict:
    data = await gql(CREATE, {"input": fields}, token=shop.admin_token)
    assert data["createEarnRule"]["errors"] == [], data
    return data["createEarnRule"]["rule"]


async def test_admin_creates_changes_and_deactivates_a_rule_with_an_audit_trail(gql, shop):
    # given a new multiplier on coffee, on weekdays in the first store
    rule = await create(gql, shop, name="Coffee", label="x2 on coffee", kind="MULTIPLIER",
                        rate="2.0", conditions={"categories": ["coffee"],
                                                "storeIds": [shop.store_id],
                                                "channels": ["STORE", "APP"],
                                                "daysOfWeek": [1, 2, 3, 4, 5],
                                                "startsOn": "2025-01-01"})
    assert (rule["kind"], rule["rate"], rule["version"], rule["active"]) == (
        "MULTIPLIER", "2", 1, True)
    assert rule["conditions"] == {"skus": [], "categories": ["coffee"],
                                  "storeIds": [shop.store_id], "channels": ["APP", "STORE"],
                                  "tiers": [], "daysOfWeek": [1, 2, 3, 4, 5],
                                  "startsOn": "2025-01-01", "endsOn": None,
                                  "minBasketMinor": None}
    # when the admin changes it, then deactivates it
    updated = (await gql(UPDATE, {"input": {"id": rule["id"], "rate": "3", "cap": 200,
                                            "conditions": None}},
                         token=shop.admin_token))["updateEarnRule"]
    gone = (await gql(DEACTIVATE, {"input": {"id": rule["id"]}},
                      token=shop.admin_token))["deactivateEarnRule"]
    # then each step shows, and the trail says who did what
    assert updated["errors"] == [] and updated["rule"]["rate"] == "3"
    assert updated["rule"]["label"] == "x2 on coffee"
    assert updated["rule"]["conditions"]["categories"] == []
    assert (gone["rule"]["active"], gone["rule"]["version"]) == (False, 3)
    assert (await gql(RULES, token=shop.admin_token))["earnRules"] == []
    listed = (await gql(RULES, {"all": True}, token=shop.admin_token))["earnRules"]
    assert [r["id"] for r in listed] == [rule["id"]]
    changes = (await gql(CHANGES, {"id": rule["id"]}, token=shop.admin_token))["earnRuleChanges"]
    assert [(c["who"], c["action"]) for c in changes] == [
        ("admin@shop.test", "create"), ("admin@shop.test", "update"),
        ("admin@shop.test", "deactivate")]
    assert changes[0]["before"] is None and changes[0]["after"]["rate"] == "2"
    assert changes[1]["after"]["rate"] == "3" and changes[1]["after"]["cap"] == 200


async def test_cashiers_and_customers_may_not_touch_the_rules(gql, shop, alice):
    for token in (shop.cashier_token, alice.token, None):
        create_body = await gql.raw(CREATE, {"input": {"name": "x", "label": "x",
                                                       "kind": "BONUS", "points": 1}},
                                    token=token)
        assert create_body["data"] is None and create_body["errors"]
        for query, variables in ((RULES, {}), (CHANGES, {"id": "1"}),
                                 (SIMULATE, {"input": {"storeId": shop.store_id, "total": {
                                     "amountMinor": 100, "currency": "EUR"}}})):
            body = await gql.raw(query, variables, token=token)
            assert body["data"] is None and body["errors"], body
    assert (await gql(RULES, {"all": True}, token=shop.admin_token))["earnRules"] == []
    body = await gql.raw(SURVEY, {"input": {"storeId": shop.store_id, "receiptId": "r",
                                            "rating": 5}}, token=shop.admin_token)
    assert body["data"] is None and body["errors"]


async def test_bad_rules_are_refused_with_a_code_and_field(gql, shop):
    cases = [
        ({"kind": "MULTIPLIER"}, "rate"),
        ({"kind": "MULTIPLIER", "rate": "abc"}, "rate"),
        # a multiplier adds (rate - 1) x base: at 1 or below it would never fire
        ({"kind": "MULTIPLIER", "rate": "1"}, "rate"),
        ({"kind": "MULTIPLIER", "rate": "0.5"}, "rate"),
        ({"kind": "BONUS", "points": -5}, "points"),
        ({"kind": "BONUS", "points": 5, "label": "x" * 121}, "label"),
        ({"kind": "BONUS", "points": 5, "conditions": {"daysOfWeek": [9]}},
         "conditions.daysOfWeek"),
        ({"kind": "BONUS", "points": 5, "conditions": {"storeIds": ["abc"]}},
         "conditions.storeIds"),
        ({"kind": "BONUS", "points": 5, "conditions": {"startsOn": "2025-02-01",
                                                       "endsOn": "2025-01-01"}},
         "conditions.endsOn"),
    ]
    for fields, field in cases:
        data = await gql(CREATE, {"input": {"name": "n", "label": "l", **fields}},
                         token=shop.admin_token)
        assert data["createEarnRule"]["rule"] is None
        assert [(e["code"], e["field"]) for e in data["createEarnRule"]["errors"]] == [
            ("INVALID_INPUT", field)], fields
    missing = await gql(UPDATE, {"input": {"id": "999", "label": "x"}}, token=shop.admin_token)
    rule = await create(gql, shop, name="B", label="+5", kind="BONUS", points=5)
    null_active = await gql(UPDATE, {"input": {"id": rule["id"], "active": None}},
                            token=shop.admin_token)
    assert [(e["code"], e["field"]) for e in null_active["updateEarnRule"]["errors"]] == [
        ("INVALID_INPUT", "active")]
    listed = await gql(RULES, {"all": False}, token=shop.admin_token)
    assert [r["active"] for r in listed["earnRules"] if r["id"] == rule["id"]] == [True]
    assert missing["updateEarnRule"]["errors"][0]["code"] == "NOT_FOUND"
    bad_id = await gql(DEACTIVATE, {"input": {"id": "nope"}}, token=shop.admin_token)
    assert bad_id["deactivateEarnRule"]["errors"][0]["field"] == "id"


async def test_simulate_purchase_runs_the_rules_and_posts_nothing(gql, shop, alice):
    # given a channel base rate, coffee x2 and a first-purchase bonus
    await create(gql, shop, name="App", label="points in the app", kind="BASE_RATE", rate="2",
                 conditions={"channels": ["APP"]})
    coffee = await create(gql, shop, name="Coffee", label="x2 on coffee", kind="MULTIPLIER",
                          rate="2", conditions={"categories": ["coffee"]})
    welcome = await create(gql, shop, name="Welcome", label="+50 first purchase",
                           kind="FIRST_PURCHASE", points=50)
    sale = {"storeId": shop.store_id, "total": {"amountMinor": 10_50, "currency": "EUR"},
            "lines": [{"sku": "CAF", "category": "coffee", "quantity": 2,
                       "unitPrice": {"amountMinor": 3_00, "currency": "EUR"}},
                      {"sku": "CAKE", "quantity": 1,
                       "unitPrice": {"amountMinor": 4_50, "currency": "EUR"}}]}
    # when an anonymous store purchase, then Alice's first one in the app, are simulated
    anonymous = (await gql(SIMULATE, {"input": sale}, token=shop.admin_token))
    hers = await gql(SIMULATE, {"input": {**sale, "channel": "APP",
                                          "cardNumber": alice.card_number}},
                     token=shop.admin_token)
    # then the lines say why, and nothing was posted
    assert anonymous["simulatePurchase"] == {
        "points": 16,
        "description": "Purchase at Opéra: 10 base points; x2 on coffee +6",
        "lines": [{"ruleId": None, "label": "base points", "points": 10},
                  {"ruleId": coffee["id"], "label": "x2 on coffee", "points": 6}]}
    assert hers["simulatePurchase"]["points"] == 21 + 12 + 50
    assert [line["ruleId"] for line in hers["simulatePurchase"]["lines"]][1:] == [
        coffee["id"], welcome["id"]]
    assert hers["simulatePurchase"]["description"] == (
        "Purchase at Opéra: 21 points in the app; x2 on coffee +12; +50 first purchase")
    assert (await gql(BALANCE, token=alice.token))["me"]["points"]["available"] == 0
    # and bad input is a coded error
    body = await gql.raw(SIMULATE, {"input": {**sale, "storeId": "999999"}},
                         token=shop.admin_token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql.raw(SIMULATE, {"input": {**sale, "cardNumber": "123"}},
                         token=shop.admin_token)
    assert body["errors"][0]["extensions"]["code"] in ("CARD_NOT_FOUND", "INVALID_INPUT")


async def test_a_survey_earns_its_bonus_once(gql, shop, alice, bob):
    # given a survey rule and a purchase of Alice's
    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    posted = await buy(gql, shop, alice, 10_00, receipt="R-1")
    assert posted["errors"] == []
    before = (await gql(BALANCE, token=alice.token))["me"]["points"]["available"]
    answer = {"input": {"storeId": shop.store_id, "receiptId": "R-1", "rating": 5,
                        "comment": "Lovely croissants"}}
    # when Bob answers about her receipt, then she answers twice at the same instant
    bobs = (await gql(SURVEY, answer, token=bob.token))["submitSurvey"]
    both = await asyncio.gather(gql(SURVEY, answer, token=alice.token),
                                gql(SURVEY, answer, token=alice.token))
    again = (await gql(SURVEY, answer, token=alice.token))["submitSurvey"]
    changed = {"input": {**answer["input"], "rating": 2}}
    other = (await gql(SURVEY, changed, token=alice.token))["submitSurvey"]
    # then Bob finds nothing; her answer earns 20 points once, and its retries
    # (the same answer) get that result back; a different answer is refused
    assert [e["code"] for e in bobs["errors"]] == ["NOT_FOUND"]
    results = [(r["submitSurvey"]["pointsAwarded"], r["submitSurvey"]["errors"]) for r in both]
    assert results == [(20, []), (20, [])]
    assert again == {"pointsAwarded": 20, "errors": []}
    assert [e["code"] for e in other["errors"]] == ["SURVEY_ALREADY_ANSWERED"]
    assert (await gql(BALANCE, token=alice.token))["me"]["points"]["available"] == before + 20
    history = (await gql(HISTORY, token=alice.token))["me"]["history"]["edges"]
    assert history[0]["node"] == {"kind": "BONUS", "points": 20,
                                  "description": "+20 for your feedback"}
    assert (await verify_ledger()).problems == []


async def test_a_survey_without_a_survey_rule_is_stored_without_points(gql, shop, alice):
    await buy(gql, shop, alice, 10_00, receipt="R-2")
    answer = {"input": {"storeId": shop.store_id, "receiptId": "R-2", "rating": 3}}
    first = (await gql(SURVEY, answer, token=alice.token))["submitSurvey"]
    assert first == {"pointsAwarded": 0, "errors": []}
    again = (await gql(SURVEY, {"input": {**answer["input"], "rating": 4}},
                       token=alice.token))["submitSurvey"]
    assert [e["code"] for e in again["errors"]] == ["SURVEY_ALREADY_ANSWERED"]
    for bad, field in (({"rating": 6}, "rating"), ({"comment": "x" * 2001}, "comment"),
                       ({"receiptId": ""}, "receiptId"), ({"storeId": "x"}, "storeId")):
        data = await gql(SURVEY, {"input": {**answer["input"], **bad}}, token=alice.token)
        assert [(e["code"], e["field"]) for e in data["submitSurvey"]["errors"]] == [
            ("INVALID_INPUT", field)]


async def test_birth_date_at_sign_up_and_in_the_profile(gql, shop):
    auth = (await gql(SIGN_UP, {"input": {"email": "carol@example.test", "password": PASSWORD,
                                          "firstName": "Carol", "birthDate": "1990-02-28"}}))
    assert auth["signUp"]["errors"] == []
    bad = await gql(SIGN_UP, {"input": {"email": "dan@example.test", "password": PASSWORD,
                                        "firstName": "Dan", "birthDate": "2999-01-01"}})
    assert [e["field"] for e in bad["signUp"]["errors"]] == ["birthDate"]
    token = auth["signUp"]["accessToken"]
    changed = await gql(PROFILE, {"input": {"firstName": "Caroline"}}, token=token)
    assert changed["updateProfile"]["errors"] == []
    assert (await gql("query { me { firstName } }", token=token))["me"]["firstName"] == "Caroline"
    # set once: moving it (to today, for the bonus) is refused and changes nothing
    moved = await gql(PROFILE, {"input": {"firstName": "Caro",
                                          "birthDate": date.today().isoformat()}}, token=token)
    assert moved["updateProfile"]["errors"] == [{"code": "INVALID_INPUT", "field": "birthDate"}]
    assert (await gql("query { me { firstName } }", token=token))["me"]["firstName"] == "Caroline"
    same = await gql(PROFILE, {"input": {"birthDate": "1990-02-28"}}, token=token)
    assert same["updateProfile"]["errors"] == []
    refused = await gql(PROFILE, {"input": {"firstName": " "}}, token=token)
    assert refused["updateProfile"]["errors"] == [{"code": "INVALID_INPUT", "field": "firstName"}]
    body = await gql.raw(PROFILE, {"input": {"firstName": "X"}}, token=shop.cashier_token)
    assert body["data"] is None and body["errors"]

