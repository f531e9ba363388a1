"""Rotating, single-use QR codes for the digital card.

The app draws the code itself, offline, from three values it gets with the
card: `cardNumber` (12 digits), `qrSecret` (base32, RFC 4648 alphabet A-Z and
2-7, upper case, no "=" padding; it decodes to 20 bytes) and `qrPeriodSeconds`
(30). To draw a code:

1. step = floor(unix_time_seconds / qrPeriodSeconds), written in decimal
   without leading zeros.
2. nonce = base32 (upper case, no padding) of 5 fresh bytes from a
   cryptographically secure random generator: 8 characters. Use a new nonce
   for every code drawn.
3. message = cardNumber + "." + step + "." + nonce, as ASCII bytes.
4. key = base32-decode(qrSecret). If your decoder wants padding, add "="
   until the length is a multiple of 8 first.
5. mac = base32 (upper case, no padding) of the first 10 bytes of
   HMAC-SHA256(key, message): 16 characters.
6. payload = message + "." + mac.

Worked example: qrSecret "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", cardNumber
"912345678904", time 2025-01-01T00:00:00Z (unix 1735689600), so step
57856320, and nonce bytes 00 01 02 03 04, so nonce "AAAQEAYE", give the payload
"912345678904.57856320.AAAQEAYE.3JGT2BPVHO62WVYY".

Every character of the payload is a digit, an upper-case letter or ".", so
encode it in QR alphanumeric mode (most libraries pick it by themselves),
error correction M. Draw a new code with a new step every qrPeriodSeconds.

The server accepts a code whose step is from 2 periods behind its own current
step to 1 period ahead (for a slow scan or a phone clock that runs a little
fast), so a code stays valid for 60 to 90 seconds after it is drawn. A code
that has paid for a redemption cannot be used again. Lower-case payloads are
accepted. Refusals: CARD_NOT_FOUND when the payload is malformed, the card
number's check digit is wrong or the mac does not match; QR_EXPIRED when the
step is outside the accepted window (check the phone's clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from wallet.card_numbers import CARD_NUMBER_LENGTH, normalize_card_number

QR_PERIOD_SECONDS = 30
QR_STEPS_BEHIND = 2
QR_STEPS_AHEAD = 1
NONCE_BYTES = 5
MAC_BYTES = 10
SECRET_BYTES = 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERIOD = timedelta(seconds=QR_PERIOD_SECONDS)
_DIGITS = frozenset("0123456789")
_B32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
# Byte counts that are multiples of 5 encode to base32 with no padding and no
# spare bits, so each nonce and mac has exactly one spelling.
_NONCE_CHARS = NONCE_BYTES * 8 // 5
_MAC_CHARS = MAC_BYTES * 8 // 5
# 12 digits of step last until the year 950,000 or so; the cap only bounds input.
_MAX_STEP_DIGITS = 12
_MAX_PAYLOAD_CHARS = 64

QrErrorCode = Literal["CARD_NOT_FOUND", "QR_EXPIRED"]


class QrError(Exception):
    """A scanned code was refused; ``code`` is the client-facing error code.

    "CARD_NOT_FOUND" covers malformed payloads, bad check digits and forged
    macs alike, so a prober learns nothing about which part was wrong.
    """

    def __init__(self, code: QrErrorCode, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code: QrErrorCode = code


@dataclass(frozen=True)
class QrCode:
    """A drawn code: the payload to encode and when the server stops accepting it."""

    payload: str
    step: int
    expires_at: datetime


@dataclass(frozen=True)
class ParsedQr:
    """A payload that is well formed; its mac and window are not checked yet."""

    card_number: str
    step: int
    nonce: str
    mac: str

    @property
    def spend_key(self) -> str:
        """The key the server records when this code pays for a redemption.

        Built from the parsed (upper-cased, integer) fields rather than the raw
        payload, so a lower-cased copy of a spent code maps to the same key.
        """
        return f"{self.card_number}.{self.step}.{self.nonce}"


def _b32(data: bytes) -> str:
    """Base32 (RFC 4648), upper case, without "=" padding."""
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    """Inverse of `_b32`; raises ValueError (binascii.Error) on bad input."""
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def new_qr_secret() -> str:
    """Return a fresh per-card QR secret: base32 of SECRET_BYTES random bytes."""
    return _b32(secrets.token_bytes(SECRET_BYTES))


def _step_at(now: datetime | None) -> int:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("QR time must be timezone-aware")
    # Integer timedelta arithmetic: float timestamps could land a hair on the
    # wrong side of a period boundary.
    return (now - _EPOCH) // _PERIOD


def _mac(card_number: str, step: int, nonce: str, qr_secret: str) -> str:
    message = f"{card_number}.{step}.{nonce}".encode("ascii")
    digest = hmac.new(_b32decode(qr_secret), message, hashlib.sha256).digest()
    return _b32(digest[:MAC_BYTES])


def make_qr(card_number: str, qr_secret: str, now: datetime | None = None) -> QrCode:
    """Draw a code for ``card_number`` at ``now`` (default: the current time).

    The server normally leaves this to the app; it is here for web wallets,
    printed previews and tests. Raises ValueError for a card number that is
    not 12 bare digits with a valid check digit.
    """
    if normalize_card_number(card_number) != card_number:
        raise ValueError("card_number must be 12 digits with a valid check digit")
    step = _step_at(now)
    nonce = _b32(secrets.token_bytes(NONCE_BYTES))
    mac = _mac(card_number, step, nonce, qr_secret)
    # The last instant accepted is the end of step + QR_STEPS_BEHIND.
    expires_at = _EPOCH + (step + QR_STEPS_BEHIND + 1) * _PERIOD
    return QrCode(payload=f"{card_number}.{step}.{nonce}.{mac}", step=step, expires_at=expires_at)


def _refuse(reason: str) -> QrError:
    return QrError("CARD_NOT_FOUND", f"malformed QR payload: {reason}")


def parse_qr(payload: str) -> ParsedQr:
    """Check the syntax of a scanned payload and split it into its fields.

    Raises QrError("CARD_NOT_FOUND") for anything malformed, and never any
    other exception, whatever string the scanner hands over.
    """
    if not isinstance(payload, str):
        raise _refuse("not a string")
    # Length first, so no further work is spent on huge inputs.
    if len(payload) > _MAX_PAYLOAD_CHARS:
        raise _refuse("too long")
    # ASCII before upper(): some non-ASCII letters change length when upper-cased.
    if not payload.isascii():
        raise _refuse("non-ASCII characters")
    # Some scanners lower-case alphanumeric QR content.
    parts = payload.upper().split(".")
    if len(parts) != 4:
        raise _refuse("expected 4 dot-separated parts")
    card_number, step_text, nonce, mac = parts

    if (
        len(card_number) != CARD_NUMBER_LENGTH
        or not set(card_number) <= _DIGITS
        or normalize_card_number(card_number) != card_number
    ):
        raise _refuse("bad card number")
    # No leading zeros: one spelling per step, exactly as the algorithm writes it.
    if (
        not 1 <= len(step_text) <= _MAX_STEP_DIGITS
        or not set(step_text) <= _DIGITS
        or (len(step_text) > 1 and step_text[0] == "0")
    ):
        raise _refuse("bad step")
    if len(nonce) != _NONCE_CHARS or not set(nonce) <= _B32_ALPHABET:
        raise _refuse("bad nonce")
    if len(mac) != _MAC_CHARS or not set(mac) <= _B32_ALPHABET:
        raise _refuse("bad mac")
    return ParsedQr(card_number=card_number, step=int(step_text), nonce=nonce, mac=mac)


def is_fresh(parsed: ParsedQr, now: datetime | None = None) -> bool:
    """True if the code's step is inside the accepted window around ``now``."""
    current = _step_at(now)
    return current - QR_STEPS_BEHIND <= parsed.step <= current + QR_STEPS_AHEAD


def verify_qr(parsed: ParsedQr, qr_secret: str, now: datetime | None = None) -> None:
    """Check the mac against the card's secret, then the time window.

    Raises QrError("CARD_NOT_FOUND") for a forged mac and QrError("QR_EXPIRED")
    outside the window. The mac comes first so an expired-versus-forged answer
    never tells a forger anything. Single use (the spend key) is the caller's
    job, since it needs the database.
    """
    expected = _mac(parsed.card_number, parsed.step, parsed.nonce, qr_secret)
    if not hmac.compare_digest(expected, parsed.mac):
        raise QrError("CARD_NOT_FOUND", "QR mac does not match")
    if not is_fresh(parsed, now):
        raise QrError("QR_EXPIRED", "QR code is outside the accepted time window")
