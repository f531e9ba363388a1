"""In production, bugs are masked; validation and permission errors are not."""

from __future__ import annotations

import pytest

import api.permissions
import api.schema
from api.context import Context
from api.schema import build_schema
from loyalty.identity.tokens import Principal
from loyalty.platform.config import Settings

PROD = Settings(env="prod", secret_key="s" * 40)


def _context(principal: Principal | None) -> Context:
    return Context(request=None, response=None, principal=principal)


async def test_a_bug_is_masked_in_production(monkeypatch: pytest.MonkeyPatch):
    async def broken(customer_id: int):
        raise RuntimeError("connection string postgres://secret@db")

    async def exists(kind: str, subject_id: int) -> bool:
        return True

    monkeypatch.setattr(api.schema, "load_me", broken)
    # A unit test without a database: the token's customer is taken to exist.
    monkeypatch.setattr(api.permissions, "principal_exists", exists)
    result = await build_schema(PROD).execute(
        "{ me { id } }", context_value=_context(Principal("customer", 1)))
    assert [e.message for e in result.errors or []] == ["Unexpected error (request id unknown)."]
    assert [(e.extensions or {}).get("code") for e in result.errors or []] == ["INTERNAL"]
    dev = await build_schema(Settings(env="dev")).execute(
        "{ me { id } }", context_value=_context(Principal("customer", 1)))
    assert "postgres://secret@db" in (dev.errors or [])[0].message
    assert (dev.errors or [])[0].extensions == {"code": "INTERNAL"}


async def test_permission_and_validation_errors_stay_visible_in_production():
    schema = build_schema(PROD)
    denied = await schema.execute("{ me { id } }", context_value=_context(None))
    assert [e.message for e in denied.errors or []] == ["A customer access token is required."]
    assert [(e.extensions or {}).get("code") for e in denied.errors or []] == ["UNAUTHENTICATED"]
    invalid = await schema.execute("{ me { nope } }", context_value=_context(None))
    assert "Cannot query field 'nope'" in (invalid.errors or [])[0].message
    assert (invalid.errors or [])[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
