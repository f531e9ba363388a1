"""Erasing a customer's card (loyalty/identity/privacy.py calls this in its transaction)."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute, fetch
from wallet import cards


async def erase(conn: BaseDBAsyncClient, customer_id: int) -> None:
    """The card goes, and with it the codes it spent (their keys start with
    its number); a scan of it finds nobody from then on."""
    numbers = [r[0] for r in await fetch(conn, "SELECT number FROM card WHERE customer_id = $1",
                                         customer_id)]
    for number in numbers:
        await execute(conn, "DELETE FROM spent_code WHERE key LIKE $1", f"{number}.%")
        cards.forget(number)
    await execute(conn, "DELETE FROM card WHERE customer_id = $1", customer_id)
