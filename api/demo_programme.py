"""A realistic demo programme (`loyalty seed-demo --customers N`): a few
thousand customers across stores, web and app, with a year and a half of
purchases, redemptions and expiries, browsing and message events, campaign
messages, acquisition sources and their costs, and a few segments; then the
stream, the scores and the segments computed, so that the 360 view, the RFM
grid and the ABCD matrix show something on a first run.

Written in bulk (executemany in one transaction, ids allocated here), not one
use case or GraphQL call per row: 3,000 customers take seconds. The ledger it
writes keeps every invariant `loyalty ledger verify` checks: each posting two
legs summing to zero, balances equal to entries, lots holding the available
points, expired and spent points taken first-expiring-first. Deterministic
for a given seed. Demo customers log in with the demo password.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from audience import consumer, jobs, membership, segments
from audience.events import StreamRow, write_events
from audience.value import month_of, record_acquisition_cost
from journeys import service as journey_service
from journeys.templates import template
from loyalty.events import CampaignMessage
from loyalty.identity import passwords
from loyalty.ledger import SYSTEM_EXPIRED, SYSTEM_ISSUED, SYSTEM_REDEEMED, system_account_id
from loyalty.ledger.history import History, Ids, PastPostings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg
from loyalty.programme import stores
from wallet.card_numbers import new_card_number
from wallet.qr import new_qr_secret

EMAIL = "shopper{:05d}@demo.test"
FIRST_NAMES = ("Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Lucas",
               "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Nathan", "Adam", "Sofia", "Noah",
               "Mila", "Liam", "Rose", "Anna", "Paul", "Zoé", "Tom", "Alice", "Victor", "Nina")
SOURCES = ((None, 35), ("instagram", 20), ("google", 20), ("newsletter", 10),
           ("partner", 10), ("flyer", 5))
CAMPAIGNS = {"instagram": ("spring", "summer", None), "google": ("brand", "generic"),
             "newsletter": (None,), "partner": ("cardco", None), "flyer": (None,)}
# (persona, weight, purchase channels, buys per year, events per month)
PERSONAS = (("store", 40, ("STORE",), 6.0, 0.5),
            ("web", 20, ("WEB",), 4.0, 10.0),
            ("omni", 30, ("STORE", "WEB", "APP"), 10.0, 15.0),
            ("browser", 10, ("WEB",), 0.3, 8.0))
EXTRA_STORES = (("Bastille", 48.853, 2.369), ("Lyon Part-Dieu", 45.760, 4.859),
                ("Bordeaux", 44.841, -0.580))
SKUS = (("coffee", "ESP-1", 350), ("coffee", "LAT-2", 450), ("bakery", "CRO-1", 180),
        ("bakery", "BRI-2", 320), ("home", "MUG-1", 1200), ("home", "BEAN-1", 1500))
POINTS_PRICE = 150
DAY = timedelta(days=1)


@dataclass
class _Rows:
    customers: list[list[Any]] = field(default_factory=list)
    accounts: list[list[Any]] = field(default_factory=list)
    cards: list[list[Any]] = field(default_factory=list)
    history: History = field(default_factory=History)
    notifications: list[list[Any]] = field(default_factory=list)
    tiers: list[list[Any]] = field(default_factory=list)
    events: list[StreamRow] = field(default_factory=list)


def _weighted(rng: random.Random, choices: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(choices, weights=[c[1] for c in choices])[0]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: small means only.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _customer(rng: random.Random, rows: _Rows, ids: Ids, system: dict[str, int],
              stores_: list[tuple[int, str]], n: int, password_hash: str,
              tier_ids: list[tuple[int, int]], now: datetime) -> None:
    customer_id, account_id = ids.take("customer"), ids.take("account")
    created = now - timedelta(days=rng.uniform(20, 540))
    source = _weighted(rng, SOURCES)[0]
    campaign = rng.choice(CAMPAIGNS[source]) if source else None
    opted_in = rng.random() < 0.65
    rows.customers.append([customer_id, EMAIL.format(n), password_hash,
                           FIRST_NAMES[n % len(FIRST_NAMES)], "fr-FR", "Europe/Paris", opted_in,
                           True, False, source, "social" if source == "instagram" else None,
                           campaign, created])
    rows.cards.append([ids.take("card"), customer_id, new_card_number(), new_qr_secret(),
                       created])
    persona, _, channels, per_year, events_per_month = _weighted(rng, PERSONAS)
    ledger = PastPostings(rows.history, ids, system, customer_id, account_id)
    # A third of the customers lapse: they stopped buying at some point.
    stops = now - timedelta(days=rng.uniform(60, 300)) if rng.random() < 0.33 else now
    years = max(0.0, (stops - created).days / 365)
    moments = sorted(created + (stops - created) * rng.random()
                     for _ in range(_poisson(rng, per_year * years * rng.uniform(0.3, 1.7))))
    home = rng.choice(stores_)
    for moment in moments:
        channel = rng.choice(channels)
        store = home if channel == "STORE" and rng.random() < 0.8 else rng.choice(stores_)
        total = int(rng.lognormvariate(math.log(3500), 0.6))
        total = max(100, total)
        ledger.purchase(store, channel, total, moment, total // 100, timedelta(days=365))
        if ledger.balance >= POINTS_PRICE and rng.random() < 0.35:
            ledger.redeem(store, POINTS_PRICE, moment + timedelta(days=rng.uniform(1, 20)))
    ledger.expire_until(now)
    rows.accounts.append([account_id, customer_id, ledger.balance, ledger.earned, now])
    for threshold, tier_id in sorted(tier_ids, reverse=True):
        if ledger.earned >= threshold and threshold > 0:
            rows.tiers.append([customer_id, tier_id, now, datetime(now.year + 1, 1, 1,
                                                                    tzinfo=UTC), now])
            break
    _behaviour(rng, rows, customer_id, persona, events_per_month, opted_in, created, now)


def _behaviour(rng: random.Random, rows: _Rows, customer_id: int, persona: str,
               per_month: float, opted_in: bool, created: datetime, now: datetime) -> None:
    """Browsing and responses to messages over the last six months."""
    since = max(created, now - timedelta(days=180))
    months = max(0.0, (now - since).days / 30)
    channel = {"store": "APP", "web": "WEB", "omni": "APP", "browser": "WEB"}[persona]
    for i in range(_poisson(rng, min(40.0, per_month * months))):
        when = since + (now - since) * rng.random()
        category, sku, price = rng.choice(SKUS)
        kind = rng.random()
        if kind < 0.6:
            name, props = "product_viewed", {"sku": sku, "category": category,
                                             "priceMinor": price, "currency": "EUR"}
        elif kind < 0.85:
            name, props = "page_viewed", {"url": f"/{category}",
                                          "utm_source": rng.choice(("news", "instagram",
                                                                    "google", None))}
        else:
            name, props = "cart_updated", {"cartId": f"c{customer_id}-{i}", "totalMinor": price,
                                           "currency": "EUR"}
        rows.events.append(StreamRow(f"demo-{customer_id}-{i}", name, channel, when, customer_id,
                                     None, json.dumps({k: v for k, v in props.items()
                                                       if v is not None})))
    if not opted_in:
        return
    responsive = {"omni": 0.6, "web": 0.35, "store": 0.15, "browser": 0.5}[persona]
    for i in range(rng.randint(0, 6)):
        when = now - timedelta(days=rng.uniform(0, 90))
        pushed = persona in ("omni", "store") and rng.random() < 0.7
        read = when + timedelta(hours=rng.uniform(0.1, 30)) if rng.random() < responsive \
            else None
        rows.notifications.append([customer_id, CampaignMessage.kind, True,
                                   rng.choice(("Your coffee is waiting", "New this week",
                                               "Double points on Saturday")),
                                   "A little something for you in store and online.",
                                   "sent" if pushed else "inbox", when,
                                   when if pushed else None, read])
        if read is not None and pushed:
            rows.events.append(StreamRow(f"demo-{customer_id}-open-{i}", "push_opened", "APP",
                                         read, customer_id, None, None))


def _sql(conn: BaseDBAsyncClient, statement: str) -> str:
    return statement if is_pg(conn) else re.sub(r"\$\d+", "?", statement)


_INSERTS = {
    "customers": "INSERT INTO customer (id, email, password_hash, first_name, locale, timezone, "
                 "marketing_opt_in, push_opt_in, location_opt_in, acquisition_source, "
                 "acquisition_medium, acquisition_campaign, created_at) VALUES "
                 "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    "accounts": "INSERT INTO account (id, kind, customer_id, available, pending, lifetime_earned, "
                "updated_at) VALUES ($1, 'customer', $2, $3, 0, $4, $5)",
    "cards": "INSERT INTO card (id, customer_id, number, qr_secret, created_at) "
             "VALUES ($1, $2, $3, $4, $5)",
    "notifications": "INSERT INTO notification (customer_id, kind, marketing, title, body, "
                     "status, attempts, created_at, sent_at, read_at) VALUES "
                     "($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)",
    "tiers": "INSERT INTO customer_tier (customer_id, tier_id, since, review_at, updated_at) "
             "VALUES ($1, $2, $3, $4, $5)",
    # The tier history (loyalty.programme.tiers.record_change): the same tier, since then.
    "tier_changes": "INSERT INTO tier_change (customer_id, tier_id, at) VALUES ($1, $2, $3)",
}


async def seed_demo_programme(count: int, *, seed: int = 20261129,
                              now: datetime | None = None) -> list[str]:
    """`count` demo customers with their history, once (a second run finds
    them and changes nothing); then the stream, scores and segments."""
    now = now or datetime.now(UTC)
    conn = connections.get("default")
    existing = await fetchrow(conn, "SELECT COUNT(*) FROM customer WHERE email LIKE $1",
                              "shopper%@demo.test")
    if existing and int(existing[0]) > 0:
        return [f"demo customers: {int(existing[0])} already there (nothing added)"]
    rng = random.Random(seed)
    password_hash = passwords.hash_password("demo-password")
    stores_ = await _stores(conn)
    tier_ids = [(int(r[1]), int(r[0])) for r in await fetch(
        conn, "SELECT id, threshold FROM tier WHERE active = $1", True)]
    system = {code: await system_account_id(conn, code)
              for code in (SYSTEM_ISSUED, SYSTEM_REDEEMED, SYSTEM_EXPIRED)}
    async with transaction() as tx:
        ids = await Ids.after_existing(tx)
        rows = _Rows()
        for n in range(1, count + 1):
            _customer(rng, rows, ids, system, stores_, n, password_hash, tier_ids, now)
        await _write(tx, rows, now)
    await write_events(rows.events, now)
    await _acquisition_costs(rng, now)
    made = await _segments()
    streamed = 0
    while True:
        done = await consumer.consume(5000, now)
        streamed += done.written
        if not done.read:
            break
    await execute(conn, "DELETE FROM segment_touch")  # the full refresh below covers them
    scored, _ = await jobs.recompute_now(now)
    changes = await membership.refresh(now)
    journeys = await _journeys(now)
    return [
        f"demo customers: {count} (log in as {EMAIL.format(1)} ... {EMAIL.format(count)}, "
        "password demo-password)",
        f"demo history: {len(rows.history.purchases)} purchases, "
        f"{len(rows.history.transactions)} postings, "
        f"{len(rows.events) + streamed} events, {len(rows.notifications)} messages",
        f"demo segments: {', '.join(made) or 'kept as they were'}; "
        f"{changes.entered} memberships",
        f"demo scores: {scored.scored} customers scored (rfmGrid, engagementMatrix)",
        f"demo journeys: {', '.join(journeys) or 'kept as they were'} (live: the worker runs "
        "them on what happens from now on)",
    ]


DEMO_JOURNEYS = ("durant_post_purchase", "welcome_series")


async def _journeys(now: datetime) -> list[str]:
    """Two shipped journeys, published, so that `journeys` shows something."""
    made = []
    for key in DEMO_JOURNEYS:
        shipped = template(key)
        assert shipped is not None
        if await fetchrow(connections.get("default"),
                          "SELECT id FROM journey WHERE template_key = $1", key) is not None:
            continue
        view = await journey_service.create_journey(name=shipped.name,
                                                    definition=shipped.definition,
                                                    template_key=key, now=now)
        await journey_service.publish_journey(view.id, now=now)
        made.append(shipped.name)
    return made


async def _stores(conn: BaseDBAsyncClient) -> list[tuple[int, str]]:
    for name, lat, lng in EXTRA_STORES:
        if await fetchrow(conn, "SELECT id FROM store WHERE name = $1", name) is None:
            await stores.create_store(name, lat, lng, "Europe/Paris")
    return [(int(r[0]), r[1]) for r in await fetch(conn, "SELECT id, name FROM store "
                                                         "ORDER BY id")]


async def _write(tx: BaseDBAsyncClient, rows: _Rows, now: datetime) -> None:
    people: dict[str, list[list[Any]]] = {
        "customers": rows.customers, "accounts": rows.accounts, "cards": rows.cards}
    after: dict[str, list[list[Any]]] = {
        "notifications": rows.notifications, "tiers": rows.tiers,
        "tier_changes": [t[:3] for t in rows.tiers]}
    await _insert(tx, people)
    # The postings, their lots, purchases and events: through the ledger.
    await rows.history.load(tx, now)
    await _insert(tx, after)
    if is_pg(tx):
        for table in Ids.TABLES:
            await fetch(tx, f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table}))")


async def _insert(tx: BaseDBAsyncClient, batches: dict[str, list[list[Any]]]) -> None:
    for name, values in batches.items():
        for start in range(0, len(values), 5000):
            if values[start:start + 5000]:
                await tx.execute_many(_sql(tx, _INSERTS[name]), values[start:start + 5000])


async def _acquisition_costs(rng: random.Random, now: datetime) -> None:
    month = now.replace(day=1)
    for _ in range(18):
        for source, _weight in SOURCES:
            if source is not None:
                await record_acquisition_cost(
                    source=source, campaign=None, month=month_of(month),
                    amount_minor=rng.randint(20_00, 400_00), currency="EUR", staff_id=None)
        month = (month - DAY).replace(day=1)


_DEMO_SEGMENTS = (
    ("Champions", "Recent, frequent buyers: thank them.", {"rfm": ["CHAMPIONS"]}),
    ("At risk big spenders", "Spent a lot, not lately.",
     {"all": [{"spend": {"gte": 20000}}, {"lastPurchase": {"olderThan": "P60D"}}]}),
    ("Browsers who never bought", "Web visitors to convert.",
     {"all": [{"event": "product_viewed", "gte": 3}, {"purchases": {"lt": 1}}]}),
    ("Multichannel", "Bought or engaged on three channels or more.",
     {"channels": {"gte": 3}}),
    ("Clickers who buy little", "Quadrant A: they open, they do not buy.",
     {"engagement": ["A"]}),
)


async def _segments() -> list[str]:
    made = []
    existing = {s.name for s in await segments.list_segments()}
    for name, description, definition in _DEMO_SEGMENTS:
        if name not in existing:
            await segments.create_segment(name=name, description=description,
                                          definition=definition, staff_id=None)
            made.append(name)
    return made

