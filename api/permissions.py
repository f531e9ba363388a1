"""Who may call what: declared on fields, checked before resolvers run."""

from __future__ import annotations

import time
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.context import Context
from api.errors import forbidden, unauthenticated
from loyalty.identity.accounts import principal_exists
from loyalty.identity.tokens import Principal


def require_principal(context: Context, message: str = "An access token is required."
                      ) -> Principal:
    """The caller, or the top-level error that says why there is none: a bad
    token is its own error (UNAUTHENTICATED or TOKEN_EXPIRED), never a silent
    anonymous request."""
    if context.auth_error is not None:
        raise context.auth_error.as_error()
    if context.principal is None:
        raise unauthenticated(message)
    return context.principal


# Principals seen to exist lately (kind, id) -> when, so that a request costs
# no query; a token outlives the account it names by at most this long here.
_CONFIRMED_SECONDS = 30.0
_confirmed: dict[tuple[str, int], float] = {}


async def require_existing(principal: Principal) -> None:
    """A valid token whose customer or staff member no longer exists is
    refused as UNAUTHENTICATED, before any use case writes rows that point at
    nobody (a raw foreign-key error before)."""
    if principal.is_client:
        return  # checked against its row, revocation included, as it authenticated
    key = (principal.kind, principal.subject_id)
    now = time.monotonic()
    seen = _confirmed.get(key)
    if seen is not None and now - seen < _CONFIRMED_SECONDS:
        return
    if not await principal_exists(principal.kind, principal.subject_id):
        _confirmed.pop(key, None)
        raise unauthenticated("The account this token was issued to no longer exists.")
    if len(_confirmed) > 100_000:
        _confirmed.clear()
    _confirmed[key] = now


def forget_principal(kind: str, subject_id: int) -> None:
    """Called where an account is erased, so this process refuses it at once."""
    _confirmed.pop((kind, subject_id), None)


class _TokenPermission(BasePermission):
    """Instances are shared by every request: they keep no per-request state."""

    def allows(self, principal: Principal) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    async def has_permission(self, source: Any, info: Info[Context, Any],
                             **kwargs: Any) -> bool:
        message = self.message or "Not allowed."
        principal = require_principal(info.context, message)
        if not self.allows(principal):
            raise forbidden(message)
        await require_existing(principal)
        return True


class IsCustomer(_TokenPermission):
    message = "A customer access token is required."

    def allows(self, principal: Principal) -> bool:
        return principal.is_customer


class IsStaff(_TokenPermission):
    message = "A staff access token is required."

    def allows(self, principal: Principal) -> bool:
        return principal.is_staff


class IsAdmin(_TokenPermission):
    message = "An admin access token is required."

    def allows(self, principal: Principal) -> bool:
        return principal.is_admin


def may_track_events(principal: Principal) -> bool:
    """trackEvents' senders: the app (a customer's own events), an integration
    (an API client with scope EVENTS), or an admin (a back-office tool).
    Managers, who sent events until API clients existed, no longer do: a
    franchise's manager would write into the timelines of every customer."""
    return (principal.is_customer or principal.has_scope("EVENTS")
            or principal.is_admin)


class MayTrackEvents(_TokenPermission):
    """api/fast_track.py applies the same rule (may_track_events)."""

    message = ("A customer token, an API key with scope EVENTS, or an admin's staff token, "
               "is required.")

    def allows(self, principal: Principal) -> bool:
        return may_track_events(principal)


class MayReadCustomers(_TokenPermission):
    """The staff 360 view: managers, admins and customer service."""

    message = "An admin's, manager's or support agent's staff token is required."

    def allows(self, principal: Principal) -> bool:
        return principal.is_staff and principal.role in ("ADMIN", "MANAGER", "SUPPORT")
