"""The scheduled jobs, run by every `loyalty worker` and by `loyalty jobs` (cron).

Each job is idempotent and safe to run on several workers at once, so they
need no leader election: every worker simply runs them on its interval.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from loyalty.points.expiry import expire_due
from loyalty.points.reminders import write_reminders

log = logging.getLogger(__name__)


async def _prune_login_throttles(now: datetime) -> int:
    from loyalty.identity.login_throttle import prune
    from loyalty.platform.config import get_settings

    return await prune(now.timestamp(), get_settings())


async def _review_tiers(now: datetime) -> int:
    # Imported here: expiry and reminders must keep running whatever the
    # tiers module does.
    from loyalty.programme.tiers import review_due

    return await review_due(now)


# Name (as reported and logged) -> job; run in this order.
JOBS: dict[str, Callable[[datetime], Awaitable[int]]] = {
    "points_expired": expire_due,
    "reminders_written": write_reminders,
    "tiers_reviewed": _review_tiers,
    # Counters of failed log-ins that say nothing any more (one row per
    # account, address and pair tried).
    "login_throttles_pruned": _prune_login_throttles,
}


async def run_due_jobs(now: datetime) -> dict[str, int]:
    """Run every scheduled job once; returns what each did, by name. A job
    that fails is logged and left out, and the others still run."""
    counts: dict[str, int] = {}
    for name, job in JOBS.items():
        try:
            counts[name] = await job(now)
        except Exception:  # one broken job must not stop expiry or the others
            log.exception("scheduled job %s failed", name)
    log.info(
        "scheduled jobs: %s",
        ", ".join(f"{name}={counts.get(name, 'failed')}" for name in JOBS),
    )
    return counts
