"""Card numbers: Luhn check digit, generation, typo refusal, printing."""

import pytest

from wallet.card_numbers import (
    CARD_NUMBER_LENGTH,
    format_card_number,
    luhn_check_digit,
    new_card_number,
    normalize_card_number,
)

# "91234567890" + Luhn check digit 4; fixed so failures are reproducible.
KNOWN_NUMBER = "912345678904"


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        ("7992739871", "3"),  # the textbook example
        ("411111111111111", "1"),  # Visa test card 4111 1111 1111 1111
        ("0", "0"),
        ("1", "8"),
        ("91234567890", "4"),
    ],
)
def test_luhn_known_vectors(digits: str, check: str) -> None:
    assert luhn_check_digit(digits) == check


@pytest.mark.parametrize("bad", ["", "12a4", "12 34", "١٢٣", "²"])
def test_luhn_refuses_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        luhn_check_digit(bad)


def test_new_card_number_shape() -> None:
    for _ in range(200):
        number = new_card_number()
        assert len(number) == CARD_NUMBER_LENGTH == 12
        assert number.isascii() and number.isdigit()
        assert number[0] == "9"
        assert normalize_card_number(number) == number


def test_new_card_numbers_are_random() -> None:
    assert len({new_card_number() for _ in range(100)}) == 100


def test_normalize_strips_spaces_and_dashes() -> None:
    assert normalize_card_number("9123 4567 8904") == KNOWN_NUMBER
    assert normalize_card_number("9123-4567-8904") == KNOWN_NUMBER
    assert normalize_card_number(" 9123-4567 8904 ") == KNOWN_NUMBER


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "91234567890",  # 11 digits
        "9123456789044",  # 13 digits
        "912345678905",  # wrong check digit
        "91234567890A",
        "9123\t4567\t8904",  # only spaces and dashes are dropped
        "９１２３４５６７８９０４",  # fullwidth digits
    ],
)
def test_normalize_refuses(raw: str) -> None:
    assert normalize_card_number(raw) is None


def test_every_single_digit_typo_is_refused() -> None:
    for number in [KNOWN_NUMBER, *(new_card_number() for _ in range(20))]:
        for position in range(CARD_NUMBER_LENGTH):
            for digit in "0123456789":
                if digit == number[position]:
                    continue
                typo = number[:position] + digit + number[position + 1 :]
                assert normalize_card_number(typo) is None, typo


def test_adjacent_transposition_is_refused() -> None:
    # Swap the "1" and "2" of 9[12]3456789 04.
    assert normalize_card_number("921345678904") is None


def test_adjacent_transpositions_other_than_09_are_refused() -> None:
    # Luhn's one blind spot is 09 <-> 90; every other swap of differing digits is caught.
    for number in [KNOWN_NUMBER, *(new_card_number() for _ in range(20))]:
        for i in range(CARD_NUMBER_LENGTH - 1):
            a, b = number[i], number[i + 1]
            if a == b or {a, b} == {"0", "9"}:
                continue
            swapped = number[:i] + b + a + number[i + 2 :]
            assert normalize_card_number(swapped) is None, swapped


def test_format_groups_of_four() -> None:
    assert format_card_number(KNOWN_NUMBER) == "9123 4567 8904"


def test_format_round_trips_through_normalize() -> None:
    number = new_card_number()
    assert normalize_card_number(format_card_number(number)) == number
