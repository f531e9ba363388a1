"""Sending pushes through firebase-admin's async batch API.

The worker owns retries: the library's own in-line retries (four, sleeping in
the request on 500 and 503) are turned off, so a failing message is retried
later from its stored `next_attempt_at` instead of holding a worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Protocol

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
from firebase_admin import _http_client, credentials, exceptions, messaging
from firebase_admin._retry import HttpxRetry

log = logging.getLogger(__name__)

MAX_BATCH = 500  # send_each_async refuses more
# Messages per send_each_async call. Each message is its own HTTP request and
# httpcore rescans its queue of waiting requests on every change, so 500 at
# once over its ~100 pooled connections is twice as slow as 100 at a time
# (bench/push_bench.py).
SEND_CHUNK = 100


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    # Phones replace a shown notification that has the same id: a message sent
    # again after a worker died mid-batch (FCM may have delivered the first
    # copy, unrecorded) replaces the first copy instead of showing twice.
    collapse_id: str | None = None
    # How it shows (notifications/presentation.py): iOS plays `sound` and sets
    # the app icon's badge; Android posts it to `channel_id`.
    sound: str | None = None
    badge: int | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class PushOutcome:
    message_id: str | None = None
    error: str | None = None
    # The token is dead (unregistered, invalid): disable it, never retry.
    token_gone: bool = False
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class PushUnavailable(Exception):
    """The whole batch could not be sent (the OAuth token fetch failed): nothing
    was delivered, everything is to be retried."""


class PushSender(Protocol):
    async def send(self, messages: list[PushMessage]) -> list[PushOutcome]: ...

    async def close(self) -> None: ...


_TOKEN_GONE: dict[type[Exception], str] = {
    messaging.UnregisteredError: "UNREGISTERED",
    messaging.SenderIdMismatchError: "SENDER_ID_MISMATCH",
    exceptions.InvalidArgumentError: "INVALID_ARGUMENT",
}


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    response = error.http_response
    value = response.headers.get("Retry-After") if response is not None else None
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def outcome_of(response: messaging.SendResponse) -> PushOutcome:
    if response.success:
        return PushOutcome(message_id=response.message_id)
    error = response.exception
    for kind, code in _TOKEN_GONE.items():
        if isinstance(error, kind):
            return PushOutcome(error=code, token_gone=True)
    code = error.code if isinstance(error, exceptions.FirebaseError) else type(error).__name__
    if isinstance(error, messaging.QuotaExceededError):
        code = "QUOTA_EXCEEDED"
    after = _retry_after(error) if isinstance(error, exceptions.FirebaseError) else None
    return PushOutcome(error=str(code), retry_after=after)


def _message(m: PushMessage) -> messaging.Message:
    android = messaging.AndroidNotification(
        tag=m.collapse_id, channel_id=m.channel_id, sound=m.sound, notification_count=m.badge)
    aps = messaging.Aps(sound=m.sound, badge=m.badge)
    message = messaging.Message(
        notification=messaging.Notification(title=m.title, body=m.body),
        data=m.data,
        android=messaging.AndroidConfig(notification=android),
        apns=messaging.APNSConfig(
            headers={"apns-collapse-id": m.collapse_id} if m.collapse_id else None,
            payload=messaging.APNSPayload(aps=aps)),
    )
    # firebase-admin 7.7 deprecates `token` for Firebase installation ids
    # (`fid`), but the app registers FCM registration tokens, which FCM's v1
    # API still takes as `message.token`. Set after construction, it skips the
    # constructor's DeprecationWarning, whose suppression (catch_warnings per
    # message) cost more than building the message.
    message.token = m.token
    return message


class FirebaseSender:
    """Pushes through FCM with a service account (FIREBASE_CREDENTIALS)."""

    def __init__(self, credentials_path: str) -> None:
        cert = credentials.Certificate(credentials_path)
        self._app = firebase_admin.initialize_app(cert, name=f"loyalty-{uuid.uuid4().hex}")
        self._credential = cert.get_credential()
        service = messaging._get_messaging_service(self._app)
        service._async_client = _http_client.HttpxAsyncClient(
            credential=self._credential, retry_config=HttpxRetry(max_retries=0), timeout=30
        )
        self._service = service
        # One chunk in flight per process: the worker's concurrent passes
        # (loyalty worker --concurrency) overlap their database work with
        # each other's sends, but two chunks at once would put 200 requests
        # on the client's 100 pooled connections, and httpcore's pool
        # rescans every connection (two system calls each) whenever a
        # request starts or ends: the send costs ~1.6 times the CPU per
        # message (bench/push_bench.py, docs/adr/0004).
        self._sending = asyncio.Lock()

    async def _ensure_token(self) -> None:
        # google-auth refreshes with blocking `requests`: do it off the event
        # loop, and turn its failure into a failure of the whole batch.
        if self._credential.valid:
            return
        try:
            await asyncio.to_thread(
                self._credential.refresh, google.auth.transport.requests.Request()
            )
        except google.auth.exceptions.GoogleAuthError as exc:
            raise PushUnavailable(f"OAuth token fetch failed: {exc}") from exc

    async def send(self, messages: list[PushMessage]) -> list[PushOutcome]:
        outcomes: list[PushOutcome] = []
        for start in range(0, len(messages), SEND_CHUNK):
            await self._ensure_token()
            chunk = [_message(m) for m in messages[start : start + SEND_CHUNK]]
            try:
                async with self._sending:
                    batch = await messaging.send_each_async(chunk, app=self._app)
            except exceptions.FirebaseError as exc:  # the batch as a whole, not one message
                raise PushUnavailable(f"FCM batch failed: {exc}") from exc
            outcomes.extend(outcome_of(r) for r in batch.responses)
        return outcomes

    async def close(self) -> None:
        await self._service._async_client.aclose()
        # delete_app closes the (closed) client with asyncio.run: not on our loop.
        await asyncio.to_thread(firebase_admin.delete_app, self._app)


def sender_from_settings(credentials_path: str | None) -> PushSender | None:
    """None without credentials: messages then reach the inbox and the log only."""
    return FirebaseSender(credentials_path) if credentials_path else None
