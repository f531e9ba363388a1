"""Demo data so that a first run has someone to log in as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.identity import accounts as identity
from loyalty.models import Customer, EarnRule, Offer, Reward, Staff, StaffRole, Store, Tier
from loyalty.programme import earn_rules, offers, rewards, stores, tier_admin
from wallet.card_numbers import format_card_number
from wallet.cards import issue_card
from wallet.models import Card

DEMO_PASSWORD = "demo-password"
DEMO_STORE = "Opéra"


async def seed_demo() -> list[str]:
    """Idempotent: running it twice leaves one of each."""
    store = await Store.filter(name=DEMO_STORE).first()
    if store is None:
        store = await stores.create_store(DEMO_STORE, 48.8708, 2.3319, "Europe/Paris")
    if not await Staff.filter(email="admin@demo.test").exists():
        await stores.create_staff("admin@demo.test", DEMO_PASSWORD, StaffRole.ADMIN, [])
    if not await Staff.filter(email="cashier@demo.test").exists():
        await stores.create_staff("cashier@demo.test", DEMO_PASSWORD, StaffRole.CASHIER, [store.id])
    if not await Customer.filter(email="alice@demo.test").exists():
        await identity.sign_up(
            email="alice@demo.test",
            password=DEMO_PASSWORD,
            first_name="Alice",
            locale="fr-FR",
            timezone="Europe/Paris",
            issue_card=issue_card,
        )
    programme = await seed_programme()
    alice = await Customer.get(email="alice@demo.test")
    card = await Card.get(customer_id=alice.id)
    return [
        f"demo store:    {store.name} (storeId {store.id})",
        f"demo admin:    admin@demo.test / {DEMO_PASSWORD}   (staffLogIn)",
        f"demo cashier:  cashier@demo.test / {DEMO_PASSWORD} (staffLogIn)",
        f"demo customer: alice@demo.test / {DEMO_PASSWORD}   (logIn), card "
        f"{format_card_number(card.number)}",
        *programme,
    ]


async def seed_programme() -> list[str]:
    """A small programme to try the app against, made only where the
    programme has none of that kind yet (so a real one is never touched)."""
    made = []
    if not await Tier.exists():
        for name, threshold, multiplier in (("Member", 0, "1"), ("Silver", 500, "1.25"),
                                            ("Gold", 2000, "1.5")):
            await tier_admin.create_tier(None, name=name, threshold=threshold,
                                         multiplier=multiplier)
        made.append("tiers Member / Silver (500) / Gold (2000)")
    if not await EarnRule.exists():
        await earn_rules.create_rule(None, name="Coffee double", label="x2 on coffee",
                                     kind="MULTIPLIER", rate="2",
                                     conditions={"categories": ["coffee"]})
        await earn_rules.create_rule(None, name="Welcome", label="+50 first purchase",
                                     kind="FIRST_PURCHASE", points=50)
        await earn_rules.create_rule(None, name="Birthday", label="+100 happy birthday",
                                     kind="BIRTHDAY", points=100)
        await earn_rules.create_rule(None, name="Survey", label="+20 for your feedback",
                                     kind="SURVEY", points=20)
        made.append("earn rules: x2 on coffee, first purchase, birthday, survey")
    if not await Reward.exists():
        await rewards.create_reward(name="Free coffee", points_price=150,
                                    benefit_kind="AMOUNT_OFF", benefit_value=350,
                                    description="A coffee of your choice, on us.")
        made.append("reward: Free coffee (150 points)")
    if not await Offer.exists():
        await offers.create_offer(title="2 EUR off from 10 EUR", benefit_kind="AMOUNT_OFF",
                                  benefit_value=200, min_basket_minor=1000,
                                  ends_at=datetime.now(UTC) + timedelta(days=30))
        made.append("offer: 2 EUR off from 10 EUR (activateOffer, then buy)")
    return [f"demo programme: {line}" for line in made]
