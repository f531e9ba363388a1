"""Phone numbers as the programme keeps them: the digits, with the leading
"+" of an international number, without the spaces, dots, dashes and
brackets people type ("+33 6 12 34 56 78" is "+33612345678"), so that the
SMS provider gets one form and staff find a customer whatever they type."""

from __future__ import annotations

import re

from loyalty.errors import invalid

MAX_TYPED = 32
_TYPED = re.compile(r"\+?[0-9 ().\-]+")
# E.164: up to 15 digits after the country code's "+"; a national number
# (without "+") is kept as given, at least 6 digits.
_KEPT = re.compile(r"\+[1-9][0-9]{6,14}|[0-9]{6,15}")


def normalise_phone(raw: str, field: str = "phone") -> str:
    """The number as kept, or INVALID_INPUT on `field`."""
    text = raw.strip() if isinstance(raw, str) else ""
    if len(text) > MAX_TYPED or not _TYPED.fullmatch(text):
        raise invalid("A phone number is digits, with an optional leading +.", field)
    kept = re.sub(r"[ ().\-]", "", text)
    if not _KEPT.fullmatch(kept):
        raise invalid("A phone number has 6 to 15 digits (+ and the country code for an "
                      "international one).", field)
    return kept


def looks_like_phone(text: str) -> bool:
    """Whether a staff search is a phone number rather than a name."""
    try:
        normalise_phone(text)
    except Exception:  # noqa: BLE001 - a DomainError: not a phone number
        return False
    return True
