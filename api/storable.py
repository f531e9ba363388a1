"""Strings the database cannot store are refused at the edge, once for every
string input: in the document's literals (a validation rule, cached with the
document) and in the variables (walked on each request).

PostgreSQL's text refuses NUL (`\\u0000`: CharacterNotInRepertoireError), and
a lone UTF-16 surrogate (`\\ud800`, which JSON allows) cannot be encoded to
UTF-8 at all. Either would reach the database half-way through a use case;
refusing them before execution means nothing runs and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from graphql import GraphQLError, StringValueNode
from graphql.validation import ValidationRule

from api.errors import ApiCode

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Strings may not contain NUL (\\u0000) or unpaired surrogate characters."


def _error(nodes: Any = None, where: str | None = None) -> GraphQLError:
    extensions: dict[str, Any] = {"code": ApiCode.INVALID_INPUT.value}
    if where:
        extensions["field"] = where
    return GraphQLError(MESSAGE, nodes, extensions=extensions)


class StorableStringLiterals(ValidationRule):
    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if _UNSTORABLE.search(node.value):
            self.report_error(_error(node))


def unstorable_variable(variables: dict[str, Any] | None) -> GraphQLError | None:
    """The error for the first variable (at any depth, keys too) holding an
    unstorable string, or None. Every request's variables are checked at
    once, as JSON: orjson writes a NUL as `\\u0000` and refuses a surrogate;
    the path is only looked for in the rare request that has one (or a
    client's literal backslash-u-0000 text, which is fine)."""
    if not variables:
        return None
    try:
        text = orjson.dumps(variables)
    except orjson.JSONEncodeError:
        return _located(variables)
    return _located(variables) if b"\\u0000" in text else None


def _located(variables: dict[str, Any]) -> GraphQLError | None:
    stack: list[tuple[str, Any]] = [(f"${name}", value) for name, value in variables.items()]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return _error(where=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    return _error(where=path)
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
    return None
