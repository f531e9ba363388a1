"""Rotating single-use QR codes: format, mac, time window, strict parsing."""

import base64
import hashlib
import hmac
import random
import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wallet import qr
from wallet.card_numbers import new_card_number
from wallet.qr import (
    MAC_BYTES,
    NONCE_BYTES,
    QR_PERIOD_SECONDS,
    QR_STEPS_AHEAD,
    QR_STEPS_BEHIND,
    SECRET_BYTES,
    ParsedQr,
    QrCode,
    QrError,
    is_fresh,
    make_qr,
    new_qr_secret,
    parse_qr,
    verify_qr,
)

CARD = "912345678904"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PERIOD = timedelta(seconds=QR_PERIOD_SECONDS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Mid-period, so "a period later" never lands on a boundary by accident.
NOW = datetime(2025, 6, 1, 12, 0, 10, 123456, tzinfo=UTC)
STEP_START = EPOCH + (NOW - EPOCH) // PERIOD * PERIOD
ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.")
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
MICROSECOND = timedelta(microseconds=1)


def _code_at(when: datetime, secret: str = SECRET) -> QrCode:
    return make_qr(CARD, secret, when)


def _error_code(payload: str, now: datetime = NOW, secret: str = SECRET) -> str:
    with pytest.raises(QrError) as caught:
        verify_qr(parse_qr(payload), secret, now)
    return caught.value.code


def _replace_char(text: str, index: int) -> str:
    ch = text[index]
    other = B32[(B32.index(ch) + 1) % len(B32)]
    return text[:index] + other + text[index + 1 :]


# --- secrets and payload shape -------------------------------------------------


def test_new_qr_secret_is_unpadded_base32_of_20_bytes() -> None:
    secret = new_qr_secret()
    assert len(secret) == 32
    assert set(secret) <= set(B32)
    assert len(base64.b32decode(secret)) == SECRET_BYTES == 20
    assert new_qr_secret() != secret


def test_b32_round_trips_lengths_that_need_padding() -> None:
    for size in range(0, 26):
        data = secrets.token_bytes(size)
        text = qr._b32(data)
        assert "=" not in text and text == text.upper()
        assert qr._b32decode(text) == data
        assert qr._b32decode(text.lower()) == data


def test_payload_shape() -> None:
    code = _code_at(NOW)
    assert len(code.payload) <= 50
    assert set(code.payload) <= ALPHANUMERIC
    card, step, nonce, mac = code.payload.split(".")
    assert card == CARD
    assert int(step) == code.step == int(NOW.timestamp()) // QR_PERIOD_SECONDS
    assert step == str(code.step)
    assert len(nonce) == 8 == NONCE_BYTES * 8 // 5
    assert len(mac) == 16 == MAC_BYTES * 8 // 5


def test_payload_shape_with_random_cards_and_secrets() -> None:
    for _ in range(50):
        payload = make_qr(new_card_number(), new_qr_secret()).payload
        assert len(payload) <= 50
        assert set(payload) <= ALPHANUMERIC


def test_two_codes_differ() -> None:
    assert _code_at(NOW).payload != _code_at(NOW).payload


def test_make_qr_refuses_bad_card_number_and_naive_time() -> None:
    with pytest.raises(ValueError):
        make_qr("912345678905", SECRET, NOW)
    with pytest.raises(ValueError):
        make_qr("9123 4567 8904", SECRET, NOW)
    with pytest.raises(ValueError):
        make_qr(CARD, SECRET, datetime(2025, 6, 1, 12, 0, 0))


def test_make_qr_defaults_to_now() -> None:
    code = make_qr(CARD, SECRET)
    verify_qr(parse_qr(code.payload), SECRET)
    assert code.expires_at > datetime.now(UTC)


# --- round trip and forgery ----------------------------------------------------


def test_round_trip() -> None:
    code = _code_at(NOW)
    parsed = parse_qr(code.payload)
    assert parsed.card_number == CARD
    assert parsed.step == code.step
    assert f"{parsed.spend_key}.{parsed.mac}" == code.payload
    verify_qr(parsed, SECRET, NOW)


def test_spend_key() -> None:
    parsed = ParsedQr(card_number=CARD, step=57856320, nonce="AAAQEAYE", mac="X" * 16)
    assert parsed.spend_key == "912345678904.57856320.AAAQEAYE"


@pytest.mark.parametrize("index", range(16))
def test_forged_mac_is_card_not_found(index: int) -> None:
    payload = _code_at(NOW).payload
    body, mac = payload.rsplit(".", 1)
    assert _error_code(f"{body}.{_replace_char(mac, index)}") == "CARD_NOT_FOUND"


def test_changed_nonce_or_step_is_card_not_found() -> None:
    card, step, nonce, mac = _code_at(NOW).payload.split(".")
    assert _error_code(f"{card}.{step}.{_replace_char(nonce, 0)}.{mac}") == "CARD_NOT_FOUND"
    # Moving the step forward must not stretch a code's life.
    assert _error_code(f"{card}.{int(step) + 1}.{nonce}.{mac}") == "CARD_NOT_FOUND"


def test_code_for_another_card_is_card_not_found() -> None:
    other = new_card_number()
    _, step, nonce, mac = _code_at(NOW).payload.split(".")
    assert _error_code(f"{other}.{step}.{nonce}.{mac}") == "CARD_NOT_FOUND"


def test_wrong_secret_is_card_not_found() -> None:
    payload = _code_at(NOW).payload
    assert _error_code(payload, secret=new_qr_secret()) == "CARD_NOT_FOUND"


def test_forged_mac_is_card_not_found_even_when_expired() -> None:
    # The mac is checked first: a forger cannot learn about the window.
    body, mac = _code_at(NOW).payload.rsplit(".", 1)
    later = NOW + (QR_STEPS_BEHIND + 5) * PERIOD
    assert _error_code(f"{body}.{_replace_char(mac, 0)}", now=later) == "CARD_NOT_FOUND"


# --- time window ---------------------------------------------------------------


def test_too_old_is_expired() -> None:
    payload = _code_at(NOW).payload
    later = NOW + (QR_STEPS_BEHIND + 1) * PERIOD
    assert _error_code(payload, now=later) == "QR_EXPIRED"


def test_too_far_in_future_is_expired() -> None:
    payload = _code_at(NOW + (QR_STEPS_AHEAD + 1) * PERIOD).payload
    assert _error_code(payload, now=NOW) == "QR_EXPIRED"


def test_accepted_at_the_late_edge() -> None:
    code = _code_at(STEP_START)
    last_accepted = STEP_START + (QR_STEPS_BEHIND + 1) * PERIOD - MICROSECOND
    verify_qr(parse_qr(code.payload), SECRET, last_accepted)
    assert _error_code(code.payload, now=last_accepted + MICROSECOND) == "QR_EXPIRED"


def test_accepted_at_the_early_edge() -> None:
    # A phone clock running ahead draws a code for a step the server has not reached.
    code = _code_at(STEP_START + QR_STEPS_AHEAD * PERIOD)
    first_accepted = STEP_START
    verify_qr(parse_qr(code.payload), SECRET, first_accepted)
    assert _error_code(code.payload, now=first_accepted - MICROSECOND) == "QR_EXPIRED"


def test_accepted_throughout_the_window() -> None:
    code = _code_at(NOW)
    parsed = parse_qr(code.payload)
    t = STEP_START - QR_STEPS_AHEAD * PERIOD
    while t < code.expires_at:
        verify_qr(parsed, SECRET, t)
        t += timedelta(seconds=7)


def test_expires_at_is_the_first_refused_instant() -> None:
    code = _code_at(NOW)
    assert code.expires_at.tzinfo is not None
    assert code.expires_at.utcoffset() == timedelta(0)
    assert code.expires_at == datetime.fromtimestamp(
        (code.step + QR_STEPS_BEHIND + 1) * QR_PERIOD_SECONDS, UTC
    )
    parsed = parse_qr(code.payload)
    verify_qr(parsed, SECRET, code.expires_at - MICROSECOND)
    assert _error_code(code.payload, now=code.expires_at) == "QR_EXPIRED"


def test_validity_lasts_60_to_90_seconds() -> None:
    early = _code_at(STEP_START)
    late = _code_at(STEP_START + PERIOD - MICROSECOND)
    assert early.expires_at - STEP_START == timedelta(seconds=90)
    assert late.expires_at - (STEP_START + PERIOD - MICROSECOND) > timedelta(seconds=60)


def test_is_fresh() -> None:
    parsed = parse_qr(_code_at(NOW).payload)
    assert is_fresh(parsed, NOW)
    assert is_fresh(parsed, NOW - QR_STEPS_AHEAD * PERIOD)
    assert not is_fresh(parsed, NOW - (QR_STEPS_AHEAD + 1) * PERIOD)
    assert is_fresh(parsed, NOW + QR_STEPS_BEHIND * PERIOD)
    assert not is_fresh(parsed, NOW + (QR_STEPS_BEHIND + 1) * PERIOD)


def test_naive_time_is_refused() -> None:
    parsed = parse_qr(_code_at(NOW).payload)
    with pytest.raises(ValueError):
        is_fresh(parsed, datetime(2025, 6, 1, 12, 0, 10))


def test_other_timezones_mean_the_same_instant() -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=2)))
    assert _code_at(paris).step == _code_at(NOW).step


