"""Who a posting is made for, beyond its customer: the API client whose call
it serves. The edge sets it once per request (api/client_auth.py), and every
ledger transaction written in that request records it, whatever use case
writes it, without each use case passing it along."""

from __future__ import annotations

from contextvars import ContextVar

acting_client: ContextVar[int | None] = ContextVar("acting_client", default=None)
