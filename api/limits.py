"""The request-body size limit: on HTTP, enforced before the body is read into
memory; on a WebSocket, on every message, before it is parsed.

On a socket the server has already buffered the message by then: `loyalty
serve` also gives uvicorn the same limit (`ws_max_size`), which refuses a frame
from its header. This check is for any other way of serving the app."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyLimits:
    """`bulk_max_bytes` is the limit for requests whose bearer `bulk` admits
    (staff and API clients sending offline batches); everyone else gets
    `max_bytes`. api/edge.py applies them."""

    def __init__(self, max_bytes: int, bulk_max_bytes: int | None = None,
                 bulk: Callable[[str | None], Awaitable[bool]] | None = None) -> None:
        self.max_bytes = max_bytes
        self.bulk_max_bytes = bulk_max_bytes
        self.bulk = bulk

    async def limit_of(self, scope: Scope) -> tuple[int, bool]:
        """An HTTP request's limit, and whether its declared length already
        passes it (then it is refused before its body is read)."""
        limit = self.max_bytes
        headers = scope["headers"]
        if self.bulk_max_bytes and self.bulk is not None:
            length, authorization = b"0", b""
            for name, value in headers:  # the last of each
                if name == b"content-length":
                    length = value
                elif name == b"authorization":
                    authorization = value
            if (not length.isdigit() or int(length) > limit) and await self.bulk(
                    authorization.decode("latin-1") or None):
                limit = self.bulk_max_bytes
        for name, value in headers:
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    return limit, True
        return limit, False

    def socket_receive(self, receive: Receive, send: Send) -> Receive:
        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and self._too_big(message):
                # 1009, "message too big"; the app sees the socket go away.
                await send({"type": "websocket.close", "code": 1009,
                            "reason": f"Messages are limited to {self.max_bytes} bytes."})
                return {"type": "websocket.disconnect", "code": 1009}
            return message

        return limited_receive

    def _too_big(self, message: Message) -> bool:
        data = message.get("bytes")
        if data is not None:
            return len(data) > self.max_bytes
        text = message.get("text") or ""
        # A character is 1 to 4 bytes of UTF-8: encode only when it matters.
        if len(text) > self.max_bytes:
            return True
        return len(text) * 4 > self.max_bytes and len(text.encode()) > self.max_bytes

    async def refuse(self, send: Send, limit: int) -> None:
        body: dict[str, Any] = {
            "errors": [
                {
                    "message": f"The request body is larger than {limit} bytes.",
                    "extensions": {"code": "REQUEST_TOO_LARGE"},
                }
            ]
        }
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
