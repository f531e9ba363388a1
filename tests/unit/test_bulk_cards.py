"""Cards drawn in bulk are cards like any other."""

from __future__ import annotations

from wallet.bulk import new_cards
from wallet.card_numbers import luhn_check_digit, normalize_card_number
from wallet.qr import _b32decode, make_qr, new_qr_secret, parse_qr, verify_qr


def test_bulk_cards_have_valid_numbers_and_usable_secrets():
    cards = new_cards(2000)
    assert len({n for n, _ in cards}) == 2000
    for number, secret in cards[:200]:
        assert normalize_card_number(number) == number
        assert number[-1] == luhn_check_digit(number[:-1]) and number[0] == "9"
        assert len(secret) == len(new_qr_secret()) and len(_b32decode(secret)) == 20
        verify_qr(parse_qr(make_qr(number, secret).payload), secret)