# --- strict parsing ------------------------------------------------------------


def _valid_parts() -> list[str]:
    return _code_at(NOW).payload.split(".")


def _malformed_payloads() -> list[tuple[str, str]]:
    card, step, nonce, mac = _valid_parts()
    return [
        ("empty", ""),
        ("too long", "9" * 10_000),
        ("too long but well formed otherwise", f"{card}.{'1' * 12}.{nonce}.{mac}" + "A" * 20),
        ("three parts", f"{card}.{step}.{nonce}"),
        ("five parts", f"{card}.{step}.{nonce}.{mac}.X"),
        ("trailing dot", f"{card}.{step}.{nonce}.{mac}."),
        ("non-digit step", f"{card}.12A4.{nonce}.{mac}"),
        ("negative step", f"{card}.-5.{nonce}.{mac}"),
        ("empty step", f"{card}..{nonce}.{mac}"),
        ("13-digit step", f"{card}.{'1' * 13}.{nonce}.{mac}"),
        ("leading-zero step", f"{card}.0{step}.{nonce}.{mac}"),
        ("unicode digit step", f"{card}.{'٣' * 4}.{nonce}.{mac}"),
        ("unicode letter", f"{card}.{step}.{nonce[:-1]}É.{mac}"),
        ("unicode sharp s", f"{card}.{step}.{nonce[:-1]}ß.{mac}"),
        ("lone surrogate", f"{card}.{step}.{nonce[:-1]}\ud800.{mac}"),
        ("emoji", "🙂"),
        ("bad card check digit", f"{card[:-1]}{(int(card[-1]) + 1) % 10}.{step}.{nonce}.{mac}"),
        ("card with spaces", f"{card[:4]} {card[4:8]} {card[8:]}.{step}.{nonce}.{mac}"),
        ("card with dashes", f"{card[:4]}-{card[4:8]}-{card[8:]}.{step}.{nonce}.{mac}"),
        ("short card", f"{card[1:]}.{step}.{nonce}.{mac}"),
        ("short nonce", f"{card}.{step}.{nonce[:-1]}.{mac}"),
        ("long nonce", f"{card}.{step}.{nonce}A.{mac}"),
        ("nonce outside base32", f"{card}.{step}.{nonce[:-1]}1.{mac}"),
        ("padded nonce", f"{card}.{step}.{nonce[:-1]}=.{mac}"),
        ("short mac", f"{card}.{step}.{nonce}.{mac[:-1]}"),
        ("long mac", f"{card}.{step}.{nonce}.{mac}A"),
        ("mac outside base32", f"{card}.{step}.{nonce}.{mac[:-1]}8"),
        ("spaces around", f" {card}.{step}.{nonce}.{mac} "),
        ("newline", f"{card}.{step}.{nonce}.{mac}\n"),
        ("nul", f"{card}.{step}.{nonce}.{mac}\x00"),
    ]


