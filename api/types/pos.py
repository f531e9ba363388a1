"""The cashier's side: cards, purchases, redemptions, refunds."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.types.common import Channel, LedgerKind, Money, MoneyInput, UserError
from api.types.customer import Offer
from loyalty.ledger import TransactionResult
from loyalty.programme.benefits import Applied
from wallet.cards import CardHolder


@strawberry.input(
    description="A card presented at the till: exactly one of qrPayload or cardNumber, or, "
    "for an API client with scope CUSTOMERS_READ, exactly one of customerId or email."
)
class CardInput:
    qr_payload: str | None = strawberry.field(
        default=strawberry.UNSET, description="The scanned QR payload (see LoyaltyCard)."
    )
    card_number: str | None = strawberry.field(
        default=strawberry.UNSET, description="The printed card number, typed in (spaces allowed)."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The customer's id (API clients with scope CUSTOMERS_READ only).",
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The customer's email (API clients with scope CUSTOMERS_READ only).",
    )


@strawberry.type(description="What a cashier may see of a customer.")
class CashierCustomerView:
    first_name: str = strawberry.field(description="First name, to greet the customer.")
    card_number: str = strawberry.field(description="The card number.")
    available_points: int = strawberry.field(description="Points usable now.")
    customer_id: strawberry.Private[int] = 0
    store_id: strawberry.Private[int] = 0

    @strawberry.field(
        description="Offers usable in this store, clipped or not (`activated`): the cashier "
        "can suggest clipping one in the app; clipped ones apply to the next purchase."
    )
    async def offers(self) -> list[Offer]:
        from datetime import UTC, datetime

        from tortoise import connections

        from loyalty.programme.offers import offers_for

        found = await offers_for(
            connections.get("default"), self.customer_id, self.store_id, datetime.now(UTC)
        )
        return [Offer.of(o) for o in found]

    @strawberry.field(description="The tier's name, if any.")
    async def tier(self) -> str | None:
        from tortoise import connections

        from loyalty.programme.tiers import tier_of

        found = await tier_of(connections.get("default"), self.customer_id)
        return None if found is None else found.name

    @staticmethod
    def of(
        holder: CardHolder, store_id: int, available: int | None = None
    ) -> CashierCustomerView:
        points = holder.available if available is None else available
        assert points is not None, "a cached holder needs the balance from the posting"
        return CashierCustomerView(
            first_name=holder.first_name,
            card_number=holder.card_number,
            customer_id=holder.customer_id,
            store_id=store_id,
            available_points=points,
        )


@strawberry.type(description="The result of a card lookup.")
class CardLookupPayload:
    customer: CashierCustomerView | None = strawberry.field(description="The card's holder.")
    errors: list[UserError] = strawberry.field(description="Why the lookup failed.")


@strawberry.input(description="One line of a receipt.")
class PurchaseLineInput:
    sku: str = strawberry.field(description="The product's SKU.")
    category: str | None = strawberry.field(
        default=strawberry.UNSET, description="Product category."
    )
    quantity: int = strawberry.field(description="How many.")
    unit_price: MoneyInput = strawberry.field(description="Price of one.")


@strawberry.input(description="A purchase to earn points for.")
class RecordPurchaseInput:
    idempotency_key: str = strawberry.field(
        description="Client-generated, unique per purchase; reuse it on retries."
    )
    card: CardInput = strawberry.field(description="The customer's card.")
    store_id: strawberry.ID = strawberry.field(description="The store.")
    receipt_id: str = strawberry.field(description="Unique per store.")
    total: MoneyInput = strawberry.field(description="The amount paid.")
    lines: list[PurchaseLineInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Receipt lines (used by earn rules)."
    )
    channel: Channel | None = strawberry.field(
        default=Channel.STORE,
        description="Where it was bought.",
    )
    occurred_at: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="When it was bought; now when omitted (offline tills).",
    )
    coupon_code: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A coupon the customer presents (single-use; case and spaces ignored). "
        "If it cannot be applied nothing is posted and the error says why "
        "(COUPON_NOT_FOUND, COUPON_EXPIRED, COUPON_ALREADY_USED, or COUPON_NOT_VALID_HERE: "
        "limited to other channels than this store's kind, PHYSICAL = STORE, ONLINE = WEB, "
        "CALL_CENTRE = PHONE, or an amount off in another currency).",
    )


@strawberry.type(description="A posted ledger transaction.")
class LedgerTransaction:
    id: strawberry.ID = strawberry.field(description="The transaction's id.")
    kind: LedgerKind = strawberry.field(description="What it did.")
    points: int = strawberry.field(description="Signed, from the customer's point of view.")
    description: str = strawberry.field(description="Human-readable why.")
    created_at: datetime = strawberry.field(description="When it was posted.")

    @staticmethod
    def of(txn: TransactionResult) -> LedgerTransaction:
        return LedgerTransaction(
            id=strawberry.ID(str(txn.id)),
            kind=LedgerKind(txn.kind),
            points=txn.points,
            description=txn.description,
            created_at=txn.created_at,
        )


@strawberry.type(description="An offer or coupon a purchase applied.")
class AppliedBenefit:
    title: str = strawberry.field(description="The offer's or coupon's title.")
    kind: str = strawberry.field(description="PERCENT_OFF, AMOUNT_OFF or BONUS_POINTS.")
    source: str = strawberry.field(description="OFFER (clipped to the card) or COUPON.")
    discount: Money = strawberry.field(
        description="The amount to take off the bill (zero for bonus points)."
    )
    bonus_points: int = strawberry.field(description="Points added on top of the rules'.")

    @staticmethod
    def of(applied: Applied, currency: str) -> AppliedBenefit:
        return AppliedBenefit(
            title=applied.title,
            kind=applied.kind,
            source=applied.source.upper(),
            discount=Money(amount_minor=applied.discount_minor, currency=currency),
            bonus_points=applied.bonus_points,
        )


@strawberry.type(description="The result of recordPurchase.")
class RecordPurchasePayload:
    transaction: LedgerTransaction | None = strawberry.field(description="The posting.")
    customer: CashierCustomerView | None = strawberry.field(description="The customer after.")
    errors: list[UserError] = strawberry.field(description="Why nothing was posted.")
    applied: list[AppliedBenefit] = strawberry.field(
        default_factory=list,
        description="The clipped offers and the coupon applied, each once; the same list "
        "on a retry. Points were earned on the total less these discounts.",
    )
    discount: Money | None = strawberry.field(
        default=None, description="All discounts together: what the till takes off the bill."
    )


@strawberry.input(description="Points to spend.")
class RedeemPointsInput:
    idempotency_key: str = strawberry.field(description="Client-generated; reuse on retries.")
    card: CardInput = strawberry.field(
        description="The customer's card: a QR code not yet used for a redemption."
    )
    store_id: strawberry.ID = strawberry.field(description="The store.")
    points: int = strawberry.field(description="Points to spend, > 0.")
    receipt_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="The till's receipt."
    )


@strawberry.type(description="The result of redeemPoints.")
class RedeemPointsPayload:
    transaction: LedgerTransaction | None = strawberry.field(description="The posting.")
    customer: CashierCustomerView | None = strawberry.field(description="The customer after.")
    errors: list[UserError] = strawberry.field(description="Why nothing was posted.")


@strawberry.input(description="Goods returned.")
class RefundPurchaseInput:
    idempotency_key: str = strawberry.field(description="Client-generated; reuse on retries.")
    store_id: strawberry.ID = strawberry.field(description="The store of the purchase.")
    receipt_id: str = strawberry.field(description="The purchase's receipt.")
    amount: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="Amount returned; the whole purchase when omitted."
    )


@strawberry.type(description="The result of refundPurchase.")
class RefundPurchasePayload:
    transaction: LedgerTransaction | None = strawberry.field(description="The posting.")
    errors: list[UserError] = strawberry.field(description="Why nothing was posted.")
