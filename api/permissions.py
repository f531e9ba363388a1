"""Who may call what: declared on fields, checked before resolvers run."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.context import Context


def _principal(info: Info[Context, Any]):  # type: ignore[no-untyped-def]
    ctx = info.context
    if ctx.auth_error:
        return None
    return ctx.principal


class IsCustomer(BasePermission):
    message = "A customer access token is required."

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        p = _principal(info)
        if info.context.auth_error:
            self.message = info.context.auth_error
        return p is not None and p.is_customer


class IsStaff(BasePermission):
    message = "A staff access token is required."

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        p = _principal(info)
        if info.context.auth_error:
            self.message = info.context.auth_error
        return p is not None and p.is_staff


class IsAdmin(BasePermission):
    message = "An admin access token is required."

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        p = _principal(info)
        if info.context.auth_error:
            self.message = info.context.auth_error
        return p is not None and p.is_admin
