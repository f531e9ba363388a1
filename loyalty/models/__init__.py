"""Tortoise models of the domain core, one module per concept."""

from loyalty.models.identity import Customer, RefreshToken, Staff, StaffRole, Store
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

__all__ = [
    "Account",
    "AccountKind",
    "Customer",
    "LedgerEntry",
    "LedgerTransaction",
    "Lot",
    "OutboxEvent",
    "Purchase",
    "RefreshToken",
    "SpentCode",
    "Staff",
    "StaffRole",
    "Store",
]
