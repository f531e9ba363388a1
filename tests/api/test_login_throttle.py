"""Log-in throttling: guesses are counted per (account, address), per account
and per address, refused as RATE_LIMITED with a retry time before any scrypt
work, and one address cannot lock the account's owner out elsewhere."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loyalty.platform.config import set_settings
from tests.conftest import DATABASE_URL, PASSWORD, GraphQLClient, settings_for

LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken errors { code field message retryAfterSeconds } }
}"""
STAFF_LOG_IN = """
mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code field message retryAfterSeconds } }
}"""
ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"
# Short lock-outs, so that a test can wait one out; X-Forwarded-For from the
# test client (127.0.0.1) is believed, so that it can speak for addresses.
LIMITS: dict[str, Any] = dict(login_max_failures=5, login_max_failures_per_account=12,
                              login_max_failures_per_address=30, login_lockout_seconds=2,
                              login_lockout_max_seconds=4,
                              login_account_lockout_max_seconds=2,
                              trusted_proxies=("127.0.0.1",))


def _throttle(**overrides: Any) -> None:
    set_settings(settings_for(DATABASE_URL, **{**LIMITS, **overrides}))


async def _log_in(gql: GraphQLClient, email: str, password: str,
                  address: str | None = None, document: str = LOG_IN) -> dict[str, Any]:
    headers = {"x-forwarded-for": address} if address else {}
    response = await gql.http.post("/graphql", headers=headers, json={
        "query": document, "variables": {"input": {"email": email, "password": password}}})
    body = response.json()
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


def _code(payload: dict[str, Any]) -> str:
    if payload["accessToken"]:
        assert payload["errors"] == []
        return "OK"
    [error] = payload["errors"]
    assert (error["retryAfterSeconds"] is not None) == (error["code"] == "RATE_LIMITED")
    return error["code"]


async def test_forty_wrong_passwords_then_the_right_one_is_refused_until_the_lockout_ends(
        gql: GraphQLClient, alice):
    _throttle()
    codes = [_code(await _log_in(gql, alice.email, f"wrong guess {i}")) for i in range(40)]
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED"] * 35
    refused = await _log_in(gql, alice.email, PASSWORD)
    assert _code(refused) == "RATE_LIMITED" and refused["accessToken"] is None
    wait = refused["errors"][0]["retryAfterSeconds"]
    assert 1 <= wait <= LIMITS["login_lockout_seconds"]
    await asyncio.sleep(wait + 0.2)
    assert _code(await _log_in(gql, alice.email, PASSWORD)) == "OK"


async def test_an_attackers_address_does_not_lock_the_owner_out_elsewhere(
        gql: GraphQLClient, alice):
    _throttle()
    codes = [_code(await _log_in(gql, alice.email, f"guess {i}", ATTACKER)) for i in range(40)]
    assert codes.count("INVALID_CREDENTIALS") == 5 and codes[-1] == "RATE_LIMITED"
    # Refused guesses were not counted against the account: its owner, from
    # another address, logs in at once.
    assert _code(await _log_in(gql, alice.email, PASSWORD, OWNER)) == "OK"
    assert _code(await _log_in(gql, alice.email, PASSWORD, ATTACKER)) == "RATE_LIMITED"


async def test_the_account_cap_stops_a_distributed_attack_briefly(gql: GraphQLClient, alice):
    _throttle()
    # 12 addresses, one guess each: no address reaches its own limit, the
    # account reaches its cap.
    for i in range(12):
        assert _code(await _log_in(gql, alice.email, "guess", f"192.0.2.{i + 1}")) == (
            "INVALID_CREDENTIALS")
    locked = await _log_in(gql, alice.email, PASSWORD, OWNER)
    assert _code(locked) == "RATE_LIMITED"
    # ... but only for the account's short lock-out.
    assert locked["errors"][0]["retryAfterSeconds"] <= LIMITS[
        "login_account_lockout_max_seconds"]
    await asyncio.sleep(locked["errors"][0]["retryAfterSeconds"] + 0.2)
    assert _code(await _log_in(gql, alice.email, PASSWORD, OWNER)) == "OK"
    # Other accounts were never affected.


