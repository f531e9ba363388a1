"""Card numbers: 12 digits, the last a Luhn check digit.

The check digit lets a till or a support agent refuse a mistyped number at
once, without a database lookup: Luhn catches every single-digit typo and
every swap of two adjacent digits except 09 <-> 90.
"""

from __future__ import annotations

import secrets

CARD_NUMBER_LENGTH = 12

_DIGITS = frozenset("0123456789")
# A fixed first digit keeps our cards apart from payment cards (3-6) and lets
# a future number range start with another digit.
_PREFIX = "9"


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() would also accept characters such as "²" or Arabic-Indic digits.
    return bool(text) and all(ch in _DIGITS for ch in text)


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn (mod 10) check digit to append to ``digits``.

    Raises ValueError if ``digits`` is empty or holds anything but ASCII digits.
    """
    if not _is_ascii_digits(digits):
        raise ValueError("luhn_check_digit needs a non-empty string of ASCII digits")
    total = 0
    # Doubling starts at the rightmost digit given, because the check digit
    # will be appended to its right and is itself never doubled.
    for position, ch in enumerate(reversed(digits)):
        value = ord(ch) - ord("0")
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    """Return a fresh random card number: "9", 10 random digits, a Luhn check digit.

    Uniqueness is the caller's job (a unique index, retried on collision):
    10**10 numbers make a collision rare, not impossible.
    """
    body = _PREFIX + f"{secrets.randbelow(10**10):010d}"
    return body + luhn_check_digit(body)


def normalize_card_number(raw: str) -> str | None:
    """Return ``raw`` as 12 bare digits, or None if it cannot be a card number.

    Spaces and dashes are dropped, so a number copied from a printed card
    ("9123 4567 8904") or typed with dashes is accepted. None means the length
    is wrong, a character is not a digit or the check digit does not match.
    """
    number = raw.replace(" ", "").replace("-", "")
    if len(number) != CARD_NUMBER_LENGTH or not _is_ascii_digits(number):
        return None
    if luhn_check_digit(number[:-1]) != number[-1]:
        return None
    return number


def format_card_number(number: str) -> str:
    """Return ``number`` in groups of 4 digits separated by spaces, for printing."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
