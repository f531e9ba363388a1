"""Who acts: customers, staff and the stores staff act in."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models.integrations import Franchise


class StaffRole(StrEnum):
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    # Customer service: reads the staff 360 view (every read audited), adjusts
    # points with a reason, erases; acts in no store.
    SUPPORT = "SUPPORT"


class Store(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    # Null for ONLINE and CALL_CENTRE stores, which have no position.
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    timezone = fields.CharField(max_length=64)
    # loyalty.models.integrations.StoreKind
    kind = fields.CharField(max_length=16, default="PHYSICAL")
    franchise: fields.ForeignKeyNullableRelation[Franchise] = fields.ForeignKeyField(
        "models.Franchise", related_name="stores", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"


class Customer(Model):
    id = fields.BigIntField(primary_key=True)
    # Stored normalised (trimmed, lower-cased) so uniqueness is case-blind.
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    first_name = fields.CharField(max_length=100)
    locale = fields.CharField(max_length=35, default="en")
    timezone = fields.CharField(max_length=64, default="UTC")
    marketing_opt_in = fields.BooleanField(default=False)
    push_opt_in = fields.BooleanField(default=True)
    location_opt_in = fields.BooleanField(default=False)
    # Marketing by email / SMS, each on top of marketing_opt_in: consent given
    # to marketing covers both until withdrawn for one channel (an email's
    # unsubscribe link turns email_opt_in off, and nothing else).
    email_opt_in = fields.BooleanField(default=True, db_default=True)
    sms_opt_in = fields.BooleanField(default=True, db_default=True)
    # "HH:MM" in the customer's timezone; pushes wait for the window's end.
    quiet_hours_start = fields.CharField(max_length=5, null=True)
    quiet_hours_end = fields.CharField(max_length=5, null=True)
    # For the birthday bonus; only month and day matter.
    birth_date = fields.DateField(null=True)
    # The store-local year whose birthday bonus was given (once a year).
    birthday_bonus_year = fields.IntField(null=True)
    # Where the customer came from (signUp's `acquisition`): attribution and
    # acquisition cost per source and month.
    acquisition_source = fields.CharField(max_length=100, null=True)
    acquisition_medium = fields.CharField(max_length=100, null=True)
    acquisition_campaign = fields.CharField(max_length=100, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Optional; imported customers may bring one.
    phone = fields.CharField(max_length=32, null=True)
    # The customer's id in the programme they were imported from.
    external_id = fields.CharField(max_length=64, null=True, unique=True)
    # When the customer proved the email is theirs (an emailed link).
    email_verified_at = fields.DatetimeField(null=True)
    # Set when the customer's personal data was erased (loyalty/identity/privacy.py):
    # the row stays, anonymous, because the ledger points at it.
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "customer"
        # A source's sign-ups in a month: what its acquisition cost is shared by.
        # Staff find a customer by phone number (audience.profiles).
        indexes = (("acquisition_source", "created_at"), ("phone",))


class Staff(Model):
    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(StaffRole, max_length=16)
    stores: fields.ManyToManyRelation[Store] = fields.ManyToManyField(
        "models.Store", related_name="staff", through="staff_store"
    )
    # A franchise's manager acts in every store of the franchise.
    franchise: fields.ForeignKeyNullableRelation[Franchise] = fields.ForeignKeyField(
        "models.Franchise", related_name="managers", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"


class RefreshToken(Model):
    # An opaque refresh token, stored hashed; rotated on each use.
    #
    # Tokens descending from one log-in share a family: presenting a token that
    # was already rotated means it leaked, so the whole family is revoked.

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    family = fields.CharField(max_length=32, db_index=True)
    subject_kind = fields.CharField(max_length=16)  # "customer" | "staff"
    subject_id = fields.BigIntField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_token"
