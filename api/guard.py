"""The schema's request guard: the token limit, the extra validation rules,
the parse and validation caches, unstorable strings in variables
(api/storable.py) and error codes and masking, as one extension.

Strawberry runs every hook of every extension on every request (a context
manager each); five extensions cost about as much as executing a small
mutation's fields. One extension does the same work with four hooks. The
validation cache is keyed by the query text, like the parse cache, instead of
by the parsed document: hashing a document walks the whole tree on every
request, and one text always parses to the same document.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, GraphQLSchema
from graphql.language.parser import parse
from graphql.validation import ASTValidationRule, specified_rules, validate
from strawberry.extensions.mask_errors import MaskErrors
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.errors import with_code
from api.observe import describe_operation, outcome_of, record_operation
from api.storable import unstorable_variable


class GuardCaches:
    """Shared by every request of one schema (extensions are made per request)."""

    def __init__(self, max_tokens: int, rules: list[type[ASTValidationRule]],
                 maxsize: int, hide_suggestions: bool = False) -> None:
        self.max_tokens = max_tokens
        self.rules = tuple(rules)

        @lru_cache(maxsize=maxsize)
        def parsed(query: str, max_tokens: int) -> Any:
            return parse(query, max_tokens=max_tokens)

        @lru_cache(maxsize=maxsize)
        def validated(schema: GraphQLSchema, query: str, rules: tuple[Any, ...]
                      ) -> list[GraphQLError]:
            # Only reached for a text that parsed: the document is cached.
            # Strawberry's validate_document, plus hiding the "Did you mean
            # ...?" suggestions, which name fields that introspection would.
            return validate(schema, parsed(query, self.max_tokens),
                            (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                            hide_suggestions=hide_suggestions)

        self.parsed = parsed
        self.validated = validated
        # The rules a request validates with (RequestGuard.on_operation adds
        # these to Strawberry's default), the key of `validated`'s entries.
        self.rules_for_request = (*specified_rules, *self.rules)


class RequestGuard(MaskErrors):
    """MaskErrors' hooks (streaming included), plus the other guards' hooks.
    Every error leaves with `extensions.code` (api/errors.py); a bug's message
    is masked when `mask` (production)."""

    def __init__(self, caches: GuardCaches, mask: bool) -> None:
        super().__init__()
        self.caches = caches
        self.mask = mask
        # Whether the document parsed and validated (on_validate is not
        # reached when it does not parse).
        self.valid = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.caches.max_tokens
        context.validation_rules = context.validation_rules + self.caches.rules
        started = time.perf_counter()
        yield from super().on_operation()
        # Counted here, where the document and its errors are at hand; the
        # fast path (api/app.py) counts the home screen itself.
        result = context.result
        errors = getattr(result, "errors", None) or context.pre_execution_errors
        label, subscription = describe_operation(
            context.query, context.graphql_document, context.operation_name,
            valid=self.valid)
        request = getattr(context.context, "request", None)
        record_operation(
            getattr(request, "scope", None),
            label,
            context.operation_name,
            outcome_of(errors),
            None if subscription else time.perf_counter() - started,
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [with_code(error, self.mask) for error in errors]

    def _process_result(self, result: object) -> None:
        # MaskErrors' own test is an isinstance() against a runtime-checkable
        # Protocol, slow on every request; this is the same test.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = self.caches.parsed(
                context.query, context.parse_options.get("max_tokens", self.caches.max_tokens)
            )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.pre_execution_errors is None:
            errors = self.caches.validated(
                context.schema._schema, context.query, tuple(context.validation_rules)
            )
            unstorable = unstorable_variable(context.variables)
            context.pre_execution_errors = [*errors, unstorable] if unstorable else errors
        # Strawberry later puts execution errors in pre_execution_errors too.
        self.valid = not context.pre_execution_errors
        yield
