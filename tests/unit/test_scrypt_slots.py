"""scrypt runs at most `scrypt_concurrency` at a time in a process, so that a
burst of log-ins cannot take every core from other requests."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

from loyalty.identity import passwords
from loyalty.platform.config import Settings, get_settings, set_settings


@pytest.fixture
def settings() -> Iterator[None]:
    before = get_settings()
    yield
    set_settings(before)


@pytest.fixture
def busiest(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The most scrypt runs seen at once (each made to last 20 ms)."""
    real, lock, running, seen = hashlib.scrypt, threading.Lock(), [0], [0]

    def scrypt(*args, **kwargs):
        with lock:
            running[0] += 1
            seen[0] = max(seen[0], running[0])
        try:
            time.sleep(0.02)
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(passwords.hashlib, "scrypt", scrypt)
    return seen


@pytest.mark.parametrize("size", [1, 2])
async def test_concurrent_hashes_and_checks_share_the_slots(settings, busiest, size):
    set_settings(Settings(env="test", scrypt_log_n=4, scrypt_concurrency=size))
    encoded = passwords.hash_password("correct horse battery", log_n=4)
    busiest[0] = 0
    results = await asyncio.gather(
        *[passwords.verify_password_async("correct horse battery", encoded) for _ in range(6)],
        *[passwords.hash_password_async("another long password") for _ in range(4)],
    )
    assert results[:6] == [True] * 6
    assert busiest[0] == size


def test_by_default_half_the_cores_and_at_least_one(settings, monkeypatch):
    set_settings(Settings(env="test"))
    monkeypatch.setattr(passwords.os, "sched_getaffinity", lambda pid: set(range(8)),
                        raising=False)
    assert passwords.scrypt_concurrency() == 4
    monkeypatch.setattr(passwords.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert passwords.scrypt_concurrency() == 1
    set_settings(Settings(env="test", scrypt_concurrency=3))
    assert passwords.scrypt_concurrency() == 3
