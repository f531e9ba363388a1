"""Campaigns: an admin's marketing message to everyone who consented, a tier,
a segment or a list of customers.

A campaign has no table of its own. One header outbox event
(`CampaignCreated`, no customer) records it with its idempotency key and a
fingerprint of its body; one `CampaignMessage` event per targeted customer
carries the title and body. All are written in one transaction and consumed by
the same worker as ledger events, with the same consent, quiet hours and the
marketing cap. The campaign's id is its header event's id.

A tier's members are those loyalty.programme.tiers.tier_of places in it when the
campaign is sent: their stored tier, a retired tier counting as the active one
below it, and customers with no tier in a base tier of threshold 0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import events, ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import CampaignCreated, CampaignMessage
from loyalty.platform.db import transaction
from loyalty.platform.sql import fetch, fetchrow, is_pg, placeholders
from loyalty.programme.tiers import TierInfo, effective_tier

MAX_TITLE = 200
MAX_BODY = 1000
MAX_KEY = 100
MAX_CUSTOMERS = 10_000
_CHUNK = 500  # ids per IN (...): far below both databases' parameter limits


@dataclass(frozen=True)
class Target:
    """Exactly one of: everyone opted in to marketing, a tier, a segment, a
    list of customers."""

    everyone: bool = False
    # A tier's name as the ladder spells it (any case), or its id.
    tier: str | None = None
    customer_ids: list[int] | None = None
    # A segment's members as last evaluated (audience's segment_member table,
    # read through SQL: notifications does not import audience).
    segment_id: int | None = None


@dataclass(frozen=True)
class CampaignResult:
    id: int
    # Customers a message was written for: those who consented to marketing.
    targeted: int


def _text(value: str, field: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > limit:
        raise invalid(f"{field} must be 1 to {limit} characters.", field)
    return value


def _check_target(target: Target) -> None:
    chosen = [target.everyone, target.tier is not None, target.customer_ids is not None,
              target.segment_id is not None]
    if sum(chosen) != 1:
        raise invalid("Give exactly one of everyone: true, tier, segmentId or customerIds.",
                      "target")
    if target.tier is not None and not 1 <= len(target.tier.strip()) <= 60:
        raise invalid("tier must be a tier's name or id.", "target.tier")
    if target.customer_ids is not None and not 1 <= len(target.customer_ids) <= MAX_CUSTOMERS:
        raise invalid(f"customerIds must hold 1 to {MAX_CUSTOMERS} ids.", "target.customerIds")


def _key_lookup(conn: BaseDBAsyncClient) -> str:
    found = "payload->>'key'" if is_pg(conn) else "json_extract(payload, '$.key')"
    return f"SELECT id, payload FROM outbox_event WHERE kind = $1 AND {found} = $2"


async def _tier_members(conn: BaseDBAsyncClient, wanted: str) -> list[int]:
    """Who consented to marketing among the customers in the tier named `wanted`."""
    rows = await fetch(conn, "SELECT id, name, threshold, active FROM tier ORDER BY threshold, id")
    wanted = wanted.strip()
    chosen = [r for r in rows if r[1] == wanted]
    if not chosen:
        chosen = [r for r in rows if r[1].casefold() == wanted.casefold()]
    if not chosen and wanted.isdigit():
        chosen = [r for r in rows if r[0] == int(wanted)]
    if len(chosen) != 1:
        raise DomainError(ErrorCode.NOT_FOUND, f"No such tier: {wanted}.", "target.tier")
    tier_id, name, _, active = chosen[0]
    if not active:
        # Nobody is in it any more: its members count as the tier below.
        raise invalid(f"The tier {name} is retired.", "target.tier")
    ladder = tuple(
        TierInfo(int(r[0]), r[1], int(r[2]), Decimal(1)) for r in rows if r[3]
    )

    def placed(stored: int | None, threshold: int | None) -> bool:
        tier = effective_tier(ladder, stored, threshold)
        return tier is not None and tier.id == tier_id

    stored_ids = [int(r[0]) for r in rows if placed(int(r[0]), int(r[2]))]
    with_none = placed(None, None)
    clauses = []
    if stored_ids:
        clauses.append(f"ct.tier_id IN ({', '.join(f'${i + 2}' for i in range(len(stored_ids)))})")
    if with_none:
        clauses.append("ct.tier_id IS NULL")  # no row, or a row without a tier
    if not clauses:
        return []
    rows = await fetch(
        conn,
        "SELECT c.id FROM customer c LEFT JOIN customer_tier ct ON ct.customer_id = c.id "
        f"WHERE c.marketing_opt_in = $1 AND ({' OR '.join(clauses)}) ORDER BY c.id",
        True,
        *stored_ids,
    )
    return [r[0] for r in rows]


async def _segment_members(conn: BaseDBAsyncClient, segment_id: int) -> list[int]:
    """Who consented to marketing among the segment's members."""
    if await fetchrow(conn, "SELECT id FROM segment WHERE id = $1", segment_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such segment.", "target.segmentId")
    rows = await fetch(
        conn,
        "SELECT c.id FROM segment_member m JOIN customer c ON c.id = m.customer_id "
        "WHERE m.segment_id = $1 AND c.marketing_opt_in = $2 ORDER BY c.id",
        segment_id, True,
    )
    return [r[0] for r in rows]


async def _recipients(conn: BaseDBAsyncClient, target: Target) -> list[int]:
    if target.tier is not None:
        return await _tier_members(conn, target.tier)
    if target.segment_id is not None:
        return await _segment_members(conn, target.segment_id)
    if target.everyone:
        rows = await fetch(
            conn, "SELECT id FROM customer WHERE marketing_opt_in = $1 ORDER BY id", True
        )
        return [r[0] for r in rows]
    ids = sorted(set(target.customer_ids or []))
    found: dict[int, bool] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = placeholders(len(chunk))
        rows = await fetch(
            conn, f"SELECT id, marketing_opt_in FROM customer WHERE id IN ({marks})", *chunk
        )
        found.update({r[0]: bool(r[1]) for r in rows})
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"No such customer(s): {', '.join(map(str, unknown[:10]))}.",
            "target.customerIds",
        )
    return [i for i in ids if found[i]]


