"""Who may call what: declared on fields, checked before resolvers run."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.context import Context
from loyalty.tokens import Principal


class _TokenPermission(BasePermission):
    """Instances are shared by every request: they keep no per-request state."""

    def allows(self, principal: Principal) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        if info.context.auth_error:
            # A bad token is its own error, never a silent anonymous request.
            raise PermissionError(info.context.auth_error)
        principal = info.context.principal
        return principal is not None and self.allows(principal)


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
