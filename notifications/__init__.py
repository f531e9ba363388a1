"""Devices, the outbox consumer, personalised push, the in-app inbox."""
