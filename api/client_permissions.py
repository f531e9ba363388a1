"""Permissions that admit API clients by scope beside staff by role."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.context import Context
from api.errors import forbidden
from api.permissions import require_existing, require_principal
from loyalty.identity.tokens import Principal
from loyalty.models import ApiScope


class _Either(BasePermission):
    scope: ApiScope
    roles: frozenset[str] | None = None  # None: any staff member

    def allows(self, principal: Principal) -> bool:
        if principal.is_client:
            return principal.has_scope(self.scope.value)
        if principal.is_staff:
            return self.roles is None or principal.role in self.roles
        return False

    async def has_permission(self, source: Any, info: Info[Context, Any],
                             **kwargs: Any) -> bool:
        message = self.message or "Not allowed."
        principal = require_principal(info.context, message)
        if not self.allows(principal):
            raise forbidden(message)
        await require_existing(principal)
        return True


class StaffOrPurchasesClient(_Either):
    """The till's operations: any staff member in the store's scope, or an API
    client with scope PURCHASES in its stores."""

    message = "A staff access token or an API key with scope PURCHASES is required."
    scope = ApiScope.PURCHASES


class IsSupport(BasePermission):
    """Customer service: SUPPORT or ADMIN staff."""

    message = "A SUPPORT or ADMIN staff access token is required."

    async def has_permission(self, source: Any, info: Info[Context, Any],
                             **kwargs: Any) -> bool:
        principal = require_principal(info.context, self.message)
        if not (principal.is_staff and principal.role in ("SUPPORT", "ADMIN")):
            raise forbidden(self.message)
        await require_existing(principal)
        return True


class IsAdminOrManager(BasePermission):
    """Admins, and managers (a franchise's see only its own)."""

    message = "An ADMIN or MANAGER staff access token is required."

    async def has_permission(self, source: Any, info: Info[Context, Any],
                             **kwargs: Any) -> bool:
        principal = require_principal(info.context, self.message)
        if not (principal.is_staff and principal.role in ("MANAGER", "ADMIN")):
            raise forbidden(self.message)
        await require_existing(principal)
        return True