@pytest.mark.parametrize(("label", "payload"), _malformed_payloads())
def test_malformed_payload_is_card_not_found(label: str, payload: str) -> None:
    with pytest.raises(QrError) as caught:
        parse_qr(payload)
    assert caught.value.code == "CARD_NOT_FOUND", label


def test_non_string_is_card_not_found() -> None:
    with pytest.raises(QrError) as caught:
        parse_qr(b"912345678904.1.AAAAAAAA.AAAAAAAAAAAAAAAA")  # type: ignore[arg-type]
    assert caught.value.code == "CARD_NOT_FOUND"


def test_parse_never_raises_anything_but_qr_error() -> None:
    rng = random.Random(20250601)
    valid = _code_at(NOW).payload
    alphabet = "0123456789ABCXYZ234567abcxyz.-= \t\n\x00é٣ß🙂\ud800"
    for _ in range(5000):
        if rng.random() < 0.5:
            chars = list(valid)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(chars) + 1)
                action = rng.choice(("insert", "delete", "replace"))
                if action == "insert" or not chars:
                    chars.insert(i, rng.choice(alphabet))
                elif action == "delete" and i < len(chars):
                    del chars[i]
                elif i < len(chars):
                    chars[i] = rng.choice(alphabet)
            candidate = "".join(chars)
        else:
            candidate = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70)))
        try:
            parsed = parse_qr(candidate)
        except QrError as error:
            assert error.code == "CARD_NOT_FOUND"
            continue
        try:
            verify_qr(parsed, SECRET, NOW)
        except QrError:
            pass


