"""The programme marketers shape without a deployment: earn rules, tiers,
rewards, offers and coupons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models.identity import Customer, Staff, Store
    from loyalty.models.ledger import LedgerTransaction, Purchase


class ProgrammeSettings(Model):
    # One row (id 1); absent means the defaults below.

    id = fields.IntField(primary_key=True)
    # POINTS: points earned in the period; SPEND: net purchase amount (minor units).
    tier_basis = fields.CharField(max_length=16, default="POINTS")
    # CALENDAR_YEAR in `timezone`, or ROLLING over `tier_window_days`.
    tier_period = fields.CharField(max_length=16, default="CALENDAR_YEAR")
    tier_window_days = fields.IntField(default=365)
    timezone = fields.CharField(max_length=64, default="UTC")
    # Days before a lot of points or a coupon expires that a reminder is written.
    reminder_days = fields.IntField(default=14)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "programme_settings"


class EarnRule(Model):
    # One rule of the earning programme. Never deleted: deactivated, so the
    # audit trail and old ledger descriptions keep their meaning.

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    # The customer-facing line when it fires, e.g. "x2 on coffee".
    label = fields.CharField(max_length=120)
    # BASE_RATE MULTIPLIER BONUS FIRST_PURCHASE BIRTHDAY SURVEY CAP
    kind = fields.CharField(max_length=24)
    # BASE_RATE: points per currency unit; MULTIPLIER: the factor (2 = double).
    rate = fields.CharField(max_length=24, null=True)
    # BONUS / FIRST_PURCHASE / BIRTHDAY / SURVEY: points; CAP: the maximum.
    points = fields.BigIntField(null=True)
    # At most this many points from this rule in one transaction.
    cap = fields.BigIntField(null=True)
    # skus, categories, storeIds, channels, tiers, daysOfWeek, startsOn,
    # endsOn (store-local dates, inclusive), minBasketMinor.
    conditions: dict = fields.JSONField(default=dict)
    priority = fields.IntField(default=0)
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "earn_rule"


class EarnRuleChange(Model):
    # Who changed which rule, and how: the rule before and after.

    id = fields.BigIntField(primary_key=True)
    rule: fields.ForeignKeyRelation[EarnRule] = fields.ForeignKeyField(
        "models.EarnRule", related_name="changes", on_delete=fields.RESTRICT
    )
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="rule_changes", null=True, on_delete=fields.RESTRICT
    )
    action = fields.CharField(max_length=16)  # create update deactivate
    before: dict | None = fields.JSONField(null=True)
    after: dict = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "earn_rule_change"
        indexes = (("rule_id", "id"),)


class SurveyResponse(Model):
    # A satisfaction survey about one purchase; its bonus is posted once.

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="surveys", on_delete=fields.RESTRICT
    )
    purchase: fields.OneToOneRelation[Purchase] = fields.OneToOneField(
        "models.Purchase", related_name="survey", on_delete=fields.RESTRICT
    )
    rating = fields.IntField()
    comment = fields.CharField(max_length=2000, null=True)
    transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="surveys", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "survey_response"


class Tier(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=60, unique=True)
    # Points earned (or minor units spent) in the qualification period.
    threshold = fields.BigIntField()
    # Applied to base points, as a decimal string ("1.5").
    multiplier = fields.CharField(max_length=24, default="1")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tier"


class CustomerTier(Model):
    # A customer's tier, kept until `review_at` unless it rises before.

    id = fields.BigIntField(primary_key=True)
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="tier_status", on_delete=fields.RESTRICT
    )
    tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="members", null=True, on_delete=fields.RESTRICT
    )
    since = fields.DatetimeField()
    # End of the qualification period: the only moment a tier may go down.
    review_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer_tier"
        indexes = (("review_at",),)


class TierChange(Model):
    # A customer's tier history: one row each time their tier is set (up at a
    # posting, or at a review), with the instant it took effect. What a
    # purchase recorded late (an offline till's) earns with: the tier held at
    # its occurredAt (loyalty.programme.tiers.tier_ids_at). tier_id null: no tier.
    # No foreign key to tier: history outlives a tier's removal.

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="tier_changes", on_delete=fields.RESTRICT
    )
    tier_id = fields.BigIntField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "tier_change"
        indexes = (("customer_id", "at"),)


class Reward(Model):
    # An item of the catalogue: bought with points, delivered as a coupon.

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    description = fields.CharField(max_length=1000, default="")
    points_price = fields.BigIntField()
    # None: unlimited. Decremented with a conditional update, never below 0.
    stock = fields.BigIntField(null=True)
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    # What the coupon gives: PERCENT_OFF, AMOUNT_OFF or BONUS_POINTS, and how much.
    benefit_kind = fields.CharField(max_length=16)
    benefit_value = fields.BigIntField()
    coupon_valid_days = fields.IntField(default=30)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reward"


class Offer(Model):
    id = fields.BigIntField(primary_key=True)
    title = fields.CharField(max_length=200)
    description = fields.CharField(max_length=1000, default="")
    # ALL, TIER, STORE or CUSTOMERS (listed in offer_target).
    target = fields.CharField(max_length=16, default="ALL")
    tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="offers", null=True, on_delete=fields.RESTRICT
    )
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="offers", null=True, on_delete=fields.RESTRICT
    )
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    per_customer_limit = fields.IntField(default=1)
    benefit_kind = fields.CharField(max_length=16)  # PERCENT_OFF AMOUNT_OFF BONUS_POINTS
    benefit_value = fields.BigIntField()
    min_basket_minor = fields.BigIntField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "offer"


class OfferTarget(Model):
    # A customer an offer of target CUSTOMERS is meant for.

    id = fields.BigIntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="targets", on_delete=fields.RESTRICT
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="targeted_offers", on_delete=fields.RESTRICT
    )

    class Meta:
        table = "offer_target"
        unique_together = (("offer", "customer"),)
        indexes = (("customer_id",),)


class OfferActivation(Model):
    # An offer clipped to a customer's card; `uses` counts purchases it applied to.

    id = fields.BigIntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="activations", on_delete=fields.RESTRICT
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="offer_activations", on_delete=fields.RESTRICT
    )
    uses = fields.IntField(default=0)
    activated_at = fields.DatetimeField()

    class Meta:
        table = "offer_activation"
        unique_together = (("offer", "customer"),)
        indexes = (("customer_id",),)


class Coupon(Model):
    # A single-use code: spent by a conditional update, so two tills presenting
    # it at once apply it once.

    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="coupons", null=True, on_delete=fields.RESTRICT
    )
    reward: fields.ForeignKeyNullableRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="coupons", null=True, on_delete=fields.RESTRICT
    )
    # The redemption that bought it, when it came from the catalogue.
    bought_with: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="coupons_bought", null=True,
        on_delete=fields.RESTRICT,
    )
    title = fields.CharField(max_length=200)
    benefit_kind = fields.CharField(max_length=16)
    benefit_value = fields.BigIntField()
    expires_at = fields.DatetimeField()
    redeemed_at = fields.DatetimeField(null=True)
    redeemed_in: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="coupons_redeemed", null=True,
        on_delete=fields.RESTRICT,
    )
    reminded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Where it may be used ("STORE", "WEB", "PHONE", comma-separated); null: anywhere.
    channels = fields.CharField(max_length=40, null=True)
    # When its expiry reminder is due (a journey's remindBefore); null: the
    # programme's default reminder.
    remind_at = fields.DatetimeField(null=True)
    # The key of the step that issued it: a retried step issues nothing new.
    issue_key = fields.CharField(max_length=128, null=True, unique=True)
    # The ISO 4217 currency of an AMOUNT_OFF value; null: any (the reward
    # catalogue's coupons, in the programme's one currency).
    currency = fields.CharField(max_length=3, null=True)

    class Meta:
        table = "coupon"
        indexes = (("customer_id", "id"), ("expires_at",), ("remind_at",))


class AppliedBenefit(Model):
    # What a purchase applied (an offer or a coupon), so a retry reports the same.

    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="benefits", on_delete=fields.RESTRICT
    )
    offer: fields.ForeignKeyNullableRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="applied", null=True, on_delete=fields.RESTRICT
    )
    coupon: fields.ForeignKeyNullableRelation[Coupon] = fields.ForeignKeyField(
        "models.Coupon", related_name="applied", null=True, on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    benefit_kind = fields.CharField(max_length=16)
    discount_minor = fields.BigIntField(default=0)
    bonus_points = fields.BigIntField(default=0)

    class Meta:
        table = "applied_benefit"
        indexes = (("transaction_id",),)
