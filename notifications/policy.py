"""The worker's delivery policy: the send lease and the marketing frequency cap.

These live here rather than in loyalty.platform.config because they are the
notification package's own knobs, read from the environment like the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Policy:
    # How long a worker holds the notifications it is sending; a worker that
    # dies mid-send lets them become due again after this. Longer than the
    # slowest FCM batch, or a slow worker's batch is sent twice.
    lease_seconds: float = 300.0
    # Marketing messages pushed (or queued to be) per customer per local day;
    # the rest reach the inbox only, with reason "marketing cap".
    marketing_daily_cap: int = 3
    # Claims of one outbox event that may fail (a template error, a bad
    # payload) before it is set aside as dead, with its last error.
    outbox_max_attempts: int = 5

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


def load_policy(environ: Mapping[str, str] | None = None) -> Policy:
    """The policy from the environment (its variables are in
    loyalty/platform/environment.py's list, parsed by the same rules)."""
    from loyalty.platform.environment import parse_environment

    env = os.environ if environ is None else environ
    return Policy(**parse_environment(env, owner="policy"))