def test_lowercase_is_accepted() -> None:
    code = _code_at(NOW)
    lowered = parse_qr(code.payload.lower())
    assert lowered == parse_qr(code.payload)
    assert lowered.spend_key == parse_qr(code.payload).spend_key
    verify_qr(lowered, SECRET, NOW)


def test_largest_well_formed_payload_parses() -> None:
    card, _, nonce, mac = _valid_parts()
    payload = f"{card}.{'9' * 12}.{nonce}.{mac}"
    assert parse_qr(payload).step == 999_999_999_999


def test_qr_error_carries_code() -> None:
    error = QrError("QR_EXPIRED")
    assert isinstance(error, Exception)
    assert error.code == "QR_EXPIRED"


# --- the documented algorithm --------------------------------------------------


def _client_payload(card_number: str, qr_secret: str, unix_seconds: int, nonce: bytes) -> str:
    """What an app does, written only from the module docstring."""
    step = unix_seconds // QR_PERIOD_SECONDS
    nonce_text = base64.b32encode(nonce).decode("ascii").rstrip("=")
    message = f"{card_number}.{step}.{nonce_text}"
    key = base64.b32decode(qr_secret + "=" * (-len(qr_secret) % 8))
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()
    mac = base64.b32encode(digest[:10]).decode("ascii").rstrip("=")
    return f"{message}.{mac}"


def test_independent_client_implementation_is_accepted() -> None:
    for _ in range(20):
        card, secret = new_card_number(), new_qr_secret()
        now = NOW + timedelta(seconds=secrets.randbelow(10**6))
        payload = _client_payload(card, secret, int(now.timestamp()), secrets.token_bytes(5))
        verify_qr(parse_qr(payload), secret, now)


def test_worked_example_in_docstring() -> None:
    unix = 1735689600
    assert datetime.fromtimestamp(unix, UTC) == datetime(2025, 1, 1, tzinfo=UTC)
    expected = "912345678904.57856320.AAAQEAYE.3JGT2BPVHO62WVYY"
    assert _client_payload(CARD, SECRET, unix, bytes([0, 1, 2, 3, 4])) == expected
    assert f'"{expected}"' in qr.__doc__
    assert f'"{SECRET}"' in qr.__doc__
    verify_qr(parse_qr(expected), SECRET, datetime.fromtimestamp(unix, UTC))


def test_docstring_constants_match_code() -> None:
    doc = " ".join(qr.__doc__.split())
    assert f"`qrPeriodSeconds` ({QR_PERIOD_SECONDS})" in doc
    assert f"decodes to {SECRET_BYTES} bytes" in doc
    assert f"of {NONCE_BYTES} fresh bytes" in doc
    assert f"first {MAC_BYTES} bytes" in doc
    assert f"from {QR_STEPS_BEHIND} periods behind" in doc
    assert f"to {QR_STEPS_AHEAD} period ahead" in doc
