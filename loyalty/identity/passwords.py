"""Password hashing with scrypt, a memory-hard KDF from the standard library."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from loyalty.errors import invalid
from loyalty.platform.config import get_settings

# NIST SP 800-63B asks for 8 at least; 10 leaves the shortest guessable
# patterns (names with a year, keyboard rows) out, and a phrase fits easily.
MIN_LENGTH = 10
MAX_LENGTH = 256  # hashing cost must not be the attacker's to choose
_R, _P, _DKLEN = 8, 1, 32


@cache
def common_passwords() -> frozenset[str]:
    """The most common passwords, lower-cased (loyalty/data/common_passwords.txt,
    read once): the first ones an attacker tries, against every account."""
    text = files("loyalty").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def check_strength(password: str, email: str | None = None) -> None:
    """Refuse a password that the first guesses of an attacker would find: too
    short, blank, one character repeated, one of the most common, or the
    account's own email. Every refusal is INVALID_INPUT on `password`."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise invalid(f"A password needs at least {MIN_LENGTH} characters.", "password")
    if len(password) > MAX_LENGTH:
        raise invalid(f"A password has at most {MAX_LENGTH} characters.", "password")
    folded = password.strip().lower()
    if len(set(folded)) <= 1:
        raise invalid("A password cannot be blank or one character repeated.", "password")
    if folded in common_passwords():
        raise invalid("This password is among the most common ones; choose another.",
                      "password")
    if email and folded in (email.lower(), email.lower().partition("@")[0]):
        raise invalid("A password cannot be the email address.", "password")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, log_n: int | None = None) -> str:
    log_n = get_settings().scrypt_log_n if log_n is None else log_n
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=2**log_n, r=_R, p=_P, maxmem=2**26, dklen=_DKLEN
    )
    return f"scrypt${log_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, log_n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=2 ** int(log_n),
            r=int(r),
            p=int(p),
            maxmem=2**26,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash to check against when the account does not exist, so that timing does
# not tell which emails are registered.
_DUMMY: str | None = None


def dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password(secrets.token_hex(8))
    return _DUMMY


def scrypt_concurrency() -> int:
    """How many scrypt runs a process allows at once: half its cores (at
    least one) unless configured, leaving the rest to every other request."""
    configured = get_settings().scrypt_concurrency
    if configured:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // 2)


@dataclass
class Slot:
    """The right to run scrypt now. `waited`: others held every slot when it
    was asked for, so what was true before asking may have changed."""

    waited: bool

    async def hash(self, password: str) -> str:
        # scrypt runs GIL-free C code for tens of milliseconds: off the loop.
        return await asyncio.to_thread(hash_password, password)

    async def verify(self, password: str, encoded: str) -> bool:
        return await asyncio.to_thread(verify_password, password, encoded)


# One semaphore per event loop and size (tests change the size).
_limiter: tuple[asyncio.AbstractEventLoop, int, asyncio.Semaphore] | None = None


@asynccontextmanager
async def scrypt_slot() -> AsyncIterator[Slot]:
    """Every scrypt run goes through here: a burst of log-ins queues for the
    slots instead of taking every core (and thread) from other requests."""
    global _limiter
    loop, size = asyncio.get_running_loop(), scrypt_concurrency()
    if _limiter is None or _limiter[0] is not loop or _limiter[1] != size:
        _limiter = (loop, size, asyncio.Semaphore(size))
    semaphore = _limiter[2]
    waited = semaphore.locked()
    async with semaphore:
        yield Slot(waited)


async def hash_password_async(password: str) -> str:
    async with scrypt_slot() as slot:
        return await slot.hash(password)


async def verify_password_async(password: str, encoded: str) -> bool:
    async with scrypt_slot() as slot:
        return await slot.verify(password, encoded)
