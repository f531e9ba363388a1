"""Before anything is sent: each leased notification's channel, and what is
settled without sending (consent withdrawn, no channel left, quiet hours,
the marketing cap).

Two kinds of rows pass here. A ledger or campaign message (it has an outbox
event) went through consent and the cap when it was written; withdrawn
marketing consent deletes it, as if never written. A message enqueued by a
journey (notifications.outgoing) meets consent, quiet hours and the cap here,
on whichever channel carries it, and whatever becomes of it stays in the
customer's message log: suppressed, never deleted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, placeholders
from notifications.caps import COUNTED, local_day
from notifications.models import Status
from notifications.outcomes import Due, Verdict, apply, held
from notifications.preferences import quiet_until
from notifications.routing import EMAIL, INBOX, INTERRUPTING, PUSH, SMS, Reach, parse, route
from notifications.stats import RunStats

log = logging.getLogger(__name__)

# A row's reason while an email or SMS is being handed over: found on a row
# leased again, it means the worker died mid-send (notifications/direct.py).
SENDING = "sending"
MARKETING_CAP = "marketing cap"


@dataclass
class Screened:
    push: list[Due] = field(default_factory=list)
    # Email and SMS: (notification, channel).
    direct: list[tuple[Due, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Senders:
    # Which senders this pass has (a channel without one is "not configured").
    push: bool
    email: bool
    sms: bool


async def screen(
    due: list[Due],
    now: datetime,
    until: datetime,
    senders: Senders,
    stats: RunStats,
    cap: int,
) -> Screened:
    out = Screened()
    async with transaction() as tx:
        ours = await held(tx, [n.id for n in due], until)
        mine = [n for n in due if n.id in ours]
        with_device = await _with_device(tx, mine) if senders.push else set()
        counted = await _counted_today(tx, [n for n in mine if n.event_id is None
                                            and n.marketing], now)
        decided: dict[int, bool] = {}  # this pass's marketing rows: counted or not
        settled: list[tuple[Due, Verdict]] = []

        def settle(n: Due, verdict: Verdict) -> None:
            settled.append((n, verdict))
            decided[n.id] = verdict.status in (Status.QUEUED, Status.DEFERRED, Status.SENT)

        for n in mine:
            journey = n.event_id is None
            if n.marketing and not n.marketing_opt_in:
                if not journey:
                    # Consent withdrawn after the message was queued: it leaves the
                    # inbox too, as if it had never been written.
                    await execute(tx, "DELETE FROM notification WHERE id = $1", n.id)
                    stats.skipped += 1
                else:
                    settle(n, Verdict(Status.SUPPRESSED, "no marketing consent", n.attempts,
                                      None, None))
                    stats.suppressed += 1
                continue
            if n.reason == SENDING and n.channel == EMAIL:
                # The worker that leased it died while handing it to the SMTP
                # server: it may have gone. Not sent again (an email cannot be
                # taken back; an SMS can, its provider drops a repeated reference).
                settle(n, Verdict(Status.FAILED, "EMAIL: interrupted while sending, not sent "
                                  "again (it may have been delivered)", n.attempts, None, None))
                stats.failed += 1
                continue
            reach = Reach(
                marketing=n.marketing, push_opt_in=n.push_opt_in, push_configured=senders.push,
                has_device=n.customer_id in with_device, email=n.email,
                email_configured=senders.email, email_opt_in=n.email_opt_in, phone=n.phone,
                sms_configured=senders.sms, sms_opt_in=n.sms_opt_in)
            chosen = route(parse(n.channels), reach)
            if chosen.channel is None:
                settle(n, Verdict(Status.SUPPRESSED, chosen.reason, n.attempts, None, None))
                stats.suppressed += 1
                continue
            if chosen.channel == INBOX:
                if not journey and chosen.reason == "no push credentials":
                    log.info("inbox only (no FIREBASE_CREDENTIALS) for customer %s: %s / %s",
                             n.customer_id, n.title, n.body)
                settle(n, Verdict(Status.INBOX, chosen.reason, n.attempts, None, None, INBOX))
                stats.inbox_only += 1
                continue
            later = quiet_until(now, n.timezone, n.quiet_start, n.quiet_end)
            if later is not None:
                settle(n, Verdict(Status.DEFERRED, "quiet hours", n.attempts, later, None))
                stats.deferred += 1
                continue
            if journey and n.marketing and chosen.channel in INTERRUPTING:
                if _over_cap(n, counted, decided, now, cap):
                    inbox = INBOX in parse(n.channels)
                    settle(n, Verdict(Status.INBOX if inbox else Status.SUPPRESSED,
                                      MARKETING_CAP, n.attempts, None, None,
                                      INBOX if inbox else None))
                    stats.capped += 1
                    continue
                decided[n.id] = True
            n.passed = chosen.reason
            if chosen.channel == PUSH:
                out.push.append(n)
            elif chosen.channel in (EMAIL, SMS):
                out.direct.append((n, chosen.channel))
        await apply(tx, settled, until)
    return out


async def _with_device(conn: BaseDBAsyncClient, due: list[Due]) -> set[int]:
    """The customers among `due`'s that have an active device."""
    ids = sorted({n.customer_id for n in due if PUSH in parse(n.channels)})
    if not ids:
        return set()
    rows = await fetch(
        conn,
        f"SELECT DISTINCT customer_id FROM device WHERE push_enabled = $1 "
        f"AND customer_id IN ({placeholders(len(ids), 2)})",
        True, *ids)
    return {int(r[0]) for r in rows}


async def _counted_today(
    conn: BaseDBAsyncClient, due: list[Due], now: datetime
) -> dict[int, list[tuple[int, str, datetime]]]:
    """The customers' marketing messages that count against the cap, written
    in the last 40 hours (a local day is at most 26 hours long and ends at most
    14 hours from UTC): customer -> [(id, status, created_at)]."""
    ids = sorted({n.customer_id for n in due})
    if not ids:
        return {}
    rows = await fetch(
        conn,
        f"SELECT customer_id, id, status, created_at FROM notification "
        f"WHERE customer_id IN ({placeholders(len(ids))}) AND marketing = ${len(ids) + 1} "
        f"AND created_at >= ${len(ids) + 2} AND status IN ('queued', 'deferred', 'sent')",
        *ids, True, now - timedelta(hours=40))
    counted: dict[int, list[tuple[int, str, datetime]]] = defaultdict(list)
    for customer_id, row_id, status, created in rows:
        counted[int(customer_id)].append((int(row_id), str(status), as_datetime(created)))
    return counted


def _over_cap(
    n: Due,
    counted: dict[int, list[tuple[int, str, datetime]]],
    decided: dict[int, bool],
    now: datetime,
    cap: int,
) -> bool:
    """Whether the customer's local day already holds `cap` marketing messages
    on any channel. Messages written before this one come first: a queued
    one counts as it will be sent (unless this pass decided otherwise), a
    later one only once sent. So two workers screening one customer's two
    messages at once agree on which one the last slot is for."""
    start, end = local_day(now, n.timezone)
    used = 0
    for row_id, status, created in counted.get(n.customer_id, ()):
        if row_id == n.id or not (start <= created < end):
            continue
        counts = decided.get(row_id, status in COUNTED)
        if counts and (row_id < n.id or status == Status.SENT.value):
            used += 1
    return used >= cap
