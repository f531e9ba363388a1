"""Log-in throttling: failed guesses counted in the database, so that every
server process sees the same counts, and refused before any scrypt work.

Three counts, each keyed by a keyed hash (the table holds no email and no
address):

- one account from one address: the attacker's own budget, tight;
- one account from any address: a distributed attack on one account; looser
  and with short lock-outs, since reaching it stops the account's owner too;
- one address, whatever the account: credential stuffing.

A count runs over a window opened by its first failure. When it reaches its
limit, the key is locked out; each lock-out is twice as long as the previous
one, up to a maximum, until a whole window passes after a lock-out ends. A
refused attempt is not counted (it cost nothing and learnt nothing), so an
attacker's hammering from one address does not spill over onto the account.
A successful log-in forgets the account's counts (its owner proved
themselves), never the address's (an attacker with an account of their own
could otherwise clear their address between guesses).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise import connections

from loyalty.errors import RateLimited
from loyalty.platform.config import Settings
from loyalty.platform.sql import execute, execute_numbered, fetchrow, placeholders


@dataclass(frozen=True)
class Key:
    digest: str
    limit: int
    lockout_max: int
    forgotten_on_success: bool


def address_group(address: str) -> str:
    """What counts as one address. An IPv6 host usually holds a whole /64, so
    counting its single addresses would give an attacker 2**64 budgets."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def keys_for(kind: str, email: str, address: str | None, settings: Settings) -> list[Key]:
    """The keys one log-in attempt counts against; `kind` (customer, staff)
    keeps the two log-ins' accounts apart. No address (a caller outside
    HTTP): the account's count alone."""

    def digest(*parts: str) -> str:
        message = "\x1f".join(["login", *parts]).encode()
        return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]

    email = email.strip().lower() if isinstance(email, str) else ""
    keys = [Key(digest("account", kind, email), settings.login_max_failures_per_account,
                settings.login_account_lockout_max_seconds, True)]
    if address:
        group = address_group(address)
        keys.append(Key(digest("pair", kind, email, group), settings.login_max_failures,
                        settings.login_lockout_max_seconds, True))
        keys.append(Key(digest("address", group), settings.login_max_failures_per_address,
                        settings.login_lockout_max_seconds, False))
    return [k for k in keys if k.limit > 0]


async def check(keys: Sequence[Key], now: float) -> None:
    """RATE_LIMITED, with the time left, while any key is locked out."""
    if not keys:
        return
    row = await fetchrow(
        connections.get("default"),
        f"SELECT MAX(locked_until) FROM login_throttle WHERE key IN "
        f"({placeholders(len(keys))}) AND locked_until > ${len(keys) + 1}",
        *[k.digest for k in keys], now,
    )
    if row is not None and row[0] is not None:
        wait = math.ceil(float(row[0]) - now)
        raise RateLimited(f"Too many failed log-ins; try again in {max(1, wait)} s.", wait)


# One failure, counted in one statement (atomic on both databases, whatever
# the number of processes). $1 key, $2 now, $3 window, $4 limit, $5 first
# lock-out, $6 longest lock-out. Every SET expression reads the row as it was.
_FRESH = "t.window_start + $3 <= $2"  # the window has passed: counting restarts
_CALM = "t.locked_until + $3 <= $2"  # a window since the last lock-out ended
_COUNT = f"(CASE WHEN {_FRESH} THEN 1 ELSE t.failures + 1 END)"
_DUE = f"(CASE WHEN {_FRESH} AND {_CALM} THEN $5 ELSE t.next_lockout END)"
_LOCKOUT = f"(CASE WHEN {_DUE} > $6 THEN $6 ELSE {_DUE} END)"
_TRIP = f"{_COUNT} >= $4"
_COUNT_FAILURE = f"""
INSERT INTO login_throttle AS t (key, failures, window_start, locked_until, next_lockout)
VALUES ($1, 1, $2, 0, $5)
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN {_TRIP} THEN 0 ELSE {_COUNT} END,
  window_start = CASE WHEN {_TRIP} OR {_FRESH} THEN $2 ELSE t.window_start END,
  locked_until = CASE WHEN {_TRIP} THEN $2 + {_LOCKOUT} ELSE t.locked_until END,
  next_lockout = CASE WHEN NOT ({_TRIP}) THEN {_LOCKOUT}
                      WHEN {_LOCKOUT} * 2 > $6 THEN $6 ELSE {_LOCKOUT} * 2 END
"""


async def count_failure(keys: Sequence[Key], now: float, settings: Settings) -> None:
    conn = connections.get("default")
    for key in keys:
        await execute_numbered(conn, _COUNT_FAILURE, key.digest, now,
                             float(settings.login_window_seconds), key.limit,
                             float(settings.login_lockout_seconds), float(key.lockout_max))


async def forget(keys: Sequence[Key]) -> None:
    """After a successful log-in: the account's counts start again."""
    digests = [k.digest for k in keys if k.forgotten_on_success]
    if digests:
        await execute(connections.get("default"),
                      f"DELETE FROM login_throttle WHERE key IN ({placeholders(len(digests))})",
                      *digests)


async def prune(now: float, settings: Settings) -> int:
    """Drop the rows that say nothing any more: their window and a window
    after their last lock-out have both passed (a scheduled job)."""
    stale = now - settings.login_window_seconds
    return await execute(connections.get("default"),
                         "DELETE FROM login_throttle WHERE window_start <= $1 "
                         "AND locked_until <= $2", stale, stale)