async def test_a_successful_log_in_clears_the_count(gql: GraphQLClient, alice):
    _throttle()
    for _ in range(3):
        for i in range(4):
            assert _code(await _log_in(gql, alice.email, f"typo {i}")) == "INVALID_CREDENTIALS"
        assert _code(await _log_in(gql, alice.email, PASSWORD)) == "OK"
    # Without the clearing, those 12 failures would have locked it long ago;
    # five in a row still do.
    for i in range(5):
        assert _code(await _log_in(gql, alice.email, f"typo {i}")) == "INVALID_CREDENTIALS"
    assert _code(await _log_in(gql, alice.email, PASSWORD)) == "RATE_LIMITED"


async def test_one_address_trying_many_accounts_is_stopped(gql: GraphQLClient, alice):
    _throttle(login_max_failures_per_address=8)
    victims = [f"victim{i}@example.test" for i in range(8)] + [alice.email]
    codes = [_code(await _log_in(gql, email, "Password123!", ATTACKER)) for email in victims]
    assert codes == ["INVALID_CREDENTIALS"] * 8 + ["RATE_LIMITED"]
    # A success from that address (the attacker's own account) does not
    # clear the address's count.
    assert _code(await _log_in(gql, alice.email, PASSWORD, ATTACKER)) == "RATE_LIMITED"
    assert _code(await _log_in(gql, alice.email, PASSWORD, OWNER)) == "OK"


async def test_unknown_emails_are_throttled_like_known_ones(gql: GraphQLClient):
    _throttle()
    codes = [_code(await _log_in(gql, "nobody@example.test", f"g{i}")) for i in range(7)]
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED"] * 2


async def test_staff_log_in_is_throttled_too(gql: GraphQLClient, shop):
    _throttle()
    codes = [_code(await _log_in(gql, "cashier@shop.test", f"g{i}", document=STAFF_LOG_IN))
             for i in range(6)]
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED"]
    assert _code(await _log_in(gql, "cashier@shop.test", PASSWORD,
                               document=STAFF_LOG_IN)) == "RATE_LIMITED"
    # A customer with the same email is another account.
    assert _code(await _log_in(gql, "cashier@shop.test", PASSWORD)) == "INVALID_CREDENTIALS"


async def test_a_burst_of_parallel_guesses_is_mostly_refused_before_scrypt(
        gql: GraphQLClient, alice):
    _throttle(scrypt_concurrency=2, login_lockout_seconds=30, login_lockout_max_seconds=60)
    started = time.monotonic()
    codes = await asyncio.gather(*[_log_in(gql, alice.email, f"burst {i}", ATTACKER)
                                   for i in range(60)])
    counted = [_code(c) for c in codes]
    # Each guess that ran scrypt was counted before its slot was freed, and a
    # guess that waited for a slot looks again: at most the limit plus the
    # slots' worth ran, the rest were refused without it.
    assert counted.count("INVALID_CREDENTIALS") <= LIMITS["login_max_failures"] + 2
    assert counted.count("RATE_LIMITED") >= 60 - LIMITS["login_max_failures"] - 2
    assert set(counted) == {"INVALID_CREDENTIALS", "RATE_LIMITED"}
    # Meanwhile the owner, elsewhere, was never refused.
    assert _code(await _log_in(gql, alice.email, PASSWORD, OWNER)) == "OK"
    assert time.monotonic() - started < 30


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(gql: GraphQLClient, alice):
    _throttle(trusted_proxies=())
    for i in range(5):
        # Each claims another address: all are 127.0.0.1's all the same.
        assert _code(await _log_in(gql, alice.email, "guess", f"192.0.2.{i}")) == (
            "INVALID_CREDENTIALS")
    assert _code(await _log_in(gql, alice.email, PASSWORD, OWNER)) == "RATE_LIMITED"
