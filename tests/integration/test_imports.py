"""Bulk imports: validated, all or nothing, idempotent, resumable, through the
ledger; and the command line around them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tortoise import connections

from api.cli_import import _new_cards
from loyalty.imports import posting
from loyalty.imports import runs as imports
from loyalty.ledger.balances import history, verify_ledger
from tests.integration.test_cli import _loyalty

pytestmark = pytest.mark.usefixtures("database")

CUSTOMERS = """email,first_name,locale,timezone,phone,external_id,marketing_opt_in,points,\
points_expire_at
anne@old.test,Anne,fr-FR,Europe/Paris,+33 6 00 00 00 01,OLD-1,1,1200,2030-06-30
Bruno@Old.test,Bruno,,,,OLD-2,0,0,
carla@old.test,Carla,en,,,OLD-3,,35,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def scalar(sql: str) -> object:
    _, rows = await connections.get("default").execute_query(sql)
    return rows[0][0]


async def load(kind: str, path: Path, **kw: object) -> imports.ImportResult:
    return await imports.import_file(kind, path, new_cards=_new_cards, **kw)  # type: ignore[arg-type]


async def test_customers_arrive_with_cards_and_opening_balances_once(tmp_path):
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    result = await load("customers", path)
    assert (result.ok, result.rows, result.created, result.skipped) == (True, 3, 3, 0)
    assert await scalar("SELECT COUNT(*) FROM card") == 3
    anne = await scalar("SELECT id FROM customer WHERE email = 'anne@old.test'")
    assert await scalar(f"SELECT available FROM account WHERE customer_id = {anne}") == 1200
    # The number as loyalty.identity.phones keeps it.
    assert await scalar(f"SELECT phone FROM customer WHERE id = {anne}") == "+33600000001"
    assert await scalar("SELECT password_hash FROM customer WHERE email = 'bruno@old.test'") \
        == "!"
    items = await history(int(anne), 5, None)  # type: ignore[arg-type]
    assert [(i.kind, i.points, i.description) for i in items] == [("ADJUST", 1200,
                                                                   "Opening balance")]
    assert (await verify_ledger()).ok
    assert await scalar("SELECT COUNT(*) FROM import_row") == 0
    # The same file again changes nothing; a longer one adds only what is new.
    again = await load("customers", path)
    assert again.already_done
    more = write(tmp_path, "more.csv", CUSTOMERS + "dora@old.test,Dora,,,,,,10,\n")
    grown = await load("customers", more)
    assert (grown.created, grown.skipped) == (1, 3)
    assert await scalar("SELECT COUNT(*) FROM customer") == 4
    assert (await verify_ledger()).ok


async def test_malformed_rows_are_reported_and_nothing_is_imported(tmp_path):
    bad = write(tmp_path, "bad.csv", "\n".join([
        "email,first_name,timezone,points,points_expire_at,external_id",
        "ok@old.test,Ok,,,,",
        "not-an-email,Nope,,,,",
        "nameless@old.test,,,,,",
        "pts@old.test,Pts,,abc,,",
        "neg@old.test,Neg,,-5,,",
        "tz@old.test,Tz,Mars/Olympus,,,",
        "old@old.test,Old,,10,2001-01-01,",
        "OK@old.test,Twice,,,,",
        "ext@old.test,Ext,,,,E-1",
        "ext2@old.test,Ext2,,,,E-1",
        "long@old.test,Long,,,,,extra",
    ]) + "\n")
    result = await load("customers", bad)
    assert not result.ok
    assert [line for line, _ in result.rejected] == [3, 4, 5, 6, 7, 8, 9, 11, 12]
    reasons = dict(result.rejected)
    assert reasons[3] == "email is not a valid email address"
    assert reasons[4] == "first_name is required"
    assert reasons[9] == "email appears on an earlier line"
    assert reasons[11] == "external_id appears on an earlier line"
    assert reasons[12] == "more values than columns"
    assert await scalar("SELECT COUNT(*) FROM customer") == 0
    assert await scalar("SELECT COUNT(*) FROM import_row") == 0
    header = await load("customers", write(tmp_path, "header.csv", "mail,first_name\nx,y\n"))
    assert header.rejected == [(1, "missing columns: email")]


