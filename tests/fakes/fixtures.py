"""Fixtures of the notification tests: the fake FCM, a real firebase-admin
sender pointed at it, and cleaning of the notification tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from firebase_admin import messaging

from notifications.push import FirebaseSender
from tests.fakes.fcm import FakeFcm, FakeServer


@pytest.fixture(scope="session")
def fake_fcm_server() -> Iterator[FakeFcm]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def fake_fcm(fake_fcm_server: FakeFcm) -> FakeFcm:
    fake_fcm_server.reset()
    return fake_fcm_server


@pytest.fixture
async def sender(
    fake_fcm: FakeFcm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FirebaseSender]:
    # The FCM URL has no setting: it is formatted into the service at creation.
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fake_fcm.fcm_url())
    push = FirebaseSender(str(fake_fcm.service_account(tmp_path)))
    yield push
    await push.close()


@pytest.fixture
async def notification_tables(database: str) -> AsyncIterator[None]:
    """Rows of these tables point at customers, whom the shared clean-up deletes."""
    await _clear()
    yield
    await _clear()


async def _clear() -> None:
    from tortoise import connections

    conn = connections.get("default")
    for table in ("delivery", "notification", "device"):
        await conn.execute_script(f"DELETE FROM {table}")
