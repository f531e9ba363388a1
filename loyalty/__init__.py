"""The domain core: customers, accounts, the double-entry ledger, the outbox.

Imports none of `api`, `wallet`, `notifications` or `geofence`.
"""
