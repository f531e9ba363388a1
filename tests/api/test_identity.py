"""Sign-up, log-in, sessions and who may read what."""

from __future__ import annotations

import asyncio
import time

import jwt

from tests.conftest import PASSWORD, SIGN_UP, TEST_SECRET, GraphQLClient, sign_up

LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken expiresAt errors { code field message } }
}"""
REFRESH = """
mutation($input: RefreshSessionInput!) {
  refreshSession(input: $input) { accessToken refreshToken errors { code message } }
}"""
LOG_OUT = "mutation($input: RefreshSessionInput!) { logOut(input: $input) { errors { code } } }"
ME = "query { me { id firstName email card { number } } }"


def sign_up_vars(email: str, password: str = PASSWORD, first_name: str = "Zoé") -> dict:
    return {"input": {"email": email, "password": password, "firstName": first_name}}


async def test_sign_up_normalises_the_email_and_refuses_a_second_account(gql: GraphQLClient):
    first = (await gql(SIGN_UP, sign_up_vars("  Zoe@Example.TEST ")))["signUp"]
    assert first["errors"] == []
    me = (await gql(ME, token=first["accessToken"]))["me"]
    assert me["email"] == "zoe@example.test"
    assert len(me["card"]["number"]) == 12
    again = (await gql(SIGN_UP, sign_up_vars("zoe@example.test")))["signUp"]
    assert [e["code"] for e in again["errors"]] == ["EMAIL_TAKEN"]
    assert again["accessToken"] is None


async def test_sign_up_rejects_bad_input_with_the_field_at_fault(gql: GraphQLClient):
    cases = [
        (sign_up_vars("not-an-email"), "email"),
        (sign_up_vars("a@b.test", password="short"), "password"),
        (sign_up_vars("a@b.test", first_name="  "), "firstName"),
        ({"input": {**sign_up_vars("a@b.test")["input"], "timezone": "Mars/Olympus"}},
         "timezone"),
        ({"input": {**sign_up_vars("a@b.test")["input"], "locale": "x"}}, "locale"),
    ]
    for variables, field in cases:
        result = (await gql(SIGN_UP, variables))["signUp"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]
    # Nothing was written: the address is still free.
    ok = (await gql(SIGN_UP, sign_up_vars("a@b.test")))["signUp"]
    assert ok["errors"] == []


async def test_log_in_with_the_right_and_wrong_password(gql: GraphQLClient, alice):
    good = (await gql(LOG_IN, {"input": {"email": alice.email.upper(),
                                         "password": PASSWORD}}))["logIn"]
    assert good["errors"] == [] and good["accessToken"]
    for email, password in ((alice.email, "wrong password"), ("nobody@x.test", PASSWORD)):
        bad = (await gql(LOG_IN, {"input": {"email": email, "password": password}}))["logIn"]
        assert [e["code"] for e in bad["errors"]] == ["INVALID_CREDENTIALS"]
        assert bad["accessToken"] is None


async def test_refresh_rotates_and_reuse_revokes_the_family(gql: GraphQLClient, alice):
    rotated = (await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}}))
    new = rotated["refreshSession"]
    assert new["errors"] == [] and new["refreshToken"] != alice.refresh_token
    # The old token again: it leaked, so the whole family dies, the new one too.
    reuse = (await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}}))
    assert [e["code"] for e in reuse["refreshSession"]["errors"]] == ["INVALID_CREDENTIALS"]
    after = (await gql(REFRESH, {"input": {"refreshToken": new["refreshToken"]}}))
    assert [e["code"] for e in after["refreshSession"]["errors"]] == ["INVALID_CREDENTIALS"]


async def test_concurrent_use_of_one_refresh_token_rotates_once(gql: GraphQLClient, alice):
    results = await asyncio.gather(*[
        gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}}) for _ in range(5)
    ])
    ok = [r for r in results if not r["refreshSession"]["errors"]]
    assert len(ok) <= 1


async def test_log_out_revokes_the_refresh_token(gql: GraphQLClient, alice):
    assert (await gql(LOG_OUT, {"input": {"refreshToken": alice.refresh_token}}))[
        "logOut"]["errors"] == []
    result = (await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}}))
    assert [e["code"] for e in result["refreshSession"]["errors"]] == ["INVALID_CREDENTIALS"]


async def test_a_customer_only_ever_sees_their_own_data(gql: GraphQLClient, alice, bob):
    me_a = (await gql(ME, token=alice.token))["me"]
    me_b = (await gql(ME, token=bob.token))["me"]
    assert me_a["email"] == alice.email and me_b["email"] == bob.email
    assert me_a["card"]["number"] != me_b["card"]["number"]


async def test_a_customer_token_cannot_use_staff_operations(gql: GraphQLClient, shop, alice):
    body = await gql.raw(
        "query($c: CardInput!, $s: ID!) { cardLookup(card: $c, storeId: $s) "
        "{ customer { firstName } } }",
        {"c": {"cardNumber": alice.card_number}, "s": shop.store_id}, token=alice.token)
    assert body["data"] is None
    assert "staff access token" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_staff_token_is_not_a_customer_token(gql: GraphQLClient, shop):
    body = await gql.raw(ME, token=shop.cashier_token)
    assert body["errors"][0]["message"] == "A customer access token is required."
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] == {"me": None} or body["data"] is None


def _forge(claims: dict, key: str = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


async def test_forged_expired_and_alg_none_tokens_are_refused(gql: GraphQLClient, alice):
    now = int(time.time())
    good_claims = {"sub": str(alice.id), "typ": "customer", "aud": "loyalty-api",
                   "iss": "loyalty", "iat": now, "exp": now + 600}
    unsigned = jwt.encode(good_claims, None, algorithm="none")  # type: ignore[arg-type]
    tokens = {
        "forged": _forge(good_claims, key="another-secret-another-secret-another-secret"),
        "expired": _forge({**good_claims, "iat": now - 1200, "exp": now - 600}),
        "wrong audience": _forge({**good_claims, "aud": "someone-else"}),
        "alg none": unsigned,
        "garbage": "not.a.jwt",
    }
    for label, token in tokens.items():
        body = await gql.raw(ME, token=token)
        assert body.get("errors"), label
        assert body["data"] is None or body["data"]["me"] is None, label
        # The app refreshes an expired token and signs in again for any other.
        code = "TOKEN_EXPIRED" if label == "expired" else "UNAUTHENTICATED"
        assert body["errors"][0]["extensions"]["code"] == code, label
    # The genuine article still works.
    assert (await gql(ME, token=_forge(good_claims)))["me"]["email"] == alice.email


async def test_admin_mutations_need_an_admin(gql: GraphQLClient, shop, alice):
    create = ("mutation { createStore(input: {name: \"X\", latitude: 1, longitude: 2, "
              "timezone: \"UTC\"}) { store { id } errors { code } } }")
    for token, code in ((shop.cashier_token, "FORBIDDEN"), (alice.token, "FORBIDDEN"),
                        (None, "UNAUTHENTICATED")):
        body = await gql.raw(create, token=token)
        assert body["data"] is None
        assert body["errors"][0]["message"] == "An admin access token is required."
        assert body["errors"][0]["extensions"]["code"] == code


async def test_create_staff_validates_stores_and_roles(gql: GraphQLClient, shop):
    doc = ("mutation($i: CreateStaffInput!) { createStaff(input: $i) "
           "{ staff { id role storeIds } errors { code field } } }")
    unknown = (await gql(doc, {"i": {"email": "c2@shop.test", "password": PASSWORD,
                                     "role": "CASHIER", "storeIds": ["999999"]}},
                         token=shop.admin_token))["createStaff"]
    assert [e["code"] for e in unknown["errors"]] == ["NOT_FOUND"]
    none = (await gql(doc, {"i": {"email": "c2@shop.test", "password": PASSWORD,
                                  "role": "MANAGER"}}, token=shop.admin_token))["createStaff"]
    assert [(e["code"], e["field"]) for e in none["errors"]] == [("INVALID_INPUT", "storeIds")]
    ok = (await gql(doc, {"i": {"email": "m@shop.test", "password": PASSWORD,
                                "role": "MANAGER", "storeIds": [shop.other_store_id]}},
                    token=shop.admin_token))["createStaff"]
    assert ok["errors"] == [] and ok["staff"]["storeIds"] == [shop.other_store_id]
    dup = (await gql(doc, {"i": {"email": "M@shop.test", "password": PASSWORD,
                                 "role": "ADMIN"}}, token=shop.admin_token))["createStaff"]
    assert [e["code"] for e in dup["errors"]] == ["EMAIL_TAKEN"]


async def test_sign_up_of_many_customers_gives_distinct_valid_cards(gql: GraphQLClient):
    from wallet.card_numbers import normalize_card_number

    customers = [await sign_up(gql, f"C{i}") for i in range(5)]
    numbers = {c.card_number for c in customers}
    assert len(numbers) == 5
    assert all(normalize_card_number(n) == n for n in numbers)


async def test_a_common_password_is_refused_at_sign_up_and_for_staff(gql: GraphQLClient, shop):
    weak = (await gql(SIGN_UP, sign_up_vars("weak@example.test", password="Password123")))
    assert [(e["code"], e["field"]) for e in weak["signUp"]["errors"]] == [
        ("INVALID_INPUT", "password")]
    staff = ("mutation($i: CreateStaffInput!) { createStaff(input: $i) "
             "{ staff { id } errors { code field } } }")
    refused = (await gql(staff, {"i": {"email": "c3@shop.test", "password": "qwertyuiop",
                                       "role": "ADMIN"}}, token=shop.admin_token))
    assert [(e["code"], e["field"]) for e in refused["createStaff"]["errors"]] == [
        ("INVALID_INPUT", "password")]
    assert refused["createStaff"]["staff"] is None
