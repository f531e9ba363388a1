"""The unsubscribe link of marketing emails: a signed token naming the
customer, which turns their email marketing consent off.

Unlike the account emails' links (loyalty/identity/email_tokens.py: random, stored
hashed, single-use, expiring in an hour), an unsubscribe link must keep
working for as long as the email sits in a mailbox, any number of times, and
without a row per email sent: so it is an HMAC of the customer's id under the
secret key (a purpose prefix keeps it from ever verifying as anything else).
Changing LOYALTY_SECRET_KEY invalidates the links already sent."""

from __future__ import annotations

import base64
import hashlib
import hmac

from loyalty.errors import invalid
from loyalty.platform.config import Settings, get_settings

_PURPOSE = b"loyalty-unsubscribe:email:"


def _mac(customer_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), _PURPOSE + str(customer_id).encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()  # 144 bits, no padding


def token_for(customer_id: int, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{customer_id}.{_mac(customer_id, settings.secret_key)}"


def customer_of(token: str, settings: Settings | None = None) -> int | None:
    """The customer a token was made for, or None if it is not one of ours."""
    settings = settings or get_settings()
    head, _, mac = (token or "").partition(".")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if not (head.isascii() and head.isdigit()) or len(head) > 19:
        return None
    customer_id = int(head)
    if not hmac.compare_digest(mac.encode(), _mac(customer_id, settings.secret_key).encode()):
        return None
    return customer_id


def link_for(customer_id: int, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.unsubscribe_url}?token={token_for(customer_id, settings)}"


async def unsubscribe_email(token: str) -> int:
    """Turn email marketing off for the token's customer (recorded in the
    consent history, source "unsubscribe-link"); their id. A token that is
    not ours: INVALID_INPUT on `token`. Idempotent."""
    from notifications.preferences import update_preferences

    customer_id = customer_of(token)
    if customer_id is None:
        raise invalid("This unsubscribe link is not valid.", "token")
    await update_preferences(customer_id, email_opt_in=False, source="unsubscribe-link")
    return customer_id
