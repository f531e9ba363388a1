"""Logging for `loyalty serve` and `loyalty worker`: one line per event, JSON in
production (`LOYALTY_LOG_FORMAT`, default `json` when `LOYALTY_ENV=prod`,
`console` otherwise), on standard error (standard output is the commands'
own: `loyalty schema > schema.graphql` must stay clean).

Every package logs through the standard library (`logging.getLogger(...)`,
fields in `extra=`); structlog's formatter renders the lines, adding the
time, level, logger and the request id of the request being served, so that
every line a request causes can be found by its id (`X-Request-Id`).

What a line never holds: a query's text, its variables, a header, a token or
a password. Lines are built from named fields (api/observe.py,
api/errors.py), not from the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from api import observe
from api.request_id import current_request_id
from loyalty.platform.config import Settings


def _request_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    rid = current_request_id()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


def _json(value: Any, **_: Any) -> str:
    # orjson: several times faster than json.dumps, on every request's line.
    return orjson.dumps(value, default=str).decode()


def formatter(json: bool) -> logging.Formatter:
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final += [structlog.processors.format_exc_info,
                  structlog.processors.JSONRenderer(serializer=_json)]
    else:
        final += [structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)


def configure(settings: Settings, stream: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, Tortoise's) through one handler,
    and give api/observe.py its per-request logger."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(settings.log_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers would print its lines a second time, unformatted.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # uvicorn's access lines are replaced by ours (`loyalty serve` turns them
    # off): with no handler to reach, uvicorn does not even build them (it
    # formatted the client address and path of every response, to drop them).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    observe.access_log = request_logger(settings, out)


# How long a request's line may wait in the buffer (JsonRequestLines).
FLUSH_SECONDS = 0.25


class JsonRequestLines:
    """The per-request line in JSON, built directly: the fields and order
    structlog's chain gives the other lines (its bound `logger`, the call's
    fields, then event, level, request id and time), at a fraction of its
    cost (17 microseconds a line with the chain, on a purchase's path)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self._pending = False

    def info(self, event: str, **fields: Any) -> None:
        line: dict[str, Any] = {"logger": "api.access", **fields, "event": event,
                                "level": "info"}
        rid = current_request_id()
        if rid is not None:
            line["request_id"] = rid
        line["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        self.out.write(orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE))
        # Written out FLUSH_SECONDS after the first line not yet written, not
        # a write(2) per request: at a few hundred requests a second the
        # lines go out in batches. Another log line (an error's, through the
        # same buffer) writes them out at once, in order; so does the end of
        # serving. A process killed outright loses at most that much.
        if not self._pending:
            self._pending = True
            try:
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no event loop: at once
                self.flush()

    def flush(self) -> None:
        self._pending = False
        with contextlib.suppress(OSError, ValueError):  # closed, at exit
            self.out.flush()


def request_logger(settings: Settings, out: TextIO) -> Any:
    """The line written for every request: not the standard library's logger
    (14 microseconds a line), with the same fields and renderer as the other
    lines; None when the level leaves out `info`."""
    level = logging.getLevelName(settings.log_level)
    if logging.INFO < level:
        return None
    binary = getattr(out, "buffer", None)
    if settings.log_json and binary is not None:
        # Bytes from orjson straight to the file: no decoding, no text layer.
        return JsonRequestLines(binary)
    processors: list[Any] = [
        structlog.processors.add_log_level,
        _request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if settings.log_json:
        processors.append(structlog.processors.JSONRenderer(serializer=_json))
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    logger = structlog.wrap_logger(
        structlog.PrintLoggerFactory(out)(), processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True)
    return logger.bind(logger="api.access")
