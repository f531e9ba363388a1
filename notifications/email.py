"""Email: a small sender interface and its SMTP implementation (aiosmtplib).

`LOYALTY_SMTP_URL` is `smtp://user:password@host:port` (STARTTLS when the
server offers it) or `smtps://...` (TLS from the start); without it emails are
logged (recipient's domain and subject only: a link's token never reaches a
log). Journeys and account emails share this interface."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

from loyalty.platform.config import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    # An HTML body, sent as the alternative to `text` (multipart/alternative).
    html: str | None = None
    # More headers (List-Unsubscribe, Message-ID...), in order.
    headers: tuple[tuple[str, str], ...] = ()


class EmailSender(Protocol):
    async def send(self, email: Email) -> None:
        """Hand the message to the mail system; raises on failure."""


class SmtpSender:
    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("LOYALTY_SMTP_URL must be smtp://user:password@host:port")
        self.hostname = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.use_tls = parts.scheme == "smtps"
        self.sender = sender
        self.timeout = timeout

    async def send(self, email: Email) -> None:
        import aiosmtplib

        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        for name, value in email.headers:
            message[name] = value
        message.set_content(email.text)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        await aiosmtplib.send(message, hostname=self.hostname, port=self.port,
                              username=self.username, password=self.password,
                              use_tls=self.use_tls, timeout=self.timeout)


class LogSender:
    """No SMTP configured (a laptop): say that an email would go, not what it says."""

    async def send(self, email: Email) -> None:
        log.info("email not sent (no LOYALTY_SMTP_URL): to=*@%s subject=%r",
                 email.to.rpartition("@")[2], email.subject)


def sender_from_settings(settings: Settings | None = None) -> EmailSender:
    settings = settings or get_settings()
    if settings.smtp_url:
        return SmtpSender(settings.smtp_url, settings.email_from)
    return LogSender()
