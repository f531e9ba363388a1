"""Erasing a customer's devices, messages and webhook bodies (called by
loyalty/identity/privacy.py in its transaction)."""

from __future__ import annotations

import json

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute


async def erase(conn: BaseDBAsyncClient, customer_id: int) -> None:
    await execute(conn, "DELETE FROM delivery WHERE notification_id IN "
                  "(SELECT id FROM notification WHERE customer_id = $1)", customer_id)
    await execute(conn, "DELETE FROM delivery WHERE device_id IN "
                  "(SELECT id FROM device WHERE customer_id = $1)", customer_id)
    await execute(conn, "DELETE FROM notification WHERE customer_id = $1", customer_id)
    await execute(conn, "DELETE FROM device WHERE customer_id = $1", customer_id)
    # The log keeps that something was sent, not what it said.
    await execute(conn, "UPDATE webhook_delivery SET body = $1 WHERE customer_id = $2",
                  json.dumps({"customerId": str(customer_id), "erased": True}), customer_id)
