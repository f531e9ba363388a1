"""Journeys through GraphQL (admin): templates, create, validate with every
fault's path, versions frozen on publish, pause and resume, archive, stats and
the experiment report."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta

from journeys.models import JourneyRun
from tests.api.test_pos import buy
from tests.conftest import GraphQLClient, Shop

FIELDS = "id name status version liveVersion definition templateKey"
CREATE = f"""
mutation($input: CreateJourneyInput!) {{
  createJourney(input: $input) {{ journey {{ {FIELDS} }} errors {{ code field message }} }}
}}"""
UPDATE = f"""
mutation($input: UpdateJourneyInput!) {{
  updateJourney(input: $input) {{ journey {{ {FIELDS} }} errors {{ code field message }} }}
}}"""
PUBLISH = f"""
mutation($id: ID!) {{
  publishJourney(input: {{journeyId: $id}}) {{ journey {{ {FIELDS} }} errors {{ code field }} }}
}}"""
PAUSE = f"""
mutation($id: ID!) {{
  pauseJourney(input: {{journeyId: $id}}) {{ journey {{ {FIELDS} }} errors {{ code field }} }}
}}"""
ARCHIVE = f"""
mutation($id: ID!) {{
  archiveJourney(input: {{journeyId: $id}}) {{ journey {{ {FIELDS} }} errors {{ code field }} }}
}}"""
TEMPLATES = "query { journeyTemplates { key name description definition } }"
ONE = """
query($id: ID!) {
  journey(id: $id) {
    id name status version
    stats { entered active completed converted exited failed byStep }
    experiment { arms { name customers conversions conversionRate revenueMinor
                        upliftVsHoldout pValue } }
  }
}"""
LIST = "query { journeys { id name status stats { entered } } }"

SIMPLE = {
    "trigger": {"event": "purchase", "where": {"channel": "WEB"}},
    "start": "hello",
    "steps": {
        "hello": {"type": "message", "channel": "PUSH",
                  "content": {"en": {"title": "Thanks", "body": "Hi {{ customer.first_name }}"}},
                  "next": "end"},
        "end": {"type": "exit"},
    },
}


async def _create(gql: GraphQLClient, shop: Shop, definition: dict, name: str = "Thanks",
                  **extra: object) -> dict:
    out = (await gql(CREATE, {"input": {"name": name, "definition": definition, **extra}},
                     token=shop.admin_token))["createJourney"]
    assert out["errors"] == [], out["errors"]
    return out["journey"]


async def test_every_shipped_template_saves_and_publishes(gql: GraphQLClient, shop: Shop):
    templates = (await gql(TEMPLATES, token=shop.admin_token))["journeyTemplates"]
    assert [t["key"] for t in templates] == ["durant_post_purchase", "cart_abandonment",
                                             "second_product_view", "welcome_series",
                                             "win_back_at_risk"]
    for t in templates:
        journey = await _create(gql, shop, t["definition"], t["name"], templateKey=t["key"])
        assert (journey["status"], journey["version"], journey["liveVersion"]) == \
            ("DRAFT", 1, None)
        assert journey["templateKey"] == t["key"]
        live = (await gql(PUBLISH, {"id": journey["id"]},
                          token=shop.admin_token))["publishJourney"]
        assert live["errors"] == [] and live["journey"]["status"] == "LIVE"
    listed = (await gql(LIST, token=shop.admin_token))["journeys"]
    assert len(listed) == len(templates) and all(j["stats"]["entered"] == 0 for j in listed)


async def test_an_unknown_template_key_is_refused(gql: GraphQLClient, shop: Shop):
    out = (await gql(CREATE, {"input": {"name": "x", "definition": SIMPLE,
                                        "templateKey": "nope"}},
                     token=shop.admin_token))["createJourney"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("INVALID_INPUT", "templateKey")]


async def test_every_fault_of_a_definition_comes_back_with_its_path(
        gql: GraphQLClient, shop: Shop):
    bad = copy.deepcopy(SIMPLE)
    bad["steps"]["hello"]["next"] = "nowhere"
    bad["steps"]["wait"] = {"type": "wait", "duration": "two weeks", "next": "end"}
    bad["audience"] = {"purchases": {"gte": 2, "within": "90 days"}}
    out = (await gql(CREATE, {"input": {"name": "Bad", "definition": bad}},
                     token=shop.admin_token))["createJourney"]
    assert out["journey"] is None
    found = {(e["code"], e["field"]) for e in out["errors"]}
    assert ("INVALID_DEFINITION", "definition.steps.hello.next") in found
    assert ("INVALID_DEFINITION", "definition.steps.wait.duration") in found
    assert ("INVALID_DEFINITION", "definition.audience.purchases.within") in found
    assert (await gql(LIST, token=shop.admin_token))["journeys"] == []


async def test_a_journey_naming_a_missing_segment_is_refused(gql: GraphQLClient, shop: Shop):
    definition = {**SIMPLE, "trigger": {"segmentEntered": "4242"}}
    out = (await gql(CREATE, {"input": {"name": "Seg", "definition": definition}},
                     token=shop.admin_token))["createJourney"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [
        ("INVALID_DEFINITION", "definition.trigger.segmentEntered")]
    branch = copy.deepcopy(SIMPLE)
    branch["start"] = "pick"
    branch["steps"]["pick"] = {"type": "branch", "if": {"segment": 4243}, "then": "hello",
                               "else": "end"}
    out = (await gql(CREATE, {"input": {"name": "Branch", "definition": branch}},
                     token=shop.admin_token))["createJourney"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [
        ("INVALID_DEFINITION", "definition.steps.pick.if")]


async def test_publishing_freezes_a_version_and_editing_a_live_journey_makes_a_new_one(
        gql: GraphQLClient, shop: Shop):
    journey = await _create(gql, shop, SIMPLE)
    jid = journey["id"]
    # A draft changes in place.
    edited = copy.deepcopy(SIMPLE)
    edited["steps"]["hello"]["content"]["en"]["body"] = "Hello {{ customer.first_name }}"
    out = (await gql(UPDATE, {"input": {"journeyId": jid, "definition": edited}},
                     token=shop.admin_token))["updateJourney"]
    assert (out["journey"]["version"], out["journey"]["liveVersion"]) == (1, None)
    live = (await gql(PUBLISH, {"id": jid}, token=shop.admin_token))["publishJourney"]["journey"]
    assert (live["status"], live["version"], live["liveVersion"]) == ("LIVE", 1, 1)
    # Now version 1 is frozen: an edit is version 2, a draft; runs still start on 1.
    second = copy.deepcopy(edited)
    second["steps"]["hello"]["content"]["en"]["title"] = "Merci"
    out = (await gql(UPDATE, {"input": {"journeyId": jid, "definition": second}},
                     token=shop.admin_token))["updateJourney"]["journey"]
    assert (out["status"], out["version"], out["liveVersion"]) == ("LIVE", 2, 1)
    assert out["definition"]["steps"]["hello"]["content"]["en"]["title"] == "Merci"
    renamed = (await gql(UPDATE, {"input": {"journeyId": jid, "name": "Thank you"}},
                         token=shop.admin_token))["updateJourney"]["journey"]
    assert (renamed["name"], renamed["version"]) == ("Thank you", 2)
    live = (await gql(PUBLISH, {"id": jid}, token=shop.admin_token))["publishJourney"]["journey"]
    assert (live["version"], live["liveVersion"]) == (2, 2)
    # Publishing what is live already changes nothing.
    again = (await gql(PUBLISH, {"id": jid}, token=shop.admin_token))["publishJourney"]["journey"]
    assert (again["version"], again["liveVersion"]) == (2, 2)
    from journeys.models import JourneyVersion
    versions = await JourneyVersion.filter(journey_id=int(jid)).order_by("version")
    assert [(v.version, v.published_at is not None) for v in versions] == [(1, True), (2, True)]
    assert versions[0].definition["steps"]["hello"]["content"]["en"] == {
        "title": "Thanks", "body": "Hello {{ customer.first_name }}"}


async def test_pause_resume_and_archive(gql: GraphQLClient, shop: Shop):
    jid = (await _create(gql, shop, SIMPLE))["id"]
    draft_pause = (await gql(PAUSE, {"id": jid}, token=shop.admin_token))["pauseJourney"]
    assert [e["code"] for e in draft_pause["errors"]] == ["INVALID_INPUT"]
    await gql(PUBLISH, {"id": jid}, token=shop.admin_token)
    paused = (await gql(PAUSE, {"id": jid}, token=shop.admin_token))["pauseJourney"]["journey"]
    assert paused["status"] == "PAUSED"
    resumed = (await gql(PUBLISH, {"id": jid},
                         token=shop.admin_token))["publishJourney"]["journey"]
    assert (resumed["status"], resumed["version"]) == ("LIVE", 1)
    archived = (await gql(ARCHIVE, {"id": jid},
                          token=shop.admin_token))["archiveJourney"]["journey"]
    assert archived["status"] == "ARCHIVED"
    for query, variables in ((UPDATE, {"input": {"journeyId": jid, "name": "again"}}),
                             (PUBLISH, {"id": jid})):
        out = next(iter((await gql(query, variables, token=shop.admin_token)).values()))
        assert [e["code"] for e in out["errors"]] == ["JOURNEY_NOT_EDITABLE"]
    missing = (await gql(PUBLISH, {"id": "99999"}, token=shop.admin_token))["publishJourney"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    assert (await gql(ONE, {"id": "99999"}, token=shop.admin_token))["journey"] is None


async def test_two_editors_saving_a_live_journey_at_once_write_two_versions(
        gql: GraphQLClient, shop: Shop):
    jid = (await _create(gql, shop, SIMPLE))["id"]
    await gql(PUBLISH, {"id": jid}, token=shop.admin_token)
    edits = []
    for title in ("A", "B"):
        d = copy.deepcopy(SIMPLE)
        d["steps"]["hello"]["content"]["en"]["title"] = title
        edits.append(gql(UPDATE, {"input": {"journeyId": jid, "definition": d}},
                         token=shop.admin_token))
    results = await asyncio.gather(*edits)
    assert all(r["updateJourney"]["errors"] == [] for r in results)
    # The first makes draft version 2; the second, after the first's lock,
    # edits that draft: never a duplicate version, never an error.
    assert [r["updateJourney"]["journey"]["version"] for r in results] == [2, 2]
    from journeys.models import JourneyVersion
    versions = await JourneyVersion.filter(journey_id=int(jid)).order_by("version")
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].definition["steps"]["hello"]["content"]["en"]["title"] in ("A", "B")


async def test_only_admins_reach_journeys(gql: GraphQLClient, shop: Shop, alice):
    for token in (shop.cashier_token, alice.token, None):
        body = await gql.raw(LIST, token=token)
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
        body = await gql.raw(CREATE, {"input": {"name": "x", "definition": SIMPLE}},
                             token=token)
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")


async def test_stats_and_the_experiment_report(gql: GraphQLClient, shop: Shop, alice, bob):
    split = copy.deepcopy(SIMPLE)
    split["holdoutPercent"] = 10
    split["goal"] = {"event": "coupon_redeemed"}
    split["start"] = "ab"
    split["steps"]["ab"] = {"type": "split", "arms": [
        {"name": "A", "percent": 50, "next": "hello"}, {"name": "B", "percent": 50,
                                                       "next": "hello"}]}
    jid = int((await _create(gql, shop, split))["id"])
    plain = int((await _create(gql, shop, SIMPLE, "Plain"))["id"])
    now = datetime.now(UTC)
    carol = await _customer(gql, "Carol")
    runs = [  # (customer, arm, status, step)
        (alice.id, "A", "converted", "end"), (bob.id, "A", "waiting", "hello"),
        (carol, "holdout", "completed", "end"),
    ]
    for n, (customer, arm, status, step) in enumerate(runs):
        await JourneyRun.create(journey_id=jid, version=1, customer_id=customer, entry=1,
                                step=step, status=status, seq=n, arm=arm, trigger={},
                                entered_at=now - timedelta(minutes=5))
    await buy(gql, shop, alice, 4000)
    await buy(gql, shop, bob, 1500)
    one = (await gql(ONE, {"id": str(jid)}, token=shop.admin_token))["journey"]
    assert {k: v for k, v in one["stats"].items()} == {
        "entered": 3, "active": 1, "completed": 1, "converted": 1, "exited": 0, "failed": 0,
        "byStep": {"hello": 1}}
    arms = one["experiment"]["arms"]
    assert [(a["name"], a["customers"], a["conversions"], a["revenueMinor"]) for a in arms] == [
        ("A", 2, 1, 5500), ("holdout", 1, 0, 0)]
    assert arms[0]["conversionRate"] == 0.5
    # The holdout converted nobody: uplift undefined, the p-value still defined.
    assert arms[0]["upliftVsHoldout"] is None and 0 < arms[0]["pValue"] <= 1
    assert arms[1]["upliftVsHoldout"] is None and arms[1]["pValue"] is None
    other = (await gql(ONE, {"id": str(plain)}, token=shop.admin_token))["journey"]
    assert other["experiment"] is None and other["stats"]["entered"] == 0


async def _customer(gql: GraphQLClient, name: str) -> int:
    from tests.conftest import sign_up
    return (await sign_up(gql, name)).id


PREVIEW = """
query($j: ID!, $s: String!, $c: ID!, $t: JSON) {
  journeyPreview(journeyId: $j, stepId: $s, customerId: $c, trigger: $t) {
    channel channels language title body problem errors { code field }
  }
}"""


async def test_a_step_previews_with_the_customers_own_values(gql: GraphQLClient, shop: Shop,
                                                              alice):
    templates = (await gql(TEMPLATES, token=shop.admin_token))["journeyTemplates"]
    durant = next(t for t in templates if t["key"] == "durant_post_purchase")
    jid = (await _create(gql, shop, durant["definition"], durant["name"]))["id"]
    await buy(gql, shop, alice, 42_00)  # 42 points
    out = (await gql(PREVIEW, {"j": jid, "s": "thanks", "c": str(alice.id),
                               "t": {"receiptId": "W-9"}},
                     token=shop.admin_token))["journeyPreview"]
    # Alice signed up in French: the French text, her name, her points, the receipt.
    assert out["errors"] == [] and out["problem"] is None
    assert (out["channel"], out["channels"], out["language"]) == (
        "EMAIL", ["EMAIL", "PUSH", "INBOX"], "fr")
    assert out["title"] == "Merci pour votre commande"
    assert out["body"] == ("Bonjour Alice, merci pour votre commande W-9. Vous avez "
                           "maintenant 42 points.")
    coupon = (await gql(PREVIEW, {"j": jid, "s": "coupon_sent", "c": str(alice.id)},
                        token=shop.admin_token))["journeyPreview"]
    assert "SAMPLE2345" in coupon["body"]
    # The survey step prints survey_url, which needs LOYALTY_SURVEY_URL: it says why.
    survey = (await gql(PREVIEW, {"j": jid, "s": "survey", "c": str(alice.id),
                                  "t": {"receiptId": "W-9", "storeId": shop.store_id}},
                        token=shop.admin_token))["journeyPreview"]
    assert survey["body"] is None and "survey_url" in survey["problem"]
    for step, customer, field in (("later", str(alice.id), "stepId"),
                                  ("thanks", "99999", "customerId")):
        bad = (await gql(PREVIEW, {"j": jid, "s": step, "c": customer},
                         token=shop.admin_token))["journeyPreview"]
        assert [e["field"] for e in bad["errors"]] == [field]
    assert (await gql.raw(PREVIEW, {"j": jid, "s": "thanks", "c": str(alice.id)},
                          token=alice.token))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
