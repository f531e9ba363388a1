"""The common purchase on PostgreSQL, in one statement and one round trip.

Nothing pending, no coupon presented, no clipped offer to apply and no
once-only bonus (first purchase, birthday) due: the rules' result depends only
on the basket and the customer's tier, so it is computed first and the
purchase's posting (the same `ledger.Posting` the general path posts) is
written by one statement compiled from the same rows
(`ledger.post_in_one_statement`, docs/adr/0020). The statement re-checks, in
the snapshot that takes the account's row lock, what the computation assumed:
that the customer holds no usable clipped offer and, when the programme has
tiers, that the tier is the one the rules saw. When a guard fails nothing is
written and the caller takes the general path, which reads everything under
the lock."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import ledger
from loyalty.ledger import Posted, Posting
from loyalty.ledger.statement import Guard
from loyalty.programme.offers import clipped_offer_exists


def _no_offer_sql(customer: str, now: str) -> str:
    return f"NOT {clipped_offer_exists(customer, now)}"


def _tier_sql(customer: str, tier: str) -> str:
    return (f"COALESCE((SELECT tier_id FROM customer_tier WHERE customer_id = {customer}), 0) "
            f"= {tier}")


_NO_CLIPPED_OFFER = Guard("no clipped offer", ("customer", "now"), _no_offer_sql)


def _tier_is(tier_id: int | None) -> Guard:
    return Guard("tier is", ("customer", "tier"), _tier_sql, (("tier", tier_id or 0),))


def guards(posting: Posting, expected_tier_id: int | None, with_tiers: bool) -> list[Guard]:
    """What the statement re-checks of what the rules assumed."""
    found = [_NO_CLIPPED_OFFER]
    if with_tiers:
        found.append(_tier_is(expected_tier_id))
    return found


async def earn_in_one_statement(
    conn: BaseDBAsyncClient,
    *,
    posting: Posting,
    expected_tier_id: int | None,
    with_tiers: bool,
) -> Posted | None:
    """The posting, or None when a guard failed and nothing was written.
    IntegrityError (a key or receipt already used) propagates."""
    return await ledger.post_in_one_statement(
        conn, posting, guards(posting, expected_tier_id, with_tiers))
