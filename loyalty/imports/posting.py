"""What one chunk of an import posts (loyalty/imports/runs.py runs the chunks):
new customers with their account, card, consent and opening balance (COPY on
PostgreSQL), or balances and past transactions, one posting each through the
ledger. Rows already there are skipped, so a chunk posted twice changes
nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import ledger
from loyalty.identity.email_tokens import UNCLAIMED
from loyalty.imports.csv_rows import Staged
from loyalty.ledger import (
    Channel,
    Kind,
    LotMove,
    NewLot,
    Opening,
    Posting,
    Spend,
    request_hash,
)
from loyalty.platform.config import get_settings
from loyalty.platform.sql import bulk_insert, fetch, fetchrow, is_pg, next_ids, placeholders
from loyalty.points.earning import expiry_for

# `count` (card number, QR secret) pairs, from the wallet (wallet/bulk.py).
NewCards = Callable[[int], list[tuple[str, str]]]


async def _existing(conn: BaseDBAsyncClient, column: str, values: list[str]) -> set[str]:
    if not values:
        return set()
    if is_pg(conn):
        rows = await fetch(conn, f"SELECT {column} FROM customer WHERE {column} = ANY($1::text[])",
                           values)
        return {r[0] for r in rows}
    found: set[str] = set()
    for start in range(0, len(values), 500):
        part = values[start:start + 500]
        marks = placeholders(len(part))
        found.update(r[0] for r in await fetch(
            conn, f"SELECT {column} FROM customer WHERE {column} IN ({marks})", *part))
    return found


async def post_customers(conn: BaseDBAsyncClient, staged: list[Staged],
                          new_cards: NewCards) -> int:
    """New customers with their account, card and opening balance; rows whose
    email or external id is already a customer's are skipped (a re-run)."""
    now = datetime.now(UTC)
    settings = get_settings()
    taken = await _existing(conn, "email", [s.email for s in staged if s.email])
    taken_ext = await _existing(conn, "external_id", [s.external_id for s in staged
                                                      if s.external_id])
    new = [s for s in staged if s.email not in taken and s.external_id not in taken_ext]
    if not new:
        return 0
    if is_pg(conn):
        await _copy_customers(conn, new, new_cards, now)
        return len(new)
    ids = dict((r[1], r[0]) for r in await bulk_insert(
        conn, "customer",
        ("email", "password_hash", "first_name", "locale", "timezone", "marketing_opt_in",
         "push_opt_in", "location_opt_in", "phone", "external_id", "created_at"),
        ("text", "text", "text", "text", "text", "boolean", "boolean", "boolean", "text", "text",
         "timestamptz"),
        [(s.email, UNCLAIMED, s.first_name, s.locale or "en", s.timezone or "UTC",
          bool(s.marketing), True, False, s.phone, s.external_id, now) for s in new],
        returning="id, email"))
    opening = {ids[s.email]: (s.points or 0, s.expires_at) for s in new}
    accounts = dict((r[1], r[0]) for r in await bulk_insert(
        conn, "account", ("kind", "customer_id", "available", "pending", "lifetime_earned",
                          "updated_at"),
        ("text", "bigint", "bigint", "bigint", "bigint", "timestamptz"),
        [("customer", cid, pts, 0, pts, now) for cid, (pts, _) in opening.items()],
        returning="id, customer_id"))
    await _issue_cards(conn, list(ids.values()), new_cards, now)
    await bulk_insert(
        conn, "consent_change", ("customer_id", "consent", "granted", "source", "at"),
        ("bigint", "text", "boolean", "text", "timestamptz"),
        [(ids[s.email], "marketing", bool(s.marketing), "import", now) for s in new])
    default_expiry = expiry_for(now, settings)
    await ledger.open_balances(conn, [
        Opening(cid, accounts[cid], pts, exp or default_expiry, f"sys:import:open:{cid}")
        for cid, (pts, exp) in opening.items() if pts > 0], _OPENING_HASH, now)
    return len(new)


