"""Signed survey links: a message invites the customer to rate one purchase,
and the link's token lets them answer without signing in to the app.

The token names (customer, store, receipt) and an expiry, signed with an HMAC
under a key derived from LOYALTY_SECRET_KEY for this purpose only, so it is no
use as anything else. It is not single-use: the survey itself can be answered
once (submit_survey), and replaying the same answer replays its result."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.config import get_settings

_PURPOSE = b"loyalty.survey-link.v1"
# 128 bits of MAC: enough against forgery, short enough for an SMS.
_MAC_BYTES = 16
MAX_TOKEN = 400


@dataclass(frozen=True)
class SurveyLink:
    customer_id: int
    store_id: int
    receipt_id: str
    expires_at: datetime


def _key() -> bytes:
    return hmac.new(get_settings().secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(customer_id: int, store_id: int, receipt_id: str, expires_at: datetime) -> str:
    """`body.mac`, both base64url: body is `customer:store:expiry:receipt`."""
    body = f"{customer_id}:{store_id}:{int(expires_at.timestamp())}:{receipt_id}".encode()
    mac = hmac.new(_key(), body, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def new_token(customer_id: int, store_id: int, receipt_id: str, now: datetime | None = None
              ) -> str:
    now = now or datetime.now(UTC)
    return sign(customer_id, store_id, receipt_id,
                now + timedelta(days=get_settings().survey_link_days))


def read(token: str, now: datetime | None = None) -> SurveyLink:
    """The link a token names. A token we did not sign is INVALID_INPUT; one
    past its expiry is SURVEY_NOT_ELIGIBLE."""
    bad = invalid("This survey link is not valid.", "token")
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise bad
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise bad from None
    expected = hmac.new(_key(), body, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise bad
    try:
        customer, store, expiry, receipt = body.decode().split(":", 3)
        link = SurveyLink(int(customer), int(store), receipt,
                          datetime.fromtimestamp(int(expiry), UTC))
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise bad from None
    if link.expires_at <= (now or datetime.now(UTC)):
        raise DomainError(ErrorCode.SURVEY_NOT_ELIGIBLE, "This survey link has expired.",
                          "token")
    return link
