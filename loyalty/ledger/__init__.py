"""The double-entry ledger's one door: `post` a `Posting`, `emit` an event.

A `Posting` is the whole description of a change of points: the accounts and
amount, its kind and channel, the lots it creates or takes from, what it
reverses, its idempotency key and fingerprint, the purchase it records and the
event it emits. `post` writes it inside the caller's transaction and owns what
every posting shares (docs/adr/0020):

- the lock order: the customer's account row first (`lock`, which also
  matures lots whose pending window has passed), then the idempotency key
  (the ledger transaction's unique row: a concurrent retry fails on it and
  replays), then the balance and lots, the purchase, the entries and the
  outbox row. A use case that must read under the lock before it can
  describe its posting (a first-purchase bonus, the lots due to expire) calls
  `lock` first and writes its own rows after `post`;
- the customer's balance on the account row, the debt that earnings repay
  first (ADR 0002), the two entries that sum to zero, the system account
  without a running balance (ADR 0001);
- the outbox event, and the "points changed" signal: NOTIFY in the
  transaction on PostgreSQL, published after commit on SQLite.

Events that move no points (a tier change, a reminder, a campaign, a visit
welcome) are written by `emit`. The rows themselves are built in
`loyalty.ledger.rows`, shared with the purchase's one-statement path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode
from loyalty.events import Event, LedgerEvent
from loyalty.ledger import history, lots, statement
from loyalty.ledger import rows as ledger_rows
from loyalty.ledger.rows import Ref
from loyalty.ledger.statement import Guard
from loyalty.platform.bus import bus
from loyalty.platform.db import after_commit, transaction, transaction_open
from loyalty.platform.sql import as_datetime, fetchrow, is_pg


class Kind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    REFUND = "REFUND"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    BONUS = "BONUS"
    TRANSFER = "TRANSFER"


class Channel(StrEnum):
    STORE = "STORE"
    APP = "APP"
    WEB = "WEB"
    PHONE = "PHONE"
    FRANCHISE = "FRANCHISE"
    CHECKIN = "CHECKIN"
    SYSTEM = "SYSTEM"


SYSTEM_ISSUED = "issued"
SYSTEM_REDEEMED = "redeemed"
SYSTEM_EXPIRED = "expired"
SYSTEM_ADJUSTMENTS = "adjustments"
# The programme's side of each kind of posting.
COUNTER = {
    Kind.EARN: SYSTEM_ISSUED,
    Kind.BONUS: SYSTEM_ISSUED,
    Kind.REFUND: SYSTEM_ISSUED,
    Kind.REDEEM: SYSTEM_REDEEMED,
    Kind.EXPIRE: SYSTEM_EXPIRED,
    Kind.ADJUST: SYSTEM_ADJUSTMENTS,
}

T = TypeVar("T")

MAX_KEY_LENGTH = 128
# Keys the programme itself posts under (a visit's daily reward); a client may
# not use them, or it could take another customer's reward.
SYSTEM_KEY_PREFIX = "sys:"


@dataclass(frozen=True)
class TransactionResult:
    id: int
    kind: str
    points: int
    description: str
    created_at: datetime
    customer_id: int | None
    replayed: bool = False


# -- What a posting does to lots ---------------------------------------------


@dataclass(frozen=True)
class NewLot:
    """Points earned land in a lot of their own, pending until the return
    window ends; on a negative balance they repay the debt first."""

    expires_at: datetime
    pending_until: datetime | None = None


@dataclass(frozen=True)
class Spend:
    """Points leave the available balance, never below zero, and its lots
    first-expiring-first; INSUFFICIENT_POINTS names `field`. `unearn`: they
    also leave the lifetime earned (a correction of points given, not a
    purchase with them). `overdraw`: what the lots lack is taken anyway, the
    balance going negative (history imported as it was)."""

    field: str = "points"
    unearn: bool = False
    overdraw: bool = False


@dataclass(frozen=True)
class Close:
    """Every point leaves: all lots emptied, pending and a positive available
    balance to zero; a debt stays (an erased customer's account)."""


@dataclass(frozen=True)
class ClawBack:
    """A refund takes points back from the purchase's own lot first, then
    first-expiring-first, and takes what the lots lack anyway (ADR 0002)."""

    lot_id: int | None


@dataclass(frozen=True)
class Expire:
    """These lots' points leave, all of them (ADR 0006)."""

    lot_ids: tuple[int, ...]


LotMove = NewLot | Spend | ClawBack | Expire | Close


@dataclass(frozen=True)
class PurchaseRow:
    """The purchase a posting records, with the lot it earned."""

    store_id: int
    receipt_id: str
    total_minor: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class Posting:
    kind: Kind
    channel: Channel
    customer_id: int
    account_id: int
    points: int  # signed, from the customer's side
    lots: LotMove
    description: str
    key: str
    fingerprint: str
    # None: no outbox row, and no one told (history an import loads).
    event: LedgerEvent | None
    occurred_at: datetime
    now: datetime
    store_id: int | None = None
    reverses_id: int | None = None
    purchase: PurchaseRow | None = None
    # The programme's side when not its kind's (COUNTER): an import's ADJUST
    # is points issued (ADR 0017), not a correction by customer service.
    counter: str | None = None

    def __post_init__(self) -> None:
        earning = isinstance(self.lots, NewLot)
        assert (self.points > 0) == earning or self.points == 0, "points and lots disagree"
        assert self.purchase is None or earning, "only points earned record a purchase"
        assert self.kind in COUNTER, f"no counter account for {self.kind}"


@dataclass(frozen=True)
class Opening:
    """An imported customer's opening balance, on an account created with it."""

    customer_id: int
    account_id: int
    points: int  # > 0
    expires_at: datetime
    key: str


@dataclass(frozen=True)
class Posted:
    transaction: TransactionResult
    available: int
    pending: int = 0
    lot_id: int | None = None


# -- Keys ----------------------------------------------------------------------


def request_hash(operation: str, **fields: Any) -> str:
    """Fingerprint of a write's meaning, to tell a retry from a key reused for
    another request."""
    body = json.dumps({"op": operation, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def check_idempotency_key(key: str) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters.",
            "idempotencyKey",
        )
    if key.startswith(SYSTEM_KEY_PREFIX):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey may not start with {SYSTEM_KEY_PREFIX!r}.",
            "idempotencyKey",
        )
    return key


_system_ids: dict[str, int] = {}


async def system_account_id(conn: BaseDBAsyncClient, code: str) -> int:
    if code not in _system_ids:
        row = await fetchrow(conn, "SELECT id FROM account WHERE code = $1", code)
        if row is None:  # pragma: no cover - created by migration 0002
            raise RuntimeError(f"system account {code!r} is missing; run migrations")
        _system_ids[code] = row[0]
    return _system_ids[code]


def reset_caches() -> None:
    _system_ids.clear()


async def find_by_key(
    conn: BaseDBAsyncClient, key: str, fingerprint: str
) -> TransactionResult | None:
    """The transaction already posted under `key`, or None; a key reused with
    another request is IDEMPOTENCY_CONFLICT."""
    row = await fetchrow(
        conn,
        "SELECT id, kind, points, description, created_at, customer_id, request_hash "
        "FROM ledger_transaction WHERE idempotency_key = $1",
        key,
    )
    if row is None:
        return None
    if row[6] != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used for a different request.",
            "idempotencyKey",
        )
    return TransactionResult(row[0], row[1], row[2], row[3], as_datetime(row[4]), row[5],
                             replayed=True)


