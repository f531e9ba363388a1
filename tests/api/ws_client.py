"""A graphql-transport-ws client as the app and the till use it, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

PROTOCOL = "graphql-transport-ws"


async def connect(ws_url: str, token: str | None,
                  payload: dict[str, Any] | None = None) -> tuple[ClientConnection, dict[str, Any]]:
    """A socket and the server's answer to its connection_init (an ack, or the
    close it provoked as {"type": "closed", "code": ..., "reason": ...})."""
    ws = await websockets.connect(ws_url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    init = payload if payload is not None else {"authorization": f"Bearer {token}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": init}))
    return ws, await receive(ws)


async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    """The next message, pings answered; a close as {"type": "closed", ...}."""
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), within))
        except websockets.ConnectionClosed as closed:
            rcvd = closed.rcvd
            return {"type": "closed", "code": rcvd.code if rcvd else None,
                    "reason": rcvd.reason if rcvd else None}
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        return message


async def silent_for(ws: ClientConnection, seconds: float) -> bool:
    """True when nothing arrives (and the socket stays open) for `seconds`."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    except websockets.ConnectionClosed:
        return False
    return False


async def drain(ws: ClientConnection, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Every message until none comes for `quiet` seconds (a process serving two
    apps, as some tests do, hears each NOTIFY twice)."""
    messages = []
    while True:
        try:
            messages.append(await receive(ws, within=quiet))
        except TimeoutError:
            return messages


async def start(ws: ClientConnection, op_id: str, query: str,
                variables: dict[str, Any] | None = None) -> None:
    """Send a `subscribe` (a subscription, query or mutation); a socket the
    server already closed swallows it, as a real client's would."""
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.send(json.dumps({"id": op_id, "type": "subscribe",
                                  "payload": {"query": query, "variables": variables or {}}}))


async def execute(ws: ClientConnection, op_id: str, query: str,
                  variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """A query or mutation over the socket: its `next` payload (or whatever
    else came instead: an error, a close)."""
    await start(ws, op_id, query, variables)
    message = await receive(ws)
    if message["type"] == "next":
        done = await receive(ws)
        assert done == {"id": op_id, "type": "complete"}, done
        return dict(message["payload"])
    return message


async def closed(ws: ClientConnection, within: float = 5.0) -> tuple[int | None, str | None]:
    """Read until the server closes the socket: its code and reason."""
    while True:
        message = await receive(ws, within)
        if message["type"] == "closed":
            return message["code"], message["reason"]
