"""The password policy: long enough, not blank, not one of the most common
passwords, not the email; refused as INVALID_INPUT on `password`."""

from __future__ import annotations

import pytest

from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import passwords
from tests.conftest import PASSWORD


def _refusal(password: str, email: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as refused:
        passwords.check_strength(password, email=email)
    return refused.value


@pytest.mark.parametrize("password", [
    "short",  # under the minimum
    "nine char",
    " " * 12,  # blank
    "\t \u00a0" * 4,
    "a" * 12,  # one character over and over
    "1234567890",  # among the most common
    "Password123",  # case does not save it
    "  qwertyuiop ",  # nor surrounding blanks
    "x" * (passwords.MAX_LENGTH + 1),  # hashing cost is not the caller's to choose
])
def test_weak_passwords_are_refused_on_the_password_field(password):
    error = _refusal(password)
    assert (error.code, error.field) == (ErrorCode.INVALID_INPUT, "password")


def test_the_email_or_its_local_part_is_not_a_password():
    for password in ("zoe.martin@example.test", "Zoe.Martin"):
        error = _refusal(password, email="zoe.martin@example.test")
        assert (error.code, error.field) == (ErrorCode.INVALID_INPUT, "password")
    passwords.check_strength("zoe.martin@example.test", email="someone@else.test")


@pytest.mark.parametrize("password", [
    PASSWORD,  # the tests' own
    "long enough password",  # the CLI test's
    "demo-password",  # the demo's
    "Tr0ub4dor&3x",
    "ünïcödé pässwörd",
    ("abcdefghij" * 30)[:passwords.MAX_LENGTH],
])
def test_reasonable_passwords_pass(password):
    passwords.check_strength(password, email="zoe@example.test")


def test_the_shipped_list_is_loaded_and_consistent():
    common = passwords.common_passwords()
    assert len(common) > 1000
    # Lower-cased (the check lower-cases), and only entries the length rule
    # would not already refuse.
    assert all(p == p.lower() and len(p) >= passwords.MIN_LENGTH for p in common)
