"""Demo data so that a first run has someone to log in as."""

from __future__ import annotations

from loyalty import identity, stores
from loyalty.models import Customer, Staff, StaffRole, Store
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
    alice = await Customer.get(email="alice@demo.test")
    card = await Card.get(customer_id=alice.id)
    return [
        f"demo store:    {store.name} (storeId {store.id})",
        f"demo admin:    admin@demo.test / {DEMO_PASSWORD}   (staffLogIn)",
        f"demo cashier:  cashier@demo.test / {DEMO_PASSWORD} (staffLogIn)",
        f"demo customer: alice@demo.test / {DEMO_PASSWORD}   (logIn), card "
        f"{format_card_number(card.number)}",
    ]
