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
from tortoise.exceptions import IntegrityError

from loyalty.imports import posting
from loyalty.imports.csv_rows import Staged, read
from loyalty.imports.posting import NewCards
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, is_pg

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
                        created = await posting.post_customers(tx, staged, new_cards)
                    else:
                        created = await posting.post_points(tx, kind, staged, sha)
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
