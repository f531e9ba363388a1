"""Erasing where a customer was (called by loyalty/identity/privacy.py in its
transaction): check-ins keep their judgement, not their position."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute


async def erase(conn: BaseDBAsyncClient, customer_id: int) -> None:
    await execute(conn, "UPDATE check_in SET latitude = NULL, longitude = NULL, "
                  "accuracy_meters = NULL WHERE customer_id = $1", customer_id)
