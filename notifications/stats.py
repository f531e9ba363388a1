"""What one pass of the worker did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunStats:
    events: int = 0
    created: int = 0
    pushed: int = 0
    inbox_only: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    devices_disabled: int = 0
    # Marketing messages not pushed: over the daily cap, or without consent.
    capped: int = 0
    skipped: int = 0
    # Outbox events whose claim raised (retried, or dead after the last attempt).
    event_errors: int = 0
    # Sent by email, by SMS; carried by no channel (see the row's reason).
    emailed: int = 0
    texted: int = 0
    suppressed: int = 0

    @property
    def busy(self) -> bool:
        return bool(
            self.events
            or self.pushed
            or self.inbox_only
            or self.deferred
            or self.retried
            or self.failed
            or self.skipped
            or self.emailed
            or self.texted
            or self.suppressed
            or self.capped
        )
