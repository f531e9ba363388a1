"""The rewards catalogue, coupons and offers as the app and administrators see them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.types.common import UserError
from loyalty.programme.coupons import BenefitKind as DomainBenefitKind
from loyalty.programme.coupons import CouponChannel as DomainCouponChannel
from loyalty.programme.coupons import CouponView
from loyalty.programme.offers import OfferRecord
from loyalty.programme.offers import OfferTarget as DomainOfferTarget
from loyalty.programme.rewards import RewardView

strawberry.enum(
    DomainBenefitKind,
    name="BenefitKind",
    description="What a coupon or an offer gives: PERCENT_OFF (value 1-100), AMOUNT_OFF "
    "(value in minor units of the purchase's currency) or BONUS_POINTS (value in points).",
)
BenefitKind = DomainBenefitKind  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainCouponChannel,
    name="CouponChannel",
    description="Where a coupon may be used: STORE (a till in a physical store), WEB (the web "
    "shop, an ONLINE store) or PHONE (a CALL_CENTRE store).",
)
CouponChannel = DomainCouponChannel  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainOfferTarget,
    name="OfferTarget",
    description="Who an offer is for: ALL, a TIER, a STORE, or listed CUSTOMERS.",
)
OfferTarget = DomainOfferTarget  # the same class, now a GraphQL enum too


@strawberry.type(description="A single-use code the customer shows at the till.")
class Coupon:
    code: str = strawberry.field(description="The code (case and spaces are ignored).")
    title: str = strawberry.field(
        description="What it is: the reward's name, or what it gives (\"10% off\").")
    kind: BenefitKind = strawberry.field(description="What it gives.")
    value: int = strawberry.field(description="How much (see BenefitKind).")
    currency: str | None = strawberry.field(
        description="The currency of an AMOUNT_OFF value (ISO 4217); a purchase in another "
        "currency refuses it (COUPON_NOT_VALID_HERE). Null: any.")
    channels: list[CouponChannel] | None = strawberry.field(
        description="Where it may be used; elsewhere a till refuses it with "
        "COUPON_NOT_VALID_HERE. Null: anywhere.")
    expires_at: datetime = strawberry.field(description="The first instant it is refused.")
    redeemed_at: datetime | None = strawberry.field(description="When it was used; null if not.")

    @staticmethod
    def of(c: CouponView) -> Coupon:
        return Coupon(
            code=c.code, title=c.title, kind=BenefitKind(c.kind), value=c.value,
            currency=c.currency,
            channels=None if c.channels is None else [CouponChannel(x) for x in c.channels],
            expires_at=c.expires_at, redeemed_at=c.redeemed_at,
        )


@strawberry.type(description="An item of the rewards catalogue, bought with points.")
class Reward:
    id: strawberry.ID = strawberry.field(description="The reward's id.")
    name: str = strawberry.field(description="Name.")
    description: str = strawberry.field(description="What the customer gets.")
    points_price: int = strawberry.field(description="Points it costs.")
    stock: int | None = strawberry.field(description="Items left; null when unlimited.")
    starts_at: datetime | None = strawberry.field(description="Buyable from then on.")
    ends_at: datetime | None = strawberry.field(description="Buyable until then.")
    active: bool = strawberry.field(description="Whether it is offered at all.")
    benefit_kind: BenefitKind = strawberry.field(description="What its coupon gives.")
    benefit_value: int = strawberry.field(description="How much (see BenefitKind).")
    coupon_valid_days: int = strawberry.field(description="Days its coupon stays valid.")

    @staticmethod
    def of(r: RewardView) -> Reward:
        return Reward(
            id=strawberry.ID(str(r.id)), name=r.name, description=r.description,
            points_price=r.points_price, stock=r.stock, starts_at=r.starts_at,
            ends_at=r.ends_at, active=r.active, benefit_kind=BenefitKind(r.benefit_kind),
            benefit_value=r.benefit_value, coupon_valid_days=r.coupon_valid_days,
        )


@strawberry.type(description="An offer as an administrator sees it.")
class OfferDetails:
    id: strawberry.ID = strawberry.field(description="The offer's id.")
    title: str = strawberry.field(description="Short title.")
    description: str = strawberry.field(description="What the offer gives.")
    target: OfferTarget = strawberry.field(description="Who it is for.")
    tier_id: strawberry.ID | None = strawberry.field(description="The tier (TIER).")
    store_id: strawberry.ID | None = strawberry.field(description="The store (STORE).")
    customer_ids: list[strawberry.ID] = strawberry.field(description="The customers (CUSTOMERS).")
    starts_at: datetime | None = strawberry.field(description="Usable from then on.")
    ends_at: datetime | None = strawberry.field(description="Usable until then.")
    per_customer_limit: int = strawberry.field(description="Purchases it may apply to, each.")
    benefit_kind: BenefitKind = strawberry.field(description="What it gives.")
    benefit_value: int = strawberry.field(description="How much (see BenefitKind).")
    min_basket_minor: int | None = strawberry.field(
        description="The smallest purchase (minor units) it applies to."
    )
    active: bool = strawberry.field(description="False once deactivated.")

    @staticmethod
    def of(o: OfferRecord) -> OfferDetails:
        def ident(value: int | None) -> strawberry.ID | None:
            return None if value is None else strawberry.ID(str(value))

        return OfferDetails(
            id=strawberry.ID(str(o.id)), title=o.title, description=o.description,
            target=OfferTarget(o.target), tier_id=ident(o.tier_id), store_id=ident(o.store_id),
            customer_ids=[strawberry.ID(str(c)) for c in o.customer_ids],
            starts_at=o.starts_at, ends_at=o.ends_at, per_customer_limit=o.per_customer_limit,
            benefit_kind=BenefitKind(o.benefit_kind), benefit_value=o.benefit_value,
            min_basket_minor=o.min_basket_minor, active=o.active,
        )


@strawberry.input(description="A new reward.")
class CreateRewardInput:
    name: str = strawberry.field(description="Name, 1-200 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Details.")
    points_price: int = strawberry.field(description="Points it costs, > 0.")
    stock: int | None = strawberry.field(
        default=strawberry.UNSET, description="Items available; omitted or null: unlimited."
    )
    starts_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="From.")
    ends_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="Until.")
    benefit_kind: BenefitKind = strawberry.field(description="What its coupon gives.")
    benefit_value: int = strawberry.field(description="How much (see BenefitKind).")
    coupon_valid_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days its coupon stays valid (30 by default)."
    )


@strawberry.input(description="Changes to a reward: omitted fields keep their value.")
class UpdateRewardInput:
    reward_id: strawberry.ID = strawberry.field(description="The reward.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Details.")
    points_price: int | None = strawberry.field(default=strawberry.UNSET, description="Price.")
    stock: int | None = strawberry.field(
        default=strawberry.UNSET, description="Items available; null: unlimited."
    )
    starts_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="From; null: no start."
    )
    ends_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="Until; null: no end."
    )
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Offered?")
    benefit_kind: BenefitKind | None = strawberry.field(
        default=strawberry.UNSET, description="What its coupon gives."
    )
    benefit_value: int | None = strawberry.field(default=strawberry.UNSET, description="How much.")
    coupon_valid_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days its coupon stays valid."
    )


@strawberry.type(description="The result of createReward or updateReward.")
class RewardPayload:
    reward: Reward | None = strawberry.field(description="The reward as saved.")
    errors: list[UserError] = strawberry.field(description="Why it was not saved.")


@strawberry.input(description="A new offer.")
class CreateOfferInput:
    title: str = strawberry.field(description="Short title, 1-200 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Details.")
    target: OfferTarget = strawberry.field(description="Who it is for.")
    tier_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The tier, for TIER offers only."
    )
    store_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The store, for STORE offers only."
    )
    customer_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The customers, for CUSTOMERS offers only."
    )
    starts_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="From.")
    ends_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="Until.")
    per_customer_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="Purchases it may apply to per customer, >= 1 (1)."
    )
    benefit_kind: BenefitKind = strawberry.field(description="What it gives.")
    benefit_value: int = strawberry.field(description="How much (see BenefitKind).")
    min_basket_minor: int | None = strawberry.field(
        default=strawberry.UNSET, description="The smallest purchase it applies to."
    )


@strawberry.input(description="An offer to stop.")
class DeactivateOfferInput:
    offer_id: strawberry.ID = strawberry.field(description="The offer.")


@strawberry.type(description="The result of createOffer or deactivateOffer.")
class OfferDetailsPayload:
    offer: OfferDetails | None = strawberry.field(description="The offer as saved.")
    errors: list[UserError] = strawberry.field(description="Why it was not saved.")
