"""Who may call what: declared on fields, checked before resolvers run."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.context import Context
from api.errors import forbidden, unauthenticated
from loyalty.tokens import Principal


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


class _TokenPermission(BasePermission):
    """Instances are shared by every request: they keep no per-request state."""

    def allows(self, principal: Principal) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        message = self.message or "Not allowed."
        if not self.allows(require_principal(info.context, message)):
            raise forbidden(message)
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