async def test_a_stopped_import_resumes_where_it_stopped(tmp_path, monkeypatch):
    rows = "".join(f"c{i}@old.test,C{i},,,,,,{i},\n" for i in range(7))
    path = write(tmp_path, "seven.csv", CUSTOMERS.splitlines()[0] + "\n" + rows)
    real = posting.post_customers
    calls = 0

    async def dies_on_the_third_chunk(conn, staged, new_cards):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("killed")
        return await real(conn, staged, new_cards)

    monkeypatch.setattr(posting, "post_customers", dies_on_the_third_chunk)
    with pytest.raises(ConnectionError):
        await load("customers", path, chunk=2)
    assert await scalar("SELECT COUNT(*) FROM customer") == 4  # two chunks committed
    monkeypatch.setattr(posting, "post_customers", real)
    seen: list[tuple[int, int]] = []
    resumed = await load("customers", path, chunk=2, progress=lambda d, t: seen.append((d, t)))
    assert resumed.resumed and (resumed.created, resumed.rows) == (7, 7)
    assert seen[-1] == (7, 7)
    assert await scalar("SELECT COUNT(*) FROM customer") == 7
    assert await scalar("SELECT COUNT(DISTINCT number) FROM card") == 7
    assert (await verify_ledger()).ok


async def test_balances_and_past_transactions_through_the_ledger(tmp_path):
    await load("customers", write(tmp_path, "c.csv", CUSTOMERS))
    balances = write(tmp_path, "b.csv", "email,external_id,points,expires_at\n"
                     ",OLD-2,50,2031-01-01\nanne@old.test,,25,\n")
    assert (await load("balances", balances)).created == 2
    assert (await load("balances", balances)).already_done
    unknown = await load("balances", write(tmp_path, "u.csv",
                                           "email,points\nghost@old.test,5\nanne@old.test,0\n"))
    assert unknown.rejected == [(2, "no such customer"), (3, "points must be positive")]
    txns = write(tmp_path, "t.csv", "external_id,transaction_id,points,occurred_at,description\n"
                 "OLD-2,T-1,40,2026-01-05T10:00:00+01:00,Purchase in Lyon\n"
                 "OLD-2,T-2,-70,2026-02-01,Reward\n")
    assert (await load("transactions", txns)).created == 2
    bruno = await scalar("SELECT id FROM customer WHERE external_id = 'OLD-2'")
    assert await scalar(f"SELECT available FROM account WHERE customer_id = {bruno}") == 20
    dup = await load("transactions", write(tmp_path, "d.csv",
                                           "email,transaction_id,points,occurred_at\n"
                                           "anne@old.test,T-9,1,2026-01-01\n"
                                           "anne@old.test,T-9,1,2026-01-01\n"
                                           "anne@old.test,T-8,0,2026-01-01\n"))
    assert dup.rejected == [(3, "transaction_id appears on an earlier line"),
                            (4, "points must not be 0")]
    assert (await verify_ledger()).ok


async def test_the_command_reports_rejects_and_imports(tmp_path):
    bad = write(tmp_path, "bad.csv", "email,first_name\nnope,X\n")
    failed = await asyncio.to_thread(_loyalty, "import", "customers", str(bad))
    assert failed.returncode == 1 and "nothing imported" in failed.stderr
    assert (tmp_path / "bad.csv.rejected.csv").read_text().splitlines() == [
        "line,reason", "2,email is not a valid email address"]
    good = write(tmp_path, "good.csv", CUSTOMERS)
    done = await asyncio.to_thread(_loyalty, "import", "customers", str(good))
    assert done.returncode == 0, done.stderr
    assert "3 rows, 3 imported" in done.stdout and "rows/s" in done.stderr
    verify = await asyncio.to_thread(_loyalty, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_imported_balances_and_transactions_count_against_issued(tmp_path):
    # As the customers import's opening balances (ADR 0017), and as before the
    # posting seam: an imported balance or past transaction is points the
    # programme issued, not a customer-service adjustment.
    await load("customers", write(tmp_path, "c.csv", CUSTOMERS))
    await load("balances", write(tmp_path, "b.csv", "email,points\nanne@old.test,25\n"))
    await load("transactions", write(
        tmp_path, "t.csv", "external_id,transaction_id,points,occurred_at\n"
        "OLD-2,T-1,40,2026-01-05\nOLD-2,T-2,-70,2026-02-01\n"))
    assert await scalar(
        "SELECT COUNT(*) FROM ledger_entry e JOIN account a ON a.id = e.account_id "
        "JOIN ledger_transaction t ON t.id = e.transaction_id "
        "WHERE a.code IS NOT NULL AND a.code <> 'issued' AND t.idempotency_key LIKE 'sys:import:%'"
    ) == 0
    assert await scalar(
        "SELECT COUNT(*) FROM ledger_entry e JOIN account a ON a.id = e.account_id "
        "WHERE a.code = 'issued'") == 2 + 3  # two openings (Anne, Carla) and three imported
    assert (await verify_ledger()).ok
