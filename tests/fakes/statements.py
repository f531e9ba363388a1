"""Counting the SQL statements a request sends (the server runs in the test's
process): list queries are pinned to a bounded number whatever their length."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from tortoise import connections


@contextlib.contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements sent through the default connection's client while open."""
    sent: list[str] = []
    client = type(connections.get("default"))
    original = client.execute_query

    async def counting(self: Any, query: str, values: Any = None) -> Any:
        sent.append(query)
        return await original(self, query, values)

    monkeypatch.setattr(client, "execute_query", counting)
    try:
        yield sent
    finally:
        monkeypatch.setattr(client, "execute_query", original)
