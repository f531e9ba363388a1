"""Which channel carries a message: the first of its `channels` that can
reach this customer now. Pure: the worker gathers what it knows (devices,
configured senders, addresses, consents) and asks.

INBOX can always carry a message (the app's inbox); PUSH needs push consent,
push credentials and an active device; EMAIL an email address, LOYALTY_SMTP_URL
and, for marketing, email consent; SMS a phone number, LOYALTY_SMS_URL and,
for marketing, SMS consent. A message that no channel can carry is
suppressed, with why not, channel by channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PUSH, INBOX, EMAIL, SMS = "PUSH", "INBOX", "EMAIL", "SMS"
CHANNELS = (PUSH, INBOX, EMAIL, SMS)
# The channels that interrupt: quiet hours and the marketing cap apply to them.
INTERRUPTING = frozenset({PUSH, EMAIL, SMS})
# What a row's `channels` is unless its sender said otherwise (ledger pushes).
DEFAULT = (PUSH, INBOX)


@dataclass(frozen=True)
class Reach:
    # What the worker knows of one customer, for one message.
    marketing: bool
    push_opt_in: bool
    push_configured: bool
    has_device: bool
    email: str | None
    email_configured: bool
    email_opt_in: bool
    phone: str | None
    sms_configured: bool
    sms_opt_in: bool


def parse(channels: str | None) -> tuple[str, ...]:
    """A row's `channels` column as a tuple; unknown names are left out."""
    names = tuple(c.strip().upper() for c in (channels or "").split(","))
    known = tuple(c for c in names if c in CHANNELS)
    return known or DEFAULT


def why_not(channel: str, reach: Reach) -> str | None:
    """Why `channel` cannot carry the message now; None when it can."""
    if channel == PUSH:
        if not reach.push_opt_in:
            return "push opt-out"
        if not reach.push_configured:
            return "no push credentials"
        if not reach.has_device:
            return "no device"
        return None
    if channel == EMAIL:
        if not reach.email_configured:
            return "LOYALTY_SMTP_URL not set"
        if not reach.email:
            return "no email address"
        if reach.marketing and not reach.email_opt_in:
            return "no email consent"
        return None
    if channel == SMS:
        if not reach.sms_configured:
            return "LOYALTY_SMS_URL not set"
        if not reach.phone:
            return "no phone number"
        if reach.marketing and not reach.sms_opt_in:
            return "no SMS consent"
        return None
    if channel == INBOX:
        return None
    return "unknown channel"


@dataclass(frozen=True)
class Route:
    channel: str | None  # None: suppressed
    # "CHANNEL: why not" for each channel passed over, in order.
    passed: tuple[str, ...]

    @property
    def reason(self) -> str | None:
        """The row's reason: every channel passed over; a ledger push left in
        the inbox says only why it was not pushed ("push opt-out"), as it
        always has."""
        if not self.passed:
            return None
        if self.channel == INBOX and len(self.passed) == 1 and self.passed[0].startswith(PUSH):
            return self.passed[0].removeprefix(f"{PUSH}: ")
        return "; ".join(self.passed)[:200]


def route(channels: Sequence[str], reach: Reach) -> Route:
    passed: list[str] = []
    for channel in channels:
        reason = why_not(channel, reach)
        if reason is None:
            return Route(channel, tuple(passed))
        passed.append(f"{channel}: {reason}")
    return Route(None, tuple(passed))
