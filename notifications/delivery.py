"""Sending due notifications: lease, push outside any transaction, chunk by
chunk, record each chunk's outcome per device as soon as it is known (under
the lease: notifications.outcomes), retry with back-off or give up with a reason."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.config import Settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, placeholders, skip_locked
from notifications.direct import send_direct, text_of
from notifications.email import EmailSender
from notifications.outcomes import (
    Due,
    apply,
    held,
    matched,
    record_deliveries,
    renew,
    verdict,
)
from notifications.presentation import SOUND, channel, deep_link
from notifications.push import SEND_CHUNK, PushMessage, PushSender, PushUnavailable
from notifications.render import in_languages
from notifications.screening import Senders, screen
from notifications.sms import SmsSender
from notifications.stats import RunStats
from notifications.templates import language

log = logging.getLogger(__name__)

# The default lease (notifications.policy.Policy.lease_seconds).
LEASE = timedelta(minutes=5)


async def _lease_due(
    batch_size: int, now: datetime, lease: timedelta
) -> tuple[list[Due], datetime]:
    """Due notifications and the lease's deadline (its token: notifications.outcomes)."""
    until = now + lease
    async with transaction() as conn:
        rows = await fetch(
            conn,
            skip_locked(
                conn,
                "SELECT n.id, n.customer_id, n.title, n.body, n.kind, n.marketing, "
                "n.attempts, c.push_opt_in, c.marketing_opt_in, c.timezone, "
                "c.quiet_hours_start, c.quiet_hours_end, n.event_id, c.first_name, c.locale, "
                "n.channels, n.channel, n.reason, c.email, c.phone, c.email_opt_in, "
                "c.sms_opt_in, c.erased_at "
                "FROM notification n "
                "JOIN customer c ON c.id = n.customer_id "
                "WHERE n.status IN ('queued', 'deferred') AND n.next_attempt_at <= $1 "
                "ORDER BY n.next_attempt_at, n.id LIMIT $2",
                of="n",
            ),
            now,
            batch_size,
        )
        if rows:
            await execute(
                conn,
                "UPDATE notification SET next_attempt_at = $1 "
                f"WHERE id IN ({placeholders(len(rows), 2)})",
                until,
                *[r[0] for r in rows],
            )
    due = [
        Due(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            bool(r[5]),
            r[6],
            bool(r[7]),
            bool(r[8]),
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            r[14],
            channels=r[15] or "PUSH,INBOX",
            channel=r[16],
            reason=r[17],
            # An erased customer keeps an anonymous row, with no address to use.
            email=None if r[22] is not None else r[18],
            phone=None if r[22] is not None else r[19],
            email_opt_in=bool(r[20]),
            sms_opt_in=bool(r[21]),
        )
        for r in rows
    ]
    return due, until


async def send_due(
    batch_size: int,
    now: datetime,
    sender: PushSender | None,
    stats: RunStats,
    settings: Settings,
    lease: timedelta = LEASE,
    *,
    started: float | None = None,
    email_sender: EmailSender | None = None,
    sms_sender: SmsSender | None = None,
    cap: int = 3,
) -> None:
    """Lease, send and record up to `batch_size` due notifications, each on
    the first of its channels that can carry it (notifications.screening):
    pushes below, emails and SMS by notifications.direct, side by side.
    `started` is the time.monotonic() at which `now` was read (default: now);
    `cap` the marketing messages per customer per local day."""
    origin = time.monotonic() if started is None else started

    def clock() -> datetime:
        # This pass's time: `now` (the caller's, a test's) moved on as time
        # passes; the lease's deadline is on this clock.
        return now + timedelta(seconds=time.monotonic() - origin)

    due, until = await _lease_due(batch_size, now, lease)
    if not due:
        return
    senders = Senders(push=sender is not None, email=email_sender is not None,
                      sms=sms_sender is not None)
    screened = await screen(due, now, until, senders, stats, cap)
    direct = send_direct(screened.direct, now, until, clock, lease, settings, email_sender,
                         sms_sender, stats)
    if sender is None or not screened.push:
        await direct
        return
    await asyncio.gather(
        direct, _push(screened.push, now, until, clock, lease, sender, stats, settings))


