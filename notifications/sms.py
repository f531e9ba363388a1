"""SMS: a small sender interface and an HTTP provider adapter (httpx).

`LOYALTY_SMS_URL` is the provider's message endpoint with its credentials,
`https://user:apikey@sms.example/v1/messages`: each message is a POST of JSON
`{"to", "body", "reference"}` with basic auth. The reference is the
notification's id, so that a provider which remembers references drops a
message sent again after a worker died between the send and its record.

The worker owns retries: a 5xx, a 429 or a timeout is transient (retried with
the notification's back-off), any other 4xx is a refusal (failed, with the
provider's answer as the reason). Another provider plugs in as another
`SmsSender`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    reference: str


@dataclass(frozen=True)
class SmsOutcome:
    # The provider's id for the message, when it says.
    message_id: str | None = None
    error: str | None = None
    # Worth trying again later (5xx, 429, a timeout, a refused connection).
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class SmsSender(Protocol):
    async def send(self, sms: Sms) -> SmsOutcome:
        """Hand one message to the provider; never raises for the provider's answer."""

    async def close(self) -> None: ...


class HttpSmsSender:
    """POST {to, body, reference} as JSON with basic auth from the URL."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("LOYALTY_SMS_URL must be https://user:apikey@host/path")
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.endpoint = urlunsplit((parts.scheme, host, parts.path or "/", parts.query, ""))
        self._auth = auth
        self._timeout = timeout
        # Made on the first message: a worker pass without SMS opens nothing.
        self._client: httpx.AsyncClient | None = None

    async def send(self, sms: Sms) -> SmsOutcome:
        if self._client is None:
            self._client = httpx.AsyncClient(auth=self._auth, timeout=self._timeout)
        try:
            response = await self._client.post(
                self.endpoint, json={"to": sms.to, "body": sms.body, "reference": sms.reference})
        except httpx.TimeoutException:
            return SmsOutcome(error="timeout", transient=True)
        except httpx.HTTPError as exc:
            return SmsOutcome(error=f"{type(exc).__name__}: {exc}"[:200], transient=True)
        if response.is_success:
            return SmsOutcome(message_id=_message_id(response))
        detail = response.text.strip().replace("\n", " ")[:150]
        error = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        return SmsOutcome(error=error, transient=transient)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _message_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("id") if isinstance(body, dict) else None
    return None if value is None else str(value)[:200]


def sms_sender_from_url(url: str | None) -> SmsSender | None:
    return HttpSmsSender(url) if url else None
