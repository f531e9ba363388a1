"""How `loyalty serve` runs uvicorn: the limits a public server needs that
uvicorn's defaults leave open.

- uvicorn times out a connection only between requests (`timeout_keep_alive`,
  armed once a response is sent). A client that connects and says nothing, or
  sends half a request line, headers a byte at a time, or a body it never
  finishes, holds its socket and buffers for ever. The HTTP protocols below
  give every request `read_timeout_seconds` to arrive whole, from the
  connection's opening or the request's first byte, then close the connection.
- httptools buffers request headers without a limit (h11 stops at 16 KiB):
  past MAX_HEADER_BYTES the request is refused with 431 and the connection
  closed, by either protocol.
- `ws_max_size` (16 MiB by default) is the largest WebSocket message uvicorn
  buffers; the websockets implementations refuse a bigger frame from its
  header, before reading it. It is set to `max_body_bytes`, the limit the app
  itself applies to every message (api/limits.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from loyalty.platform.config import Settings, get_settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

# What h11 allows by default; a real client's headers (a bearer token
# included) take one or two KiB.
MAX_HEADER_BYTES = 16 * 1024
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
              b"content-length: 0\r\nconnection: close\r\n\r\n")


class _ReadDeadline:
    """Mixed into a uvicorn HTTP protocol (it calls the protocol's own methods
    through `super()`, and reads the `transport` and `cycle` both keep)."""

    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        between_requests = before is None or before.response_complete
        super().data_received(data)  # type: ignore[misc]
        if self.transport.get_protocol() is not self:
            # Upgraded to a WebSocket: the socket protocol owns the transport,
            # and the view's connection_init timeout takes over.
            self._disarm()
            return
        if self.cycle is not before:
            self._header_bytes = 0  # a request's headers are complete
        elif between_requests:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self.transport.write(_TOO_LARGE)
                self.transport.close()
        if self._request_in():
            self._disarm()
        else:
            # The first bytes of a request (after a keep-alive pause), or
            # more of one: the deadline counts from the first.
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _request_in(self) -> bool:
        """The current request's headers and body have all arrived."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.more_body

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().call_later(
                get_settings().read_timeout_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self.transport.close()


class ReadDeadlineH11Protocol(_ReadDeadline, H11Protocol):
    pass


if HttpToolsProtocol is not None:
    class ReadDeadlineHttpToolsProtocol(_ReadDeadline, HttpToolsProtocol):
        pass

    HTTP_PROTOCOL = "api.serving:ReadDeadlineHttpToolsProtocol"
else:  # pragma: no cover
    HTTP_PROTOCOL = "api.serving:ReadDeadlineH11Protocol"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `loyalty serve` passes to uvicorn, besides the app and the address.
    Protocols by import path: with several workers, each process imports them."""
    return {
        "http": HTTP_PROTOCOL,
        # websockets' sans-I/O protocol honours ws_max_size at the frame header.
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_body_bytes,
    }