async def _push(
    to_push: list[Due],
    now: datetime,
    until: datetime,
    clock: Callable[[], datetime],
    lease: timedelta,
    sender: PushSender,
    stats: RunStats,
    settings: Settings,
) -> None:
    conn = connections.get("default")
    ids = [n.id for n in to_push]
    devices = await _devices(conn, to_push)
    delivered = await fetch(
        conn,
        f"SELECT notification_id, device_id FROM delivery WHERE status = 'sent' "
        f"AND notification_id IN ({placeholders(len(ids))})",
        *ids,
    )
    already = {(r[0], r[1]) for r in delivered}
    sent_before = {r[0] for r in delivered}
    texts = await _device_texts(to_push, devices, already, conn)
    unread = await _unread(conn, to_push)
    plan: list[tuple[Due, int, PushMessage]] = []
    for n in to_push:
        for device_id, token, locale in devices.get(n.customer_id, ()):
            if (n.id, device_id) not in already:
                # A journey's body may be an email's HTML (a message for EMAIL
                # then PUSH): a phone shows its text.
                title, body = (n.title, n.body if n.event_id is not None else text_of(n.body))
                if locale:
                    title, body = texts.get((n.id, language(locale)), (title, body))
                plan.append(
                    (
                        n,
                        device_id,
                        PushMessage(
                            token=token,
                            title=title,
                            body=body,
                            data={"kind": n.kind, "notificationId": str(n.id),
                                  "link": deep_link(settings.deep_link_base, n.kind, n.id)},
                            collapse_id=f"n{n.id}",
                            sound=SOUND,
                            badge=unread.get(n.customer_id, 1),
                            channel_id=channel(n.kind, n.marketing),
                        ),
                    )
                )
    # Where each notification's messages end in the plan: it is finished with
    # the chunk that holds its last one.
    last = {p[0].id: i for i, p in enumerate(plan)}
    finished: set[int] = set()
    lost: set[int] = set()  # leases lost mid-send: left to whoever holds them
    batch_error: str | None = None
    for start in range(0, len(plan), SEND_CHUNK):
        if clock() >= until:
            # The lease ran out before this chunk (a stalled process, an FCM
            # slower than the lease): what is left may be another worker's
            # by now. It is neither sent nor given a verdict here; whichever
            # worker leases it next sends it, skipping the devices recorded.
            unsent = [n for n in to_push if n.id not in finished and n.id not in lost]
            log.warning("push lease ran out mid-batch: %s notification(s) not sent", len(unsent))
            return
        if until - clock() < lease / 2:
            # A long send keeps its lease: with less than half of it left,
            # what is still to send is leased again from now (the new deadline
            # is the new token), before the chunk goes out and in a
            # transaction of its own (a renewal that fails loses no record).
            left = [n.id for n in to_push if n.id not in finished and n.id not in lost]
            later = clock() + lease
            async with transaction() as tx:
                renewed = await renew(tx, left, until, later)
            lost.update(set(left) - renewed)
            until = later
        chunk = [p for p in plan[start : start + SEND_CHUNK] if p[0].id not in lost]
        if not chunk:
            continue
        try:
            outcomes = matched(await sender.send([p[2] for p in chunk]), len(chunk))
        except PushUnavailable as exc:
            # Later chunks are not tried: what they hold is retried as a whole.
            batch_error = str(exc)[:200]
            log.warning("push batch failed, will retry: %s", exc)
            break
        # Each chunk's outcomes are written as soon as they are known: a later
        # chunk that fails (or a worker that dies) must not send these again.
        end = start + SEND_CHUNK
        complete = list({p[0].id: p[0] for p in chunk if last[p[0].id] < end}.values())
        async with transaction() as tx:
            ours = await held(tx, [p[0].id for p in chunk], until)
            # Taken over meanwhile: its later chunks are the new holder's to send.
            lost.update(p[0].id for p in chunk if p[0].id not in ours)
            rows = [(p[0], p[1], o) for p, o in zip(chunk, outcomes, strict=True)]
            await record_deliveries(tx, [r for r in rows if r[0].id in ours], now, stats)
            verdicts = [
                (
                    n,
                    verdict(
                        n,
                        now,
                        settings,
                        stats,
                        had_plan=True,
                        sent_before=n.id in sent_before,
                        batch_error=None,
                    ),
                )
                for n in complete
                if n.id in ours
            ]
            await apply(tx, verdicts, until)
        finished.update(n.id for n in complete)
    rest = [n for n in to_push if n.id not in finished and n.id not in lost]
    if not rest:
        return
    async with transaction() as tx:
        ours = await held(tx, [n.id for n in rest], until)
        verdicts = [
            (
                n,
                verdict(
                    n,
                    now,
                    settings,
                    stats,
                    had_plan=n.id in last,
                    sent_before=n.id in sent_before,
                    batch_error=batch_error if n.id in last else None,
                ),
            )
            for n in rest
            if n.id in ours
        ]
        await apply(tx, verdicts, until)


async def _device_texts(
    to_push: list[Due],
    devices: dict[int, list[tuple[int, str, str | None]]],
    already: set[tuple[int, int]],
    conn: BaseDBAsyncClient,
) -> dict[tuple[int, str], tuple[str, str]]:
    """Texts in the language of devices whose locale differs from their
    customer's (the inbox row is in the customer's): rendered once per
    (notification, language), and only when there is such a device."""
    wanted: dict[tuple[int, str], tuple[Due, str]] = {}
    for n in to_push:
        for device_id, _, locale in devices.get(n.customer_id, ()):
            if (
                locale
                and (n.id, device_id) not in already
                and language(locale) != language(n.locale)
            ):
                wanted.setdefault((n.id, language(locale)), (n, locale))
    if not wanted:
        return {}
    return await in_languages(conn, list(wanted.values()))


async def _unread(conn: BaseDBAsyncClient, due: list[Due]) -> dict[int, int]:
    """Each customer's unread inbox messages (those being pushed included):
    the badge on the app's icon. One statement for the batch."""
    customer_ids = sorted({n.customer_id for n in due})
    rows = await fetch(
        conn,
        f"SELECT customer_id, COUNT(*) FROM notification WHERE read_at IS NULL "
        f"AND customer_id IN ({placeholders(len(customer_ids))}) GROUP BY customer_id",
        *customer_ids,
    )
    return {r[0]: int(r[1]) for r in rows}


async def _devices(
    conn: BaseDBAsyncClient, due: list[Due]
) -> dict[int, list[tuple[int, str, str | None]]]:
    """Each customer's active devices: (id, token, locale), in id order."""
    customer_ids = sorted({n.customer_id for n in due})
    rows = await fetch(
        conn,
        f"SELECT id, token, customer_id, locale FROM device WHERE push_enabled = $1 "
        f"AND customer_id IN ({placeholders(len(customer_ids), 2)}) ORDER BY id",
        True,
        *customer_ids,
    )
    devices: dict[int, list[tuple[int, str, str | None]]] = defaultdict(list)
    for device_id, token, customer_id, locale in rows:
        devices[customer_id].append((device_id, token, locale))
    return devices