async def _copy_customers(conn: BaseDBAsyncClient, new: list[Staged], new_cards: NewCards,
                          now: datetime) -> None:
    """PostgreSQL: ids drawn from the sequences first, then every table
    written with COPY (binary, no per-row statement); the rows that would
    clash were filtered out before (emails, external ids, card numbers), so
    a COPY fails only on a concurrent sign-up, and the chunk is then retried
    by the next run."""
    raw = conn._connection
    if await raw.fetchval("SELECT current_setting('is_superuser') = 'on'"):
        # Every row below refers to rows of this transaction (ids drawn from
        # the sequences just now) or to the issued account: their foreign
        # keys hold by construction, and checking them row by row (a trigger
        # per row and key) halves the import's speed. As pg_restore
        # --disable-triggers does, only for this transaction; a role that may
        # not (not a superuser) keeps the checks.
        await raw.execute("SET LOCAL session_replication_role = replica")
    settings = get_settings()
    customer_ids = await next_ids(raw, "customer", len(new))
    account_ids = await next_ids(raw, "account", len(new))
    await raw.copy_records_to_table(
        "customer", columns=["id", "email", "password_hash", "first_name", "locale", "timezone",
                             "marketing_opt_in", "push_opt_in", "location_opt_in", "phone",
                             "external_id", "created_at"],
        records=[(cid, s.email, UNCLAIMED, s.first_name, s.locale or "en", s.timezone or "UTC",
                  bool(s.marketing), True, False, s.phone, s.external_id, now)
                 for cid, s in zip(customer_ids, new, strict=True)])
    await raw.copy_records_to_table(
        "account", columns=["id", "kind", "customer_id", "available", "pending",
                            "lifetime_earned", "updated_at"],
        records=[(aid, "customer", cid, s.points or 0, 0, s.points or 0, now)
                 for aid, cid, s in zip(account_ids, customer_ids, new, strict=True)])
    await raw.copy_records_to_table(
        "card", columns=["customer_id", "number", "qr_secret", "created_at"],
        records=[(cid, number, secret, now) for cid, (number, secret)
                 in zip(customer_ids, await _free_cards(raw, len(new), new_cards), strict=True)])
    await raw.copy_records_to_table(
        "consent_change", columns=["customer_id", "consent", "granted", "source", "at"],
        records=[(cid, "marketing", bool(s.marketing), "import", now)
                 for cid, s in zip(customer_ids, new, strict=True)])
    default_expiry = expiry_for(now, settings)
    await ledger.open_balances(conn, [
        Opening(cid, aid, int(s.points), s.expires_at or default_expiry, f"sys:import:open:{cid}")
        for cid, aid, s in zip(customer_ids, account_ids, new, strict=True) if s.points
    ], _OPENING_HASH, now)


# An opening balance's posting is keyed by its customer (sys:import:open:<id>),
# which a client can never send; its fingerprint only tells it was an import.
_OPENING_HASH = request_hash("importOpening")


async def _free_cards(raw: Any, count: int, new_cards: NewCards) -> list[tuple[str, str]]:
    """`count` cards whose numbers are in no card yet nor twice in the batch."""
    cards: dict[str, str] = {}
    for _ in range(10):
        drawn = dict(new_cards(count - len(cards)))
        taken = {r[0] for r in await raw.fetch(
            "SELECT number FROM card WHERE number = ANY($1::text[])", list(drawn))}
        cards.update((n, q) for n, q in drawn.items() if n not in taken and n not in cards)
        if len(cards) == count:
            return list(cards.items())
    raise RuntimeError("could not allocate unique card numbers")


async def _issue_cards(conn: BaseDBAsyncClient, customer_ids: list[int], new_cards: NewCards,
                       now: datetime) -> None:
    """A card each. Numbers are random: one may already be taken (by a card
    here or in this batch); those customers draw again."""
    left = list(customer_ids)
    for _ in range(10):
        cards = [(cid, number, secret, now)
                 for cid, (number, secret) in zip(left, new_cards(len(left)), strict=True)]
        got = {r[0] for r in await bulk_insert(
            conn, "card", ("customer_id", "number", "qr_secret", "created_at"),
            ("bigint", "text", "text", "timestamptz"), cards,
            returning="customer_id", conflict="ON CONFLICT DO NOTHING")}
        left = [cid for cid in left if cid not in got]
        if not left:
            return
    raise RuntimeError("could not allocate unique card numbers")


async def post_points(conn: BaseDBAsyncClient, kind: str, staged: list[Staged],
                       sha: str) -> int:
    """Balances and past transactions, one posting each (ledger.post, without
    an event: a lot for a credit; a debit takes from lots first-expiring-first
    and may leave a debt, as a refund does: history is what it was)."""
    now = datetime.now(UTC)
    settings = get_settings()
    posted = 0
    for s in staged:
        row = await fetchrow(conn, "SELECT c.id, a.id FROM customer c JOIN account a ON "
                             "a.customer_id = c.id WHERE c.erased_at IS NULL AND "
                             f"c.{'email' if s.email else 'external_id'} = $1",
                             s.email or s.external_id)
        if row is None:
            continue
        customer_id, account_id = row
        points = int(s.points or 0)
        if kind == "balances":
            key, when, text = f"sys:import:{sha[:16]}:{s.line}", now, "Opening balance"
        else:
            key, when = f"sys:import:txn:{s.reference}", s.occurred_at or now
            text = f"Imported: {s.description}" if s.description else "Imported transaction"
        if await fetchrow(conn, "SELECT 1 FROM ledger_transaction WHERE idempotency_key = $1",
                          key) is not None:
            continue
        if points > 0:
            expires = s.expires_at or expiry_for(when, settings)
            if expires <= now:  # a past credit that has expired since: no lot to spend
                expires = now
            move: LotMove = NewLot(expires)
        else:
            move = Spend(overdraw=True)  # history is what it was, a debt included
        await ledger.post(conn, Posting(
            kind=Kind.ADJUST, channel=Channel.SYSTEM, customer_id=customer_id,
            account_id=account_id, points=points, lots=move, description=text, key=key,
            fingerprint=request_hash("import", key=key, points=points),
            event=None, occurred_at=when, now=now,
            # Against `issued`, as the customers import's openings (ADR 0017).
            counter=ledger.SYSTEM_ISSUED))
        posted += 1
    return posted
