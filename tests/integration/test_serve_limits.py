"""What `loyalty serve` does with connections that never finish: a real
server process (the limits live partly in uvicorn), spoken to through raw
sockets, as a slow or hostile client would."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api import ws_client
from tests.conftest import CustomerHandle, GraphQLClient, sign_up
from tests.integration.serve_process import ServerProcess, start, stop, wait_healthy

READ_TIMEOUT = 1.0
MAX_BODY = 4096
# Long enough for the server to have answered anything it was going to; short
# of uvicorn's own keep-alive timeout (5 s), which is not what is tested.
PATIENCE = READ_TIMEOUT + 2.5


@pytest.fixture(scope="module")
async def served(database: str) -> AsyncIterator[ServerProcess]:
    server = await start(database, LOYALTY_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
                         LOYALTY_MAX_BODY_BYTES=str(MAX_BODY))
    try:
        await wait_healthy(server)
        yield server
    finally:
        await stop(server)


async def raw_connection(server: ServerProcess) -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
    address = urlsplit(server.url)
    return await asyncio.open_connection(address.hostname, address.port)


async def closed_after(reader: asyncio.StreamReader) -> float:
    """Seconds until the server closes the connection (anything it sends on
    the way is read and dropped); fails past PATIENCE."""
    began = time.monotonic()
    async with asyncio.timeout(PATIENCE):
        try:
            while await reader.read(65536):
                pass
        except ConnectionResetError:
            pass  # closed with our bytes unread: a reset, as closed as can be
    return time.monotonic() - began


async def test_a_connection_that_sends_nothing_is_closed(served: ServerProcess):
    reader, writer = await raw_connection(served)
    try:
        assert await closed_after(reader) >= READ_TIMEOUT * 0.8
    finally:
        writer.close()


async def test_headers_sent_a_line_at_a_time_do_not_keep_the_connection(served: ServerProcess):
    reader, writer = await raw_connection(served)

    async def trickle() -> None:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for i in range(20):
            await asyncio.sleep(0.25)
            writer.write(f"X-Slow-{i}: a\r\n".encode())

    slow = asyncio.create_task(trickle())
    try:
        # the deadline counts from the request's first byte, not the last
        assert await closed_after(reader) < READ_TIMEOUT + 1.0
    finally:
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
        writer.close()


async def test_a_body_that_never_ends_does_not_keep_the_connection(served: ServerProcess):
    reader, writer = await raw_connection(served)
    try:
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"query":')
        await closed_after(reader)
    finally:
        writer.close()


async def test_whole_requests_on_a_kept_alive_connection_are_not_cut(served: ServerProcess):
    reader, writer = await raw_connection(served)
    try:
        for _ in range(2):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200"), status
            headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(next(line.split(b":")[1] for line in headers.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            # idle past the read timeout: the first request is over, the
            # next has not begun, so only uvicorn's keep-alive counts
            await asyncio.sleep(READ_TIMEOUT + 0.5)
    finally:
        writer.close()


async def test_a_websocket_outlives_the_read_timeout_once_initialised(served: ServerProcess):
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        alice: CustomerHandle = await sign_up(GraphQLClient(http), "Alice")
    ws, ack = await ws_client.connect(served.ws_url, alice.token)
    try:
        assert ack["type"] == "connection_ack"
        await asyncio.sleep(READ_TIMEOUT + 0.5)
        answer = await ws_client.execute(ws, "1", "query { me { firstName } }")
        assert answer == {"data": {"me": {"firstName": "Alice"}}}
    finally:
        await ws.close()


async def test_a_websocket_that_never_initialises_is_closed(served: ServerProcess):
    import websockets

    ws = await websockets.connect(served.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    try:
        began = time.monotonic()
        assert await ws_client.closed(ws, within=PATIENCE) == (
            4408, "Connection initialisation timeout")
        assert time.monotonic() - began < READ_TIMEOUT + 1.0
    finally:
        await ws.close()


async def test_a_websocket_frame_over_the_body_limit_is_refused_from_its_header(
        served: ServerProcess):
    reader, writer = await raw_connection(served)
    try:
        key = base64.b64encode(os.urandom(16))
        writer.write(b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
                     b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert response.startswith(b"HTTP/1.1 101"), response
        # when: a text frame announcing 1 MB, of which only a few bytes follow
        mask = os.urandom(4)
        writer.write(bytes([0x81, 0x80 | 127]) + (1_000_000).to_bytes(8, "big") + mask
                     + bytes(b ^ mask[i % 4] for i, b in enumerate(b'{"type":')))
        # then: closed at once with 1009 (message too big), the rest never read
        frame = await asyncio.wait_for(reader.readexactly(4), 2)
        assert frame[0] == 0x88  # FIN + close
        assert int.from_bytes(frame[2:4], "big") == 1009
    finally:
        writer.close()


async def test_headers_past_16_kib_are_refused_at_once(served: ServerProcess):
    reader, writer = await raw_connection(served)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     + b"".join(b"X-Big-%02d: " % i + b"a" * 1000 + b"\r\n" for i in range(17)))
        status = await asyncio.wait_for(reader.readline(), READ_TIMEOUT / 2)
        assert status.startswith(b"HTTP/1.1 431"), status
        assert await closed_after(reader) < READ_TIMEOUT / 2
    finally:
        writer.close()