async def replay_only(found: Awaitable[T | None], expired: ErrorCode) -> T:
    """The rule for a write presented with a credential past its window (a QR
    code, still genuine: it names its card, ADR 0003): only the retry of a
    write already posted under its key goes through, `found` (its replay);
    anything else is refused with the credential's code."""
    replayed = await found
    if replayed is None:
        raise DomainError(expired, "This QR code has expired; ask for a fresh one.",
                          "card.qrPayload")
    return replayed


async def replay(key: str, fingerprint: str) -> TransactionResult | None:
    """After a posting failed on a unique row: the one a concurrent retry
    posted first under `key`, if that is what happened."""
    async with transaction() as conn:
        return await find_by_key(conn, key, fingerprint)


# -- Posting -------------------------------------------------------------------

# The accounts each open transaction has locked (the first step of a posting).
_held: WeakKeyDictionary[BaseDBAsyncClient, set[int]] = WeakKeyDictionary()


async def lock(conn: BaseDBAsyncClient, account_id: int, now: datetime, *,
               skip_locked: bool = False) -> bool:
    """The first step of every posting: the customer's account row, locked
    until commit, and its lots whose pending window has passed matured.
    With `skip_locked` (PostgreSQL) an account another transaction holds is
    skipped: False, as for an account that does not exist."""
    if not transaction_open():
        raise RuntimeError("ledger.lock runs inside loyalty.platform.db.transaction()")
    held = _held.setdefault(conn, set())
    if account_id in held:
        return True
    pending = await lots.lock_account(conn, account_id, skip_locked)
    if pending is None:
        return False
    held.add(account_id)
    if pending:
        await lots.mature_lots(conn, account_id, now)
    return True


