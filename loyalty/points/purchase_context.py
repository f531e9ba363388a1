"""What a purchase earns under the programme: the customer's context (tier,
first purchase, birthday, clipped offers), the active rules, the store's day.

`evaluate_purchase` is what `simulatePurchase` runs; `record_purchase` runs
the same pieces, reading the context under the account's lock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.ledger import Channel
from loyalty.money import Money
from loyalty.platform.config import get_settings
from loyalty.platform.sql import fetchrow
from loyalty.programme import rules as engine
from loyalty.programme.earn_rules import active_rules
from loyalty.programme.offers import clipped_offer_exists
from loyalty.programme.stores import store_info
from loyalty.programme.tiers import TIER_AT_SQL, TierInfo, active_tiers, effective_tier

# Kinds whose firing depends on the customer's history, not only on the basket.
_ONCE = frozenset({engine.RuleKind.FIRST_PURCHASE, engine.RuleKind.BIRTHDAY})

_CONTEXT_SQL = f"""SELECT c.birth_date, c.birthday_bonus_year,
  EXISTS (SELECT 1 FROM purchase p WHERE p.customer_id = c.id),
  (SELECT ct.tier_id FROM customer_tier ct WHERE ct.customer_id = c.id),
  {clipped_offer_exists("c.id", "$1")},
  ({TIER_AT_SQL.format(customer="c.id", at="$2")})
FROM customer c WHERE c.id = $3"""


@dataclass(frozen=True)
class CustomerContext:
    birth_date: date | None
    birthday_bonus_year: int | None
    has_purchased: bool
    # The tier held now: what the one-statement path's guard expects.
    tier_id: int | None
    has_offers: bool
    # The tier held when the purchase happened (tier_change), which its
    # points earn with: an offline till's purchase of five days ago earns
    # with the multiplier of five days ago.
    tier_then_id: int | None = None


@dataclass(frozen=True)
class Programme:
    """The active rules and tiers, as cached by their modules."""

    rules: tuple[engine.Rule, ...]
    tiers: tuple[TierInfo, ...]

    @property
    def uses_context(self) -> bool:
        return bool(self.tiers) or any(
            r.kind in _ONCE or r.conditions.tiers for r in self.rules
        )

    @property
    def birthday_rule_ids(self) -> frozenset[int]:
        return frozenset(r.id for r in self.rules if r.kind == engine.RuleKind.BIRTHDAY)

    def tier(self, tier_id: int | None) -> TierInfo | None:
        # As tiers.tier_of reads it: a threshold-0 tier is everyone's; a
        # deactivated tier counts as the base tier here (its threshold is not
        # read on the purchase path).
        return effective_tier(self.tiers, tier_id) if self.tiers else None


async def programme(conn: BaseDBAsyncClient) -> Programme:
    return Programme(await active_rules(), await active_tiers(conn))


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


async def read_context(
    conn: BaseDBAsyncClient, customer_id: int, now: datetime, at: datetime | None = None
) -> CustomerContext:
    """The customer's facts now, and their tier at `at` (the purchase's
    occurredAt; now by default)."""
    # In the order the placeholders appear (SQLite numbers them so).
    row = await fetchrow(conn, _CONTEXT_SQL, now, at or now, customer_id)
    if row is None:
        return CustomerContext(None, None, False, None, False)
    context = CustomerContext(_as_date(row[0]), row[1], bool(row[2]), row[3], bool(row[4]),
                              row[5])
    if at is None or at >= now - RECENT:
        _remember(customer_id, context)
    return context


# Facts that change rarely or only one way (a customer who has bought has
# bought for ever), kept briefly so that the one-statement purchase path needs
# no read first; whatever it assumes is re-checked by that statement's guards.
_CACHE_SECONDS = 60.0
_CACHE_MAX = 50_000
_known: dict[int, tuple[float, CustomerContext]] = {}


def _remember(customer_id: int, context: CustomerContext) -> None:
    if len(_known) >= _CACHE_MAX:
        _known.clear()
    _known[customer_id] = (time.monotonic() + _CACHE_SECONDS, context)


# A purchase this recent earns with the tier held now: a tier change since
# forgets the cached context (or, in another process, fails the one-statement
# path's guard on the tier held now).
RECENT = timedelta(minutes=5)


def cached_context(customer_id: int, at: datetime | None = None,
                   now: datetime | None = None) -> CustomerContext | None:
    """A recent context; none for a purchase older than RECENT, whose tier
    then is read from the history."""
    if at is not None and now is not None and at < now - RECENT:
        return None
    hit = _known.get(customer_id)
    if hit is None or hit[0] < time.monotonic() or not hit[1].has_purchased:
        return None
    return hit[1]


def forget(customer_id: int) -> None:
    _known.pop(customer_id, None)


def facts_for(
    context: CustomerContext | None, programme: Programme, local_day: date
) -> engine.CustomerFacts:
    if context is None:
        return engine.CustomerFacts()
    tier = programme.tier(context.tier_then_id)
    return engine.CustomerFacts(
        tier=tier.name if tier else None,
        tier_multiplier=tier.multiplier if tier else engine.CustomerFacts().tier_multiplier,
        first_purchase=not context.has_purchased,
        birthday_today=engine.is_birthday(context.birth_date, local_day)
        and context.birthday_bonus_year != local_day.year,
    )


def local_date(when: datetime, timezone: str) -> date:
    """The purchase's day where it happened: date rules follow the store's clock."""
    return when.astimezone(ZoneInfo(timezone)).date()


def purchase_facts(
    total: Money, lines: tuple[engine.Line, ...], channel: Channel, store_id: int, day: date
) -> engine.PurchaseFacts:
    return engine.PurchaseFacts(
        total_minor=total.amount_minor,
        exponent=total.exponent,
        channel=channel.value,
        store_id=store_id,
        local_date=day,
        lines=lines,
    )


def run_rules(
    facts: engine.PurchaseFacts, customer: engine.CustomerFacts, programme: Programme
) -> engine.Evaluation:
    return engine.evaluate(facts, customer, programme.rules, get_settings().points_per_unit)


async def evaluate_purchase(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int | None,
    store_id: int,
    total: Money,
    lines: tuple[engine.Line, ...],
    channel: str,
    occurred_at: datetime,
) -> engine.Evaluation:
    """The points a purchase would earn now, without posting anything (no
    offers or coupon: those are the till's). Unknown store -> NOT_FOUND."""
    _, timezone = await store_info(conn, store_id)
    day = local_date(occurred_at, timezone)
    prog = await programme(conn)
    context = (
        None if customer_id is None
        else await read_context(conn, customer_id, datetime.now(UTC), at=occurred_at)
    )
    return run_rules(
        purchase_facts(total, lines, Channel(channel), store_id, day),
        facts_for(context, prog, day),
        prog,
    )