async def send_campaign(
    *,
    title: str,
    body: str,
    target: Target,
    idempotency_key: str,
    now: datetime | None = None,
) -> CampaignResult:
    """Queue `title`/`body` for every targeted customer who consented to
    marketing. A retry with the same key returns the first result and queues
    nothing; the same key with another title, body or target is refused."""
    title = _text(title, "title", MAX_TITLE)
    body = _text(body, "body", MAX_BODY)
    key = _text(idempotency_key, "idempotencyKey", MAX_KEY)
    _check_target(target)
    now = now or datetime.now(UTC)
    fingerprinted: list[object] = [
        title, body, target.everyone, sorted(set(target.customer_ids or []))
    ]
    if target.tier is not None:
        # Appended only when given: the fingerprints of earlier campaigns stay valid.
        fingerprinted.append(target.tier.strip())
    if target.segment_id is not None:
        fingerprinted.append(f"segment:{target.segment_id}")
    fingerprint = hashlib.sha256(json.dumps(fingerprinted).encode()).hexdigest()
    async with transaction() as conn:
        if is_pg(conn):
            # Two retries racing with one key: the second waits, then finds the first.
            await fetch(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", f"campaign:{key}")
        existing = await fetchrow(conn, _key_lookup(conn), CampaignCreated.kind, key)
        if existing is not None:
            recorded = events.parse(CampaignCreated.kind, existing[1])
            assert isinstance(recorded, CampaignCreated)
            if recorded.fingerprint != fingerprint:
                raise DomainError(
                    ErrorCode.IDEMPOTENCY_CONFLICT,
                    "This idempotency key was used for another campaign.",
                    "idempotencyKey",
                )
            return CampaignResult(existing[0], recorded.targeted)
        recipients = await _recipients(conn, target)
        # Nothing for the worker to do with the header itself: written processed.
        campaign_id = await ledger.emit(conn, None, CampaignCreated(
            key=key, fingerprint=fingerprint, targeted=len(recipients), title=title,
            tier=target.tier, segment_id=target.segment_id,
        ), now=now, processed=True)
        await ledger.emit_to_many(
            conn, CampaignMessage(campaign_id=campaign_id, title=title, body=body), recipients,
            now=now)
    return CampaignResult(campaign_id, len(recipients))