async def post(conn: BaseDBAsyncClient, p: Posting) -> Posted:
    """Write the posting in the caller's transaction (loyalty.platform.db.transaction).
    IntegrityError (its key, or its receipt, already used) and the Spend's
    INSUFFICIENT_POINTS propagate, and the transaction rolls back."""
    if not transaction_open():
        raise RuntimeError("ledger.post runs inside loyalty.platform.db.transaction()")
    pg = is_pg(conn)
    await lock(conn, p.account_id, p.now)
    inserts = ledger_rows.plan(p, await system_account_id(conn, p.counter or COUNTER[p.kind]))
    named = ledger_rows.values(p)
    known: dict[Ref, Any] = {}
    # The key first: a retry racing this posting waits on it, then replays.
    known[Ref.TRANSACTION] = await ledger_rows.write(conn, inserts[0], named, known)
    available, pending = await lots.move_points(conn, p)
    known[Ref.AVAILABLE], known[Ref.BALANCE_AFTER] = available, available + pending
    for insert in inserts[1:]:
        notify = p.customer_id if pg and insert.alias == "o" else None
        found = await ledger_rows.write(conn, insert, named, known, notify)
        if insert.alias == "l":
            known[Ref.LOT] = found
    if not pg:
        customer_id = p.customer_id
        after_commit(lambda: bus.publish(customer_id))
    txn = TransactionResult(known[Ref.TRANSACTION], p.kind.value, p.points, p.description,
                            p.now, p.customer_id)
    return Posted(txn, available, pending, known.get(Ref.LOT))


async def post_in_one_statement(conn: BaseDBAsyncClient, p: Posting,
                                guards: Sequence[Guard] = ()) -> Posted | None:
    """Points earned, posted by one PostgreSQL statement compiled from the
    same rows as `post` (its own transaction when `conn` is the pool's). None,
    with nothing written, when a guard fails, the account has points pending
    (only `post` matures lots) or does not exist. IntegrityError propagates."""
    assert isinstance(p.lots, NewLot) and p.lots.pending_until is None
    counter_id = await system_account_id(conn, p.counter or COUNTER[p.kind])
    sql, args = statement.one_statement(p, counter_id, guards)
    row = await fetchrow(conn, sql, *args)
    if row is None:
        return None
    txn = TransactionResult(row[0], p.kind.value, p.points, p.description, p.now,
                            p.customer_id)
    return Posted(txn, int(row[1]), int(row[2]), int(row[3]))


async def open_balances(conn: BaseDBAsyncClient, openings: Sequence[Opening],
                        fingerprint: str, now: datetime) -> None:
    """Opening balances of accounts an import has just created with them
    (ADJUST against the issued account, a lot each), in bulk and without
    events: history people already had is not news (loyalty/imports/runs.py)."""
    if not transaction_open():
        raise RuntimeError("ledger.open_balances runs inside loyalty.platform.db.transaction()")
    await history.load_openings(conn, openings, await system_account_id(conn, SYSTEM_ISSUED),
                                    fingerprint, now)


# -- Events that move no points --------------------------------------------------


async def emit(conn: BaseDBAsyncClient, customer_id: int | None, event: Event, *,
               now: datetime | None = None, processed: bool = False) -> int:
    """Write `event` to the outbox in the caller's transaction; its id.
    `processed`: a record only (a campaign's header), nothing to deliver."""
    now = now or datetime.now(UTC)
    return await ledger_rows.emit(conn, customer_id, event, now if processed else None, now)


async def emit_to_many(conn: BaseDBAsyncClient, event: Event, customer_ids: Sequence[int], *,
                       now: datetime | None = None) -> None:
    """The same event for each customer (a campaign's message), in order."""
    await ledger_rows.emit_to_many(conn, event, customer_ids, now or datetime.now(UTC))
