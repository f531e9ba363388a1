"""`loyalty import customers|balances|transactions FILE.csv`.

1. Stage: the file is streamed, each row checked (loyalty/imports/csv_rows.py) and
   the good ones loaded into `import_row` (COPY on PostgreSQL); then SQL finds
   what a row alone cannot show (an email twice in the file, a balance for
   nobody). Any rejected row rejects the file: nothing is imported, and the
   report lists every rejected line with its reason.
2. Post: the staged rows are posted in chunks of lines, each chunk one
   transaction that also records how far the run got (`done_line`). A run
   that stops resumes from there when the same file is imported again; rows
   already there (a customer's email, a posting's key) are skipped, so
   importing a file twice changes nothing.

Opening balances go through the ledger (an ADJUST per customer against the
`issued` account, a lot, the account's balance) so `ledger verify` holds.
Imported customers have no password: they claim the account by an emailed
link, or by signing up with the same email (which emails the link).
Imports write no outbox events: a million "points earned" pushes or webhook
calls for balances people already had would be noise.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.identity.email_tokens import UNCLAIMED
from loyalty.imports.csv_rows import Staged, read
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
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, bulk_insert, execute, fetch, fetchrow, is_pg, next_ids
from loyalty.points.earning import expiry_for

# `count` (card number, QR secret) pairs, from the wallet (wallet/bulk.py).
NewCards = Callable[[int], list[tuple[str, str]]]
Progress = Callable[[int, int], None]  # (rows done, rows in all)

_STAGE_COLUMNS = ("run_id", "line", "email", "first_name", "locale", "timezone", "phone",
                  "external_id", "marketing", "points", "expires_at", "reference",
                  "occurred_at", "description")
_STAGE_BATCH = 10_000


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    created: int = 0
    skipped: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    resumed: bool = False
    already_done: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def import_file(kind: str, path: Path, *, new_cards: NewCards,
                      progress: Progress | None = None, chunk: int = 10_000,
                      lanes: int = 1) -> ImportResult:
    """`lanes`: chunks of new customers posted side by side on PostgreSQL."""
    if kind not in ("customers", "balances", "transactions"):
        raise ValueError(f"unknown import kind {kind!r}")
    sha = file_sha256(path)
    conn = connections.get("default")
    result = ImportResult(kind)
    run = await fetchrow(conn, "SELECT id, status, rows, done_line, created, skipped FROM "
                         "import_run WHERE kind = $1 AND file_sha256 = $2 ORDER BY id DESC "
                         "LIMIT 1", kind, sha)
    if run is not None and run[1] == "done":
        result.already_done, result.rows, result.skipped = True, run[2], run[2]
        return result
    if run is not None and run[1] == "posting":
        run_id, result.rows, done_line = run[0], run[2], run[3]
        result.created, result.skipped, result.resumed = run[4], run[5], True
    else:
        if run is not None:  # a staging that stopped half-way: start it again
            await _drop_rows(run[0])
            await execute(conn, "DELETE FROM import_run WHERE id = $1", run[0])
        run_id = await _new_run(kind, sha)
        result.rows, result.rejected = await _stage(kind, path, run_id)
        result.rejected += await _reject_in_sql(kind, run_id)
        if result.rejected:
            result.rejected.sort()
            await _drop_rows(run_id)
            await execute(conn, "UPDATE import_run SET status = 'rejected', rows = $1, "
                          "finished_at = $2 WHERE id = $3", result.rows,
                          datetime.now(UTC), run_id)
            return result
        await execute(conn, "UPDATE import_run SET status = 'posting', rows = $1 WHERE id = $2",
                      result.rows, run_id)
        done_line = 0
    await _post_all(kind, run_id, sha, done_line, result, new_cards, progress, chunk, lanes)
    await _drop_rows(run_id)
    await execute(conn, "UPDATE import_run SET status = 'done', finished_at = $1 WHERE id = $2",
                  datetime.now(UTC), run_id)
    return result


async def _new_run(kind: str, sha: str) -> int:
    row = await fetchrow(connections.get("default"),
                         "INSERT INTO import_run (kind, file_sha256, rows, done_line, status, "
                         "created, skipped, started_at) VALUES ($1, $2, 0, 0, 'staging', 0, 0, "
                         "$3) RETURNING id", kind, sha, datetime.now(UTC))
    assert row is not None
    return int(row[0])


async def _drop_rows(run_id: int) -> None:
    conn = connections.get("default")
    other = await fetchrow(conn, "SELECT 1 FROM import_row WHERE run_id <> $1 LIMIT 1", run_id)
    if other is None and is_pg(conn):
        # Alone in the table (the usual case): far cheaper than deleting a
        # million rows one by one.
        await execute(conn, "TRUNCATE import_row")
        return
    await execute(conn, "DELETE FROM import_row WHERE run_id = $1", run_id)


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from f


async def _stage(kind: str, path: Path, run_id: int) -> tuple[int, list[tuple[int, str]]]:
    """Stream the file into import_row; (rows read, rows rejected)."""
    rejected: list[tuple[int, str]] = []
    batch: list[tuple[Any, ...]] = []
    rows = 0
    try:
        for item in read(kind, _lines(path)):
            if isinstance(item, tuple):
                rejected.append(item)
                rows += item[0] > 1
                continue
            rows += 1
            # Loaded even once the file is rejected: the checks in SQL then
            # report every line at fault, not only the first kind of fault.
            batch.append(_record(run_id, item))
            if len(batch) >= _STAGE_BATCH:
                await _load(batch)
                batch = []
    except UnicodeDecodeError:
        rejected.append((0, "the file is not UTF-8"))
    if batch:
        await _load(batch)
    return rows, rejected


def _record(run_id: int, s: Staged) -> tuple[Any, ...]:
    return (run_id, s.line, s.email, s.first_name, s.locale, s.timezone, s.phone,
            s.external_id, s.marketing, s.points, s.expires_at, s.reference, s.occurred_at,
            s.description)


async def _load(batch: list[tuple[Any, ...]]) -> None:
    client = connections.get("default")
    if is_pg(client):
        async with client.acquire_connection() as raw:
            await raw.copy_records_to_table("import_row", records=batch,
                                            columns=list(_STAGE_COLUMNS))
        return
    marks = ", ".join("?" for _ in _STAGE_COLUMNS)
    await client.execute_many(
        f"INSERT INTO import_row ({', '.join(_STAGE_COLUMNS)}) VALUES ({marks})",
        [list(r) for r in batch])


async def _reject_in_sql(kind: str, run_id: int) -> list[tuple[int, str]]:
    """What only the whole file and the database can tell."""
    conn = connections.get("default")
    found: list[tuple[int, str]] = []
    keys = {"customers": ("email", "external_id"), "balances": (),
            "transactions": ("reference",)}[kind]
    for column in keys:
        name = "transaction_id" if column == "reference" else column
        for (line,) in await fetch(
                conn, f"SELECT line FROM (SELECT line, row_number() OVER (PARTITION BY {column} "
                f"ORDER BY line) AS n FROM import_row WHERE run_id = $1 AND {column} IS NOT NULL"
                ") d WHERE n > 1", run_id):
            found.append((line, f"{name} appears on an earlier line"))
    if kind == "customers":
        for (line,) in await fetch(
                conn, "SELECT r.line FROM import_row r JOIN customer c ON c.external_id = "
                "r.external_id WHERE r.run_id = $1 AND c.email <> r.email", run_id):
            found.append((line, "external_id belongs to another customer"))
    else:
        for (line,) in await fetch(
                conn, "SELECT r.line FROM import_row r WHERE r.run_id = $1 AND NOT EXISTS "
                "(SELECT 1 FROM customer c WHERE c.erased_at IS NULL AND (c.email = r.email "
                "OR c.external_id = r.external_id))", run_id):
            found.append((line, "no such customer"))
    return found


async def _post_all(kind: str, run_id: int, sha: str, done_line: int, result: ImportResult,
                    new_cards: NewCards, progress: Progress | None, chunk: int,
                    lanes: int = 1) -> None:
    """Chunks of lines (lo, hi], each its own transaction. New customers may
    post `lanes` chunks at a time on PostgreSQL; `done_line` only moves past
    chunks that all committed, and a chunk posted again after a stop skips
    its rows."""
    conn = connections.get("default")
    last = await fetchrow(conn, "SELECT COALESCE(MAX(line), 0), COUNT(*), COALESCE(MIN(line), 1) "
                          "FROM import_row WHERE run_id = $1 AND line > $2", run_id, done_line)
    assert last is not None
    end, left = int(last[0]), int(last[1])
    done_line = max(done_line, int(last[2]) - 1)
    done = result.rows - left
    # Line ranges, not row counts: rows are staged one per line, but a quoted
    # value may span lines, so a range can hold fewer than `chunk` rows.
    ranges = [(lo, min(lo + chunk, end)) for lo in range(done_line, end, chunk)]
    finished: set[tuple[int, int]] = set()
    lanes = max(1, lanes) if kind == "customers" and is_pg(conn) else 1
    lock = asyncio.Lock()

    async def post(lo: int, hi: int) -> int:
        for attempt in range(3):
            try:
                async with transaction() as tx:
                    rows = await fetch(
                        tx, "SELECT line, email, first_name, locale, timezone, phone, "
                        "external_id, marketing, points, expires_at, reference, occurred_at, "
                        "description FROM import_row WHERE run_id = $1 AND line > $2 "
                        "AND line <= $3 ORDER BY line", run_id, lo, hi)
                    staged = [Staged(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                                     None if r[7] is None else bool(r[7]), r[8],
                                     None if r[9] is None else as_datetime(r[9]), r[10],
                                     None if r[11] is None else as_datetime(r[11]), r[12])
                              for r in rows]
                    if kind == "customers":
                        created = await _post_customers(tx, staged, new_cards)
                    else:
                        created = await _post_points(tx, kind, staged, sha)
                    async with lock:
                        finished.add((lo, hi))
                        nonlocal done_line
                        while ranges and ranges[0] in finished:
                            done_line = ranges.pop(0)[1]
                        result.created += created
                        result.skipped += len(staged) - created
                        await execute(tx, "UPDATE import_run SET done_line = GREATEST(done_line,"
                                      " $1), created = created + $2, skipped = skipped + $3 "
                                      "WHERE id = $4" if is_pg(tx) else
                                      "UPDATE import_run SET done_line = MAX(done_line, $1), "
                                      "created = created + $2, skipped = skipped + $3 "
                                      "WHERE id = $4", done_line, created,
                                      len(staged) - created, run_id)
                return len(staged)
            except (IntegrityError, asyncpg.UniqueViolationError):
                # Two lanes drew the same new card number (about once in a
                # hundred chunks): nothing of this chunk was written; again.
                async with lock:
                    finished.discard((lo, hi))
                if attempt == 2:
                    raise
        return 0  # pragma: no cover

    queue = list(ranges)

    async def lane() -> None:
        nonlocal done
        while queue:
            lo, hi = queue.pop(0)
            done += await post(lo, hi)
            if progress is not None:
                progress(done, result.rows)

    await asyncio.gather(*(lane() for _ in range(lanes)))


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
        marks = ", ".join(f"${i + 1}" for i in range(len(part)))
        found.update(r[0] for r in await fetch(
            conn, f"SELECT {column} FROM customer WHERE {column} IN ({marks})", *part))
    return found


async def _post_customers(conn: BaseDBAsyncClient, staged: list[Staged],
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


async def _post_points(conn: BaseDBAsyncClient, kind: str, staged: list[Staged],
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
