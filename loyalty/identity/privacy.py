"""A customer's data: all of it as JSON (GDPR access), and its erasure.

Erasure keeps the customer row, anonymous, because the ledger points at it:
the ledger stays whole and balanced, with nobody behind it. In one
transaction: the remaining balance is closed through the ledger (an ADJUST
against the adjustments account), personal fields are overwritten, every
session is revoked (and announced, so sockets close in every process),
consents are withdrawn and recorded, the customer's outbox payloads are
blanked, and each other package erases its own rows through the erasers the
caller passes (the core imports none of them). A `customer.erased` event
tells webhooks to erase too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode
from loyalty.events import ERASED_PAYLOAD, CustomerErased, PointsClosed
from loyalty.identity import audit, consents
from loyalty.identity.tokens import Principal
from loyalty.ledger import Channel, Close, Kind, Posting, request_hash
from loyalty.platform.bus import SESSION_CHANNEL, EndedSession, sessions
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg

# conn, customer id -> rows of a package's tables (export) / nothing (erase).
Eraser = Callable[[BaseDBAsyncClient, int], Awaitable[None]]

# Never exported: credentials and keys, which the customer does not need and
# a leaked export must not carry.
SECRET_COLUMNS = frozenset({"password_hash", "qr_secret", "token_hash", "request_hash",
                            "secret", "secret_hash"})
# Tables keyed by the customer's points account rather than the customer.
_BY_ACCOUNT = ("ledger_entry", "lot")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _tables_with_customer_id() -> list[str]:
    """Every table of every model that has a customer_id column."""
    tables = set()
    for models in Tortoise.apps.values():
        for model in models.values():
            meta = model._meta
            if "customer_id" in meta.fields_db_projection.values():
                tables.add(meta.db_table)
    return sorted(tables - {"customer", "account"})


async def export_data(customer_id: int) -> dict[str, Any]:
    """Everything held on the customer, table by table, secrets left out."""
    async with transaction() as conn:
        customer = await _rows(conn, "customer", "id", customer_id)
        if not customer or customer[0].get("erased_at"):
            raise DomainError(ErrorCode.NOT_FOUND, "No such customer.")
        account = await _rows(conn, "account", "customer_id", customer_id)
        data: dict[str, Any] = {"exportedAt": datetime.now(UTC).isoformat(),
                                "customer": customer[0], "account": account}
        for table in _tables_with_customer_id():
            data[table] = await _rows(conn, table, "customer_id", customer_id)
        if account:
            for table in _BY_ACCOUNT:
                data[table] = await _rows(conn, table, "account_id", account[0]["id"])
    return data


async def _rows(conn: BaseDBAsyncClient, table: str, column: str, value: int
                ) -> list[dict[str, Any]]:
    # Table and column names come from the models, never from input.
    rows = await conn.execute_query_dict(
        f"SELECT * FROM {table} WHERE {column} = {'$1' if is_pg(conn) else '?'} ORDER BY 1",
        [value])
    return [{k: _plain(v) for k, v in row.items() if k not in SECRET_COLUMNS} for row in rows]


def _anonymous_email(customer_id: int) -> str:
    return f"erased-{customer_id}@erased.invalid"


async def erase_customer(actor: Principal | None, customer_id: int, *, source: str,
                         erasers: Sequence[Eraser] = ()) -> list[EndedSession]:
    """Erase, all or nothing. Returns the sessions ended (already announced).
    Erasing an erased customer changes nothing."""
    now = datetime.now(UTC)
    ended: list[EndedSession] = []
    async with transaction() as conn:
        pg = is_pg(conn)
        row = await fetchrow(conn, "SELECT erased_at FROM customer WHERE id = $1 FOR UPDATE",
                             customer_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such customer.", "customerId")
        if row[0] is not None:
            return []
        await _close_balance(conn, customer_id, now)
        families = await fetch(conn, "SELECT DISTINCT family FROM refresh_token "
                               "WHERE subject_kind = 'customer' AND subject_id = $1 "
                               "AND revoked_at IS NULL", customer_id)
        await execute(conn, "UPDATE refresh_token SET revoked_at = $1 WHERE subject_kind = "
                      "'customer' AND subject_id = $2 AND revoked_at IS NULL", now, customer_id)
        ended = [EndedSession("customer", customer_id, str(f[0])) for f in families]
        current = await fetchrow(conn, f"SELECT {', '.join(consents.CONSENTS)} "
                                 "FROM customer WHERE id = $1", customer_id)
        assert current is not None
        withdrawn = {k: False for k, v in zip(consents.CONSENTS, current, strict=True) if v}
        await consents.record(conn, customer_id, withdrawn, "erasure", now)
        await execute(
            conn,
            "UPDATE customer SET email = $1, password_hash = '!', first_name = '', "
            "birth_date = NULL, phone = NULL, external_id = NULL, locale = 'en', "
            "timezone = 'UTC', quiet_hours_start = NULL, quiet_hours_end = NULL, "
            "marketing_opt_in = $2, push_opt_in = $3, location_opt_in = $4, "
            "email_opt_in = $5, sms_opt_in = $6, "
            "email_verified_at = NULL, erased_at = $7 WHERE id = $8",
            _anonymous_email(customer_id), False, False, False, False, False, now, customer_id)
        await execute(conn, "DELETE FROM email_token WHERE customer_id = $1", customer_id)
        await execute(conn, "UPDATE survey_response SET comment = NULL WHERE customer_id = $1",
                      customer_id)
        # What the messages said (a campaign's text may name the customer);
        # the consumers that still read these rows skip them (events.parse).
        await execute(conn, "UPDATE outbox_event SET payload = $1, processed_at = "
                      "COALESCE(processed_at, $2) WHERE customer_id = $3",
                      ERASED_PAYLOAD, now, customer_id)
        for erase in erasers:
            await erase(conn, customer_id)
        await ledger.emit(conn, customer_id, CustomerErased(customer_id=customer_id), now=now)
        await audit.record(conn, actor, CustomerErased.kind, target_kind="customer",
                           target_id=customer_id, detail={"source": source}, at=now)
        if pg:
            for session in ended:
                # Heard by every process at commit: the sockets close.
                await fetch(conn, "SELECT pg_notify($1, $2)", SESSION_CHANNEL,
                            session.payload())
    if not pg:
        for session in ended:
            sessions.publish(session)
    return ended


async def _close_balance(conn: BaseDBAsyncClient, customer_id: int, now: datetime) -> None:
    """The points left leave through the ledger (ADJUST to the adjustments
    account), so that the programme's liability drops and `ledger verify`
    holds; a debt (negative balance) is left as it is."""
    account = await fetchrow(conn, "SELECT id FROM account WHERE customer_id = $1",
                             customer_id)
    if account is None:
        return
    account_id = account[0]
    await ledger.lock(conn, account_id, now)  # and its matured lots counted
    balance = await fetchrow(conn, "SELECT available, pending FROM account WHERE id = $1",
                             account_id)
    assert balance is not None
    closing = max(balance[0], 0) + balance[1]
    if closing <= 0:
        return
    await ledger.post(conn, Posting(
        kind=Kind.ADJUST, channel=Channel.SYSTEM, customer_id=customer_id,
        account_id=account_id, points=-closing, lots=Close(), description="Account closed",
        key=f"sys:erase:{customer_id}", fingerprint=request_hash("erase", customer=customer_id),
        event=PointsClosed(), occurred_at=now, now=now,
    ))
