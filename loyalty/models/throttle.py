"""Counters of failed log-ins, shared by every server process."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class LoginThrottle(Model):
    # One throttling key's failed log-ins (loyalty/identity/login_throttle.py).
    #
    # The key is a keyed hash of what is counted (an account, an address, or
    # both), so the table holds no email and no address. Times are unix
    # seconds, not timestamps: the one statement that counts a failure does
    # its arithmetic alike on PostgreSQL and SQLite.

    key = fields.CharField(max_length=32, primary_key=True)
    failures = fields.IntField()
    # When the current window's first counted failure happened.
    window_start = fields.FloatField(db_index=True)
    locked_until = fields.FloatField()
    # The next lock-out's length: doubled each time one is served.
    next_lockout = fields.FloatField()

    class Meta:
        table = "login_throttle"
