"""The per-request JSON lines go out in batches, whole and in order, and
uvicorn builds no access line of its own."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from api import logs, observe
from loyalty.platform.config import Settings


class CountingBuffer(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.written_out = b""

    def flush(self) -> None:
        self.flushes += 1
        self.written_out = self.getvalue()


async def test_lines_of_a_burst_are_written_out_together_and_in_order():
    out = CountingBuffer()
    lines = logs.JsonRequestLines(out)
    for i in range(200):
        lines.info("request", status=200, n=i)
    # nothing written out per request...
    assert out.flushes == 0 and out.written_out == b""
    await asyncio.sleep(logs.FLUSH_SECONDS * 2)
    # ...but all of them, once, soon after
    assert out.flushes == 1
    written = [json.loads(line) for line in out.written_out.splitlines()]
    assert [w["n"] for w in written] == list(range(200))
    assert all(w["event"] == "request" and w["logger"] == "api.access" for w in written)
    # a later line starts a new batch
    lines.info("request", n=200)
    await asyncio.sleep(logs.FLUSH_SECONDS * 2)
    assert out.flushes == 2 and out.written_out.count(b"\n") == 201


def test_without_an_event_loop_a_line_is_written_out_at_once():
    out = CountingBuffer()
    logs.JsonRequestLines(out).info("request", n=1)
    assert out.flushes == 1 and b'"n":1' in out.written_out


async def test_the_end_of_serving_writes_out_what_is_buffered(monkeypatch: pytest.MonkeyPatch):
    out = CountingBuffer()
    monkeypatch.setattr(observe, "access_log", logs.JsonRequestLines(out))
    observe.access_log.info("request", n=1)
    observe.flush_log()
    assert b'"n":1' in out.written_out


def test_uvicorn_builds_no_access_line(monkeypatch: pytest.MonkeyPatch):
    # uvicorn's protocols log access lines when this logger reaches a handler
    # (httptools_impl: `access_logger.hasHandlers()`), formatting each first.
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", list(logger.handlers))
        monkeypatch.setattr(logger, "propagate", logger.propagate)
        monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(observe, "access_log", None)
    logs.configure(Settings(log_format="json"), io.StringIO())
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert logging.getLogger("uvicorn.error").hasHandlers()
