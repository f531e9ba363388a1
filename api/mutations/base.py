"""One base for every mutation: a domain refusal becomes the payload's errors.

As Saleor's BaseMutation does: a resolver converts its input, calls the use
case and maps the result; a DomainError raised on the way (by the input's
conversion or by the use case) is answered as the resolver's payload type with
`errors: [UserError]` and every other field empty (null, or its declared
default), never as a top-level error. Decorate the resolver under
`@strawberry.mutation` (or `@strawberry.field`, for a query that answers a
payload, as journeyPreview does; queries that raise from_domain keep
top-level errors):

    @strawberry.mutation(description=..., permission_classes=[IsStaff])
    @user_errors
    async def refund_purchase(self, info, input) -> RefundPurchasePayload: ...
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from api.types.common import errors_of
from loyalty.errors import DomainError

P = TypeVar("P")
A = ParamSpec("A")


def refused(payload: type[P], error: DomainError) -> P:
    """`payload` carrying `error`: fields with a default keep it, the others are null."""
    empty = {
        f.name: None
        for f in dataclasses.fields(payload)  # type: ignore[arg-type]
        if f.name != "errors"
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }
    return cast(P, cast(Any, payload)(errors=errors_of(error), **empty))


def user_errors(resolver: Callable[A, Awaitable[P]]) -> Callable[A, Awaitable[P]]:
    """The resolver, its DomainErrors answered in its payload (module docstring)."""

    @functools.cache
    def payload() -> type[P]:
        return cast(type[P], typing.get_type_hints(resolver)["return"])

    @functools.wraps(resolver)
    async def mutate(*args: A.args, **kwargs: A.kwargs) -> P:
        try:
            return await resolver(*args, **kwargs)
        except DomainError as error:
            return refused(payload(), error)

    return mutate
