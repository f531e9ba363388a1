"""A refusal answered by @user_errors keeps the payload valid GraphQL: every
non-null field other than `errors` has a declared default, since `refused`
sets the others to null (api/mutations/base.py)."""

from __future__ import annotations

from typing import Any

from strawberry.types.base import StrawberryList, StrawberryOptional

from api.mutations.base import refused, user_errors
from api.schema import Mutation, Query
from loyalty.errors import DomainError, DomainErrors, ErrorCode


async def _any() -> Any:
    return None


MUTATE = user_errors(_any).__code__


def _refusing_fields() -> list[Any]:
    return [f for root in (Query, Mutation)
            for f in root.__strawberry_definition__.fields
            if f.base_resolver is not None
            and getattr(f.base_resolver.wrapped_func, "__code__", None) is MUTATE]


def test_every_refused_payload_fills_its_non_null_fields():
    given = DomainError(ErrorCode.INVALID_INPUT, "No.", "input")
    fields = _refusing_fields()
    assert len(fields) > 30  # the walk found the decorated resolvers
    nulls = []
    for field in fields:
        payload = field.type
        answer = refused(payload, given)
        for f in payload.__strawberry_definition__.fields:
            if not isinstance(f.type, StrawberryOptional) and getattr(
                    answer, f.python_name) is None:
                nulls.append(f"{field.python_name}: {payload.__name__}.{f.python_name}")
    assert nulls == []


def test_a_refusal_carries_every_error_and_the_declared_defaults():
    from api.types.analytics import RecomputeScoresPayload
    from api.types.journeys import JourneyPreview

    both = DomainErrors([DomainError(ErrorCode.INVALID_INPUT, "a", "x"),
                         DomainError(ErrorCode.INVALID_INPUT, "b", "y")])
    scores = refused(RecomputeScoresPayload, both)
    assert (scores.computed_at, scores.customers) == (None, 0)
    assert [(e.code, e.field) for e in scores.errors] == [
        (ErrorCode.INVALID_INPUT, "x"), (ErrorCode.INVALID_INPUT, "y")]
    preview = refused(JourneyPreview, both)
    assert (preview.channels, preview.channel, len(preview.errors)) == ([], None, 2)
    assert isinstance(
        next(f for f in JourneyPreview.__strawberry_definition__.fields
             if f.python_name == "channels").type, StrawberryList)
