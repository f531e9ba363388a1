"""An audit line for every call made with an API client's key: who (the
client), what (the operation's root field, never the query's text or its
variables), when, how it ended (outcome and HTTP status) and the request id
that finds its log lines.

The line is made when the response starts (the operation has run: its root
field and outcome are in the scope, from api/observe.py) and written with
the process's other lines of the last FLUSH_SECONDS in one INSERT, off the
request's path. One insert per call, committed on its own, cost a second
disk flush after the operation's: about 3 ms, +40 % on a purchase through an
API key on the test machine (bench/client_audit_bench.py); batched it costs
the call a list append. What a crash of the process can lose: the lines of
its last FLUSH_SECONDS; the server flushes what it holds when it stops.

Customers' and staff's calls are not written here: staff reads and changes
of a customer have their own audit (audience/audit.py, loyalty/identity/audit.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from starlette.types import Scope

from api.observe import OPERATION, OUTCOME
from api.request_id import current_request_id
from loyalty.identity import audit

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
# A burst writes at once past this many lines (an INSERT of 5 values each).
MAX_PENDING = 500

_pending: list[audit.ClientCall] = []
_flushing: set[asyncio.Task[None]] = set()
_scheduled: asyncio.TimerHandle | None = None


def _outcome(scope: Scope, status: int) -> str:
    found = scope.get(OUTCOME)
    if found is not None:
        return str(found)
    return "ok" if status < 400 else "error"


def note(scope: Scope, client_id: int, status: int) -> None:
    """Queue the line of this call; written within FLUSH_SECONDS."""
    global _scheduled
    _pending.append(audit.ClientCall(
        client_id=client_id, operation=scope.get(OPERATION), outcome=_outcome(scope, status),
        status=status, request_id=current_request_id(), at=datetime.now(UTC)))
    loop = asyncio.get_running_loop()
    if len(_pending) >= MAX_PENDING:
        _start_flush(loop)
    elif _scheduled is None:
        _scheduled = loop.call_later(FLUSH_SECONDS, _start_flush, loop)


def _start_flush(loop: asyncio.AbstractEventLoop) -> None:
    global _scheduled
    if _scheduled is not None:
        _scheduled.cancel()
        _scheduled = None
    task = loop.create_task(_write(_take()))
    _flushing.add(task)
    task.add_done_callback(_flushing.discard)


def _take() -> list[audit.ClientCall]:
    taken = _pending[:]
    _pending.clear()
    return taken


async def _write(calls: list[audit.ClientCall]) -> None:
    try:
        await audit.record_client_calls(calls)
    except Exception:  # noqa: BLE001 - an audit write must not take the server down
        log.exception("could not write the audit lines of API clients' calls",
                      extra={"lines": len(calls)})


async def flush() -> None:
    """Write every line queued so far (the server's shutdown, and tests)."""
    global _scheduled
    if _scheduled is not None:
        _scheduled.cancel()
        _scheduled = None
    if _flushing:
        await asyncio.gather(*list(_flushing))
    await _write(_take())


def note_call(scope: Scope, status: int) -> None:
    """Queue the line of this request if an API client made it (api/edge.py,
    as the response starts: authentication has set scope["user"])."""
    principal = getattr(scope.get("user"), "principal", None)
    if principal is not None and principal.is_client:
        note(scope, principal.subject_id, status)
