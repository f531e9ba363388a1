"""API clients: servers (a web shop, a call-centre tool, a POS integration)
that call with `Authorization: Bearer lk_<prefix>_<secret>`.

The secret is shown once, at creation; the database keeps its SHA-256 (a
32-byte random secret needs no slow hash: it cannot be guessed, only stolen).
The prefix finds the row, the hash is compared in constant time.

Revocation is effective in every server process within `_TTL_SECONDS` (1 s):
each process keeps a client's row that long, then reads it again. The
process that revokes drops its copy at once. One indexed read per client per
second per process is cheaper than a NOTIFY channel and cannot miss a
revocation while a listener reconnects (docs/adr/0015-api-clients.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import audit
from loyalty.identity.tokens import Principal
from loyalty.models import ApiScope
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, placeholders

SECRET_PREFIX = "lk_"
_TTL_SECONDS = 1.0
# last_used_at is written at most this often per client and process.
_LAST_USE_EVERY = timedelta(minutes=1)
MAX_NAME = 200


@dataclass(frozen=True)
class ApiClientView:
    id: int
    name: str
    scopes: tuple[str, ...]
    store_ids: tuple[int, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_client_secret(token: str) -> bool:
    return token.startswith(SECRET_PREFIX)


def _check_scopes(scopes: list[str]) -> tuple[str, ...]:
    parsed = set()
    for scope in scopes:
        try:
            parsed.add(ApiScope(scope).value)
        except ValueError:
            raise invalid(f"Unknown scope {scope!r}.", "scopes") from None
    if not parsed:
        raise invalid("A client needs at least one scope.", "scopes")
    return tuple(s.value for s in ApiScope if s.value in parsed)  # in the enum's order


async def create_api_client(
    actor: Principal, name: str, scopes: list[str], store_ids: list[int]
) -> tuple[ApiClientView, str]:
    """The new client and its secret (returned once, never stored)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        raise invalid(f"name must be 1 to {MAX_NAME} characters.", "name")
    checked = _check_scopes(scopes)
    stores = tuple(sorted(set(store_ids)))
    if ApiScope.PURCHASES.value in checked and not stores:
        # Least privilege: a client that posts purchases names where.
        raise invalid("A client with scope PURCHASES needs at least one store.", "storeIds")
    prefix = secrets.token_hex(4)
    secret = f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    async with transaction() as conn:
        if stores:
            marks = placeholders(len(stores))
            found = await fetch(conn, f"SELECT id FROM store WHERE id IN ({marks})", *stores)
            if len(found) != len(stores):
                raise DomainError(ErrorCode.NOT_FOUND, "Unknown store.", "storeIds")
        row = await fetchrow(
            conn,
            "INSERT INTO api_client (name, prefix, secret_hash, scopes, store_ids, created_by, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            name,
            prefix,
            hash_secret(secret),
            _json(list(checked)),
            _json(list(stores)),
            actor.subject_id if actor.is_staff else None,
            now,
        )
        assert row is not None
        await audit.record(conn, actor, "api_client.created", target_kind="api_client",
                           target_id=row[0], detail={"scopes": list(checked),
                                                     "store_ids": list(stores)}, at=now)
    return ApiClientView(row[0], name, checked, stores, now, None, None), secret


async def revoke_api_client(actor: Principal, client_id: int) -> None:
    now = datetime.now(UTC)
    async with transaction() as conn:
        row = await fetchrow(conn, "SELECT prefix, revoked_at FROM api_client WHERE id = $1",
                             client_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such API client.", "clientId")
        if row[1] is None:
            await execute(conn, "UPDATE api_client SET revoked_at = $1 WHERE id = $2", now,
                          client_id)
            await audit.record(conn, actor, "api_client.revoked", target_kind="api_client",
                               target_id=client_id, at=now)
    _cache.pop(row[0], None)


async def list_api_clients() -> list[ApiClientView]:
    rows = await fetch(
        connections.get("default"),
        "SELECT id, name, scopes, store_ids, created_at, revoked_at, last_used_at "
        "FROM api_client ORDER BY id",
    )
    return [_view(r) for r in rows]


def _view(r: tuple) -> ApiClientView:
    return ApiClientView(
        id=r[0],
        name=r[1],
        scopes=tuple(_unjson(r[2])),
        store_ids=tuple(int(s) for s in _unjson(r[3])),
        created_at=as_datetime(r[4]),
        revoked_at=None if r[5] is None else as_datetime(r[5]),
        last_used_at=None if r[6] is None else as_datetime(r[6]),
    )


# prefix -> (read at, row or None); row = (id, secret_hash, scopes, store_ids, revoked)
_cache: dict[str, tuple[float, tuple[int, str, frozenset[str], tuple[int, ...], bool] | None]] = {}
_last_use_written: dict[int, datetime] = {}


class UnknownClient(Exception):
    """The secret names no client, the wrong one, or a revoked one."""


async def authenticate(secret: str) -> Principal:
    """The client a secret belongs to, as a principal; UnknownClient otherwise
    (unknown, mistyped and revoked secrets are refused alike)."""
    _, _, rest = secret.partition(SECRET_PREFIX)
    prefix, sep, _ = rest.partition("_")
    if not sep or not prefix or len(prefix) > 16:
        raise UnknownClient
    now = time.monotonic()
    hit = _cache.get(prefix)
    if hit is None or now - hit[0] > _TTL_SECONDS:
        row = await fetchrow(
            connections.get("default"),
            "SELECT id, secret_hash, scopes, store_ids, revoked_at FROM api_client "
            "WHERE prefix = $1",
            prefix,
        )
        value = None if row is None else (
            row[0], row[1], frozenset(_unjson(row[2])), tuple(int(s) for s in _unjson(row[3])),
            row[4] is not None,
        )
        if len(_cache) > 10_000:
            _cache.clear()
        hit = (now, value)
        _cache[prefix] = hit
    found = hit[1]
    if found is None or found[4] or not hmac.compare_digest(found[1], hash_secret(secret)):
        raise UnknownClient
    await _note_use(found[0])
    return Principal("client", found[0], store_ids=found[3], scopes=found[2])


async def _note_use(client_id: int) -> None:
    now = datetime.now(UTC)
    last = _last_use_written.get(client_id)
    if last is not None and now - last < _LAST_USE_EVERY:
        return
    _last_use_written[client_id] = now
    # Other processes may have written it meanwhile: the condition keeps the
    # write to once a minute overall, give or take one per process.
    await execute(
        connections.get("default"),
        "UPDATE api_client SET last_used_at = $1 WHERE id = $2 "
        "AND (last_used_at IS NULL OR last_used_at < $3)",
        now,
        client_id,
        now - _LAST_USE_EVERY,
    )


def forget_cached() -> None:
    _cache.clear()
    _last_use_written.clear()


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def _unjson(value: object) -> list:
    import json

    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])  # type: ignore[call-overload]
