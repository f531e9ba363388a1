"""Consent history: every change of a consent, with its time and source."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute

# Customer columns that are consents, and their names in the history.
CONSENTS = {"marketing_opt_in": "marketing", "push_opt_in": "push",
            "location_opt_in": "location", "email_opt_in": "email", "sms_opt_in": "sms"}


async def record(conn: BaseDBAsyncClient, customer_id: int, changes: Mapping[str, bool],
                 source: str, at: datetime | None = None) -> None:
    """`changes`: customer column -> new value; other columns are ignored."""
    at = at or datetime.now(UTC)
    for column, granted in changes.items():
        if column in CONSENTS:
            await execute(conn, "INSERT INTO consent_change (customer_id, consent, granted, "
                          "source, at) VALUES ($1, $2, $3, $4, $5)",
                          customer_id, CONSENTS[column], bool(granted), source, at)
