"""The common purchase on PostgreSQL, in one statement and one round trip.

Nothing pending, no coupon presented, no clipped offer to apply and no
once-only bonus (first purchase, birthday) due: the rules' result depends only
on the basket and the customer's tier, so it is computed first and written by
one statement (its own transaction; with no account row nothing at all is
written). The statement re-checks what the computation assumed, in the same
snapshot that takes the account's row lock: that the customer holds no usable
clipped offer and, when the programme has tiers, that the tier is the one the
rules saw. When a guard fails nothing is written and the caller takes the
general path, which reads everything under the lock. The lot keeps only what is
left after repaying a negative balance (docs/adr/0002); NOTIFY is delivered at
commit like everywhere else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.attribution import acting_client
from loyalty.bus import CHANNEL
from loyalty.ledger import SYSTEM_ISSUED, Channel, Kind, TransactionResult, system_account_id
from loyalty.money import Money
from loyalty.offers import clipped_offer_exists
from loyalty.sql import fetchrow

_GUARD_OFFERS = f"NOT {clipped_offer_exists('$4', '$8')}"
_GUARD_TIER = "COALESCE((SELECT tier_id FROM customer_tier WHERE customer_id = $4), 0) = $19"

_EARN_SQL = """WITH a AS (
  UPDATE account SET available = available + $6, lifetime_earned = lifetime_earned + $6,
    updated_at = $8 WHERE id = $9 AND {guards} RETURNING available, pending),
t AS (
  INSERT INTO ledger_transaction (kind, channel, description, idempotency_key, request_hash,
    customer_id, store_id, points, reverses_id, occurred_at, created_at, api_client_id)
  SELECT 'EARN', $16, $1, $2, $3, $4, $5, $6, NULL, $7, $8, $18::bigint FROM a RETURNING id),
l AS (INSERT INTO lot (account_id, transaction_id, points, remaining, pending_until, expires_at,
    created_at)
  SELECT $9, t.id, $6, $6 - LEAST($6, GREATEST(0, $6 - a.available)), NULL, $10, $8 FROM t, a
  RETURNING id, transaction_id),
p AS (INSERT INTO purchase (store_id, receipt_id, customer_id, transaction_id, lot_id, channel,
    total_minor, currency, refunded_minor, points_earned, points_refunded, occurred_at)
  SELECT $5, $11, $4, l.transaction_id, l.id, $16, $12, $13, 0, $6, 0, $7 FROM l),
e AS (INSERT INTO ledger_entry (transaction_id, account_id, points, balance_after)
  SELECT t.id, $9, $6, a.available + a.pending FROM t, a
  UNION ALL SELECT t.id, $14, -$6, NULL FROM t),
o AS (INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts)
  SELECT 'points.earned', $4, json_build_object('transaction_id', t.id, 'points', $6,
    'balance', a.available, 'store_id', $5, 'store_name', $15::text, 'channel', $16::text),
    $8, 0 FROM t, a)
SELECT t.id, a.available, pg_notify($17, $4::text) FROM t, a"""

_WITHOUT_TIERS = _EARN_SQL.format(guards=_GUARD_OFFERS)
_WITH_TIERS = _EARN_SQL.format(guards=f"{_GUARD_OFFERS} AND {_GUARD_TIER}")


@dataclass(frozen=True)
class FastPosted:
    transaction: TransactionResult
    available: int


async def earn_in_one_statement(
    conn: BaseDBAsyncClient,
    *,
    key: str,
    fingerprint: str,
    customer_id: int,
    account_id: int,
    store_id: int,
    store_name: str,
    receipt_id: str,
    total: Money,
    points: int,
    description: str,
    channel: Channel,
    when: datetime,
    now: datetime,
    expires_at: datetime,
    expected_tier_id: int | None,
    with_tiers: bool,
) -> FastPosted | None:
    """The posting, or None when a guard failed and nothing was written.
    IntegrityError (a key or receipt already used) propagates."""
    system_id = await system_account_id(conn, SYSTEM_ISSUED)
    args: list[object] = [
        description, key, fingerprint, customer_id, store_id, points, when, now, account_id,
        expires_at, receipt_id, total.amount_minor, total.currency, system_id, store_name,
        channel.value, CHANNEL, acting_client.get(),
    ]
    if with_tiers:
        args.append(expected_tier_id or 0)
    row = await fetchrow(conn, _WITH_TIERS if with_tiers else _WITHOUT_TIERS, *args)
    if row is None:
        return None
    txn = TransactionResult(row[0], Kind.EARN.value, points, description, now, customer_id)
    return FastPosted(txn, row[1])
