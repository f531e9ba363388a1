"""How a push shows on the phone, beside its text: the screen it opens (a
deep link in its data), the Android channel it is posted to, its sound, and
the app icon's badge (the customer's unread inbox messages, this one included).

The app must create both Android channels (ids below) at start: Android 8+
posts a notification to an unknown channel to a default one the user cannot
silence separately. Marketing has a channel of its own so that a customer can
mute offers and keep their points news.
"""

from __future__ import annotations

from loyalty.events import (
    CouponExpiring,
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsExpiring,
    PointsRedeemed,
    PointsRefunded,
    TierChanged,
    VisitAccepted,
)
from notifications.inbox_rows import MARKETING

ACCOUNT_CHANNEL = "loyalty-account"
MARKETING_CHANNEL = "loyalty-offers"
SOUND = "default"

# The app's screen for each kind of notification, after the deep-link base
# (LOYALTY_DEEP_LINK_BASE: `loyalty://` or the app's universal-link prefix).
SCREENS: dict[str, str] = {
    PointsEarned.kind: "history",
    PointsRedeemed.kind: "history",
    PointsRefunded.kind: "history",
    PointsExpired.kind: "history",
    PointsAdjusted.kind: "history",
    PointsExpiring.kind: "points",
    "reward.redeemed": "coupons",  # a template's name: points spent on a reward
    CouponExpiring.kind: "coupons",
    TierChanged.kind: "tier",
    VisitAccepted.kind: "offers",
}
# Anything else (a campaign's message) opens the message in the inbox.
INBOX = "inbox/{id}"


def deep_link(base: str, kind: str, notification_id: int) -> str:
    return base + SCREENS.get(kind, INBOX).format(id=notification_id)


def channel(kind: str, marketing: bool = False) -> str:
    """The Android channel: offers (a journey's marketing message too) or the account's."""
    return MARKETING_CHANNEL if marketing or kind in MARKETING else ACCOUNT_CHANNEL
