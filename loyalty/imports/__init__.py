"""Bulk imports of customers, balances and past transactions from CSV files."""
