"""Tortoise models of the domain core, one module per concept."""

from loyalty.models.identity import Customer, RefreshToken, Staff, StaffRole, Store
from loyalty.models.imports import ImportRow, ImportRun
from loyalty.models.integrations import ApiClient, ApiScope, AuditLog, Franchise, StoreKind
from loyalty.models.ledger import (
    Account,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    Lot,
    OutboxEvent,
    Purchase,
    SpentCode,
)
from loyalty.models.privacy import ConsentChange, EmailToken
from loyalty.models.programme import (
    AppliedBenefit,
    Coupon,
    CustomerTier,
    EarnRule,
    EarnRuleChange,
    Offer,
    OfferActivation,
    OfferTarget,
    ProgrammeSettings,
    Reward,
    SurveyResponse,
    Tier,
    TierChange,
)
from loyalty.models.throttle import LoginThrottle

__all__ = [
    "ImportRow",
    "ImportRun",
    "ConsentChange",
    "EmailToken",
    "ApiClient",
    "ApiScope",
    "AuditLog",
    "Franchise",
    "StoreKind",
    "AppliedBenefit",
    "Coupon",
    "CustomerTier",
    "TierChange",
    "EarnRule",
    "EarnRuleChange",
    "Offer",
    "OfferActivation",
    "OfferTarget",
    "ProgrammeSettings",
    "Reward",
    "SurveyResponse",
    "Tier",
    "Account",
    "AccountKind",
    "Customer",
    "LedgerEntry",
    "LedgerTransaction",
    "LoginThrottle",
    "Lot",
    "OutboxEvent",
    "Purchase",
    "RefreshToken",
    "SpentCode",
    "Staff",
    "StaffRole",
    "Store",
]
