"""Sending leased notifications by email and SMS, one message at a time (a
few side by side), each recorded as soon as its outcome is known.

Exactly once where it can be: the row is leased (notifications.outcomes)
before anything goes out; just before the hand-over the row is marked
(reason SENDING, its channel set) in a transaction of its own, still under
the lease; the outcome replaces the mark. A row leased again with the mark on
it was being sent by a worker that died: an email is then not sent again
(notifications.screening fails it), an SMS is, with the same reference, which
the provider drops if the first copy went through."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from html.parser import HTMLParser

from loyalty.platform.config import Settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute
from notifications.email import Email, EmailSender
from notifications.models import Status
from notifications.outcomes import Due, Verdict, apply, backoff, held
from notifications.routing import EMAIL
from notifications.screening import SENDING
from notifications.sms import Sms, SmsOutcome, SmsSender
from notifications.stats import RunStats
from notifications.templates import language
from notifications.unsubscribe import link_for
from observability.metrics import EMAILS
from observability.metrics import SMS as SMS_COUNTS

log = logging.getLogger(__name__)

_SPACES = re.compile(r"[ \t\r\f\v]+")
# Messages handed over at once by one pass.
CONCURRENCY = 8

_FOOTER = {
    "en": ("You receive this email because you agreed to our offers.", "Unsubscribe"),
    "fr": ("Vous recevez cet email car vous avez accepté nos offres.", "Se désinscrire"),
}


class _Text(HTMLParser):
    """An HTML body's text: tags dropped, paragraphs and line breaks kept."""

    BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(body: str) -> str:
    """The plain text of an HTML body (a journey's email or SMS)."""
    if "<" not in body and "&" not in body:
        return body
    parser = _Text()
    parser.feed(body)
    parser.close()
    # Runs of spaces as one, but a no-break space (French punctuation) kept.
    lines = [_SPACES.sub(" ", line).strip(" ") for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def compose_email(n: Due, settings: Settings) -> Email:
    """A notification as an email: its body (HTML, escaped by whoever rendered
    it) with a plain-text alternative and, for marketing, an unsubscribe link
    in the footer and in List-Unsubscribe (one click, RFC 8058)."""
    assert n.email is not None
    domain = settings.email_from.rpartition("@")[2].strip(" >") or "localhost"
    # The same id on every attempt: a receiving system may drop a copy.
    headers: list[tuple[str, str]] = [("Message-ID", f"<notification-{n.id}@{domain}>")]
    text = text_of(n.body)
    page = n.body
    if n.marketing:
        link = link_for(n.customer_id, settings)
        why, label = _FOOTER.get(language(n.locale), _FOOTER["en"])
        headers += [("List-Unsubscribe", f"<{link}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        text += f"\n\n--\n{why}\n{label}: {link}"
        page += (f'<hr><p style="font-size:small;color:#666">{html.escape(why)} '
                 f'<a href="{html.escape(link)}">{html.escape(label)}</a></p>')
    document = (f'<!DOCTYPE html><html lang="{language(n.locale)}"><head><meta charset="utf-8">'
                f"<title>{html.escape(n.title)}</title></head><body>{page}</body></html>")
    return Email(n.email, n.title or text.split("\n", 1)[0][:78], text, document, tuple(headers))


async def _email(sender: EmailSender, n: Due, settings: Settings) -> SmsOutcome:
    """Hand the email over; its outcome in an SMS's shape (a 4xx reply or a
    lost connection is transient, a 5xx a refusal)."""
    import aiosmtplib

    try:
        await sender.send(compose_email(n, settings))
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:150]
        return SmsOutcome(error=f"refused: {detail}",
                          transient=all(400 <= c < 500 for c in codes))
    except aiosmtplib.SMTPResponseException as exc:
        return SmsOutcome(error=f"{exc.code} {exc.message}"[:200], transient=exc.code < 500)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return SmsOutcome(error=f"{type(exc).__name__}: {exc}"[:200], transient=True)
    except Exception as exc:  # noqa: BLE001 - another sender's failure: retried, and logged
        log.exception("email sender failed on notification %s", n.id)
        return SmsOutcome(error=f"{type(exc).__name__}: {exc}"[:200], transient=True)
    return SmsOutcome()


def _verdict(n: Due, channel: str, outcome: SmsOutcome, now: datetime, settings: Settings,
             stats: RunStats) -> Verdict:
    attempts = n.attempts + 1
    counter = EMAILS if channel == EMAIL else SMS_COUNTS
    if outcome.ok:
        if channel == EMAIL:
            stats.emailed += 1
        else:
            stats.texted += 1
        counter.labels("sent").inc()
        return Verdict(Status.SENT, n.passed, attempts, None, now, channel)
    reason = f"{channel}: {outcome.error}"[:200]
    if outcome.transient and attempts < settings.push_max_attempts:
        stats.retried += 1
        counter.labels("retried").inc()
        return Verdict(Status.QUEUED, reason, attempts,
                       now + backoff(attempts, settings, None), None, channel)
    stats.failed += 1
    counter.labels("failed").inc()
    return Verdict(Status.FAILED, reason, attempts, None, None, channel)


async def send_direct(
    rows: list[tuple[Due, str]],
    now: datetime,
    until: datetime,
    clock: Callable[[], datetime],
    lease: timedelta,
    settings: Settings,
    email_sender: EmailSender | None,
    sms_sender: SmsSender | None,
    stats: RunStats,
) -> None:
    """Send each (notification, EMAIL | SMS) under the lease taken on it."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(n: Due, channel: str) -> None:
        async with gate:
            if until - clock() < lease / 10:
                # Too little of the lease left to hand it over and record it:
                # the worker that leases it next sends it.
                return
            async with transaction() as tx:
                if not await held(tx, [n.id], until):
                    return
                await execute(tx, "UPDATE notification SET channel = $1, reason = $2 "
                              "WHERE id = $3", channel, SENDING, n.id)
            if channel == EMAIL:
                assert email_sender is not None
                outcome = await _email(email_sender, n, settings)
            else:
                assert sms_sender is not None and n.phone is not None
                outcome = await sms_sender.send(Sms(n.phone, text_of(n.body), str(n.id)))
            if not outcome.ok:
                log.warning("%s for notification %s not sent: %s", channel, n.id, outcome.error)
            async with transaction() as tx:
                if await held(tx, [n.id], until):
                    await apply(tx, [(n, _verdict(n, channel, outcome, now, settings, stats))],
                                until)

    await asyncio.gather(*(one(n, channel) for n, channel in rows))

