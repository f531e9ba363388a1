"""What the API fuzzer sends and how it judges the answers (tests/api/test_fuzz.py).

Documents come from hypothesis-graphql, with our own strategies for the
scalars: besides arbitrary text and numbers, the values that reach deep code
(ids and card numbers that exist, fresh QR codes, timezones, cursors,
datetimes at the calendar's edges). Half the documents carry their arguments
as variables instead of literals: graphql-core coerces the two differently.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from api.errors import ApiCode
from loyalty.errors import ErrorCode

# Codes an error may carry: the API's list and the domain's (api/errors.py).
KNOWN_CODES = frozenset(c.value for c in ApiCode) | frozenset(c.value for c in ErrorCode)


def _cursor(kind: str, value: int | str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


# Strings that have broken, or could break, something below the API.
NASTY_STRINGS: tuple[str, ...] = (
    "", " ", "0", "-1", "null", "NaN", "1e400", "99999999999999999999",
    "\u0000", "a\u0000b", "💳" * 3, "é" * 200, "x" * 300, "%s%s%n", "'; DROP TABLE x; --",
    "UTC", "Europe/Paris", "Europe", "Etc/GMT+14", "../../../../etc/passwd", "/", ".",
    "fr-FR", "EUR", "eur", "JPY", "@", "a@b", "alice@example.test",
    "2025-01-01", "2025-13-45", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    *(_cursor(kind, value) for kind in ("entry", "notification", "visit")
      for value in (1, 0, -1, 2**63, 10**30, "x")),
    "not-a-cursor", "@@@",
)
_EDGE_TIMES = (datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), datetime(1970, 1, 1))
_ZONES = (None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)))


@dataclass
class Seeds:
    """Values of the seeded programme, for the generator to reuse."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    fresh_strings: list[Callable[[], str]] = field(default_factory=list)


def _datetimes() -> st.SearchStrategy[str]:
    near_now = st.builds(
        lambda seconds, zone: (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(
            zone or UTC).isoformat(),
        st.integers(-10**8, 10**8), st.sampled_from(_ZONES))
    anywhere = st.builds(
        lambda moment, zone: (moment if zone is None else moment.replace(tzinfo=zone)
                              ).isoformat(),
        st.datetimes() | st.sampled_from(_EDGE_TIMES), st.sampled_from(_ZONES))
    return near_now | anywhere


def scalar_strategies(seeds: Seeds, allow_nul: bool = True
                      ) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    nasty = [s for s in NASTY_STRINGS if allow_nul or "\u0000" not in s]
    alphabet = st.characters(codec="utf-8", min_codepoint=0 if allow_nul else 1,
                             max_codepoint=0xFFFF, exclude_categories=["Cs"])
    known = st.sampled_from(seeds.strings or [""])
    fresh = st.sampled_from(seeds.fresh_strings or [str]).map(lambda make: make())
    text = st.text(alphabet) | st.sampled_from(nasty) | known | fresh
    ints = (st.integers(-(2**31), 2**31 - 1) | st.integers(-3, 120)
            | st.sampled_from([0, 1, 100, 101, 2**31 - 1, -(2**31)]))
    ids = (st.sampled_from(seeds.ids or ["1"]) | st.integers(-3, 10**20).map(str)
           | st.sampled_from(nasty))
    return {
        "String": text.map(nodes.String),
        "ID": ids.map(nodes.String),
        "Int": ints.map(nodes.Int),
        "DateTime": (_datetimes() | st.sampled_from(nasty)).map(nodes.String),
        "Date": (st.dates().map(lambda d: d.isoformat()) | st.sampled_from(nasty)
                 ).map(nodes.String),
    }


def operations(schema: graphql.GraphQLSchema, fields: Iterable[str], seeds: Seeds,
               allow_nul: bool = True, mode: Mode = Mode.POSITIVE
               ) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(document, variables): queries and mutations on `fields`, with their
    arguments as literals or, half the time, as variables. Mode.NEGATIVE: each
    document breaks the schema once (a wrong type, a missing argument...)."""
    documents = from_schema(schema, fields=tuple(fields),
                            custom_scalars=scalar_strategies(seeds, allow_nul),
                            print_ast=lambda document: document, mode=mode)
    return st.tuples(documents, st.booleans()).map(
        lambda pair: hoisted(schema, pair[0]) if pair[1] else (graphql.print_ast(pair[0]), {}))


def hoisted(schema: graphql.GraphQLSchema, document: graphql.DocumentNode
            ) -> tuple[str, dict[str, Any]]:
    """The document with every field argument turned into a variable (AST
    nodes are frozen: the changed ones are copies)."""
    variables: dict[str, Any] = {}
    definitions: list[graphql.VariableDefinitionNode] = []

    def field(node: graphql.FieldNode, parent: graphql.GraphQLObjectType) -> graphql.FieldNode:
        definition = parent.fields[node.name.value]
        arguments = []
        for argument in node.arguments or ():
            if argument.name.value not in definition.args:  # a negative case: left as is
                arguments.append(argument)
                continue
            name = f"v{len(definitions)}"
            variables[name] = graphql.value_from_ast_untyped(argument.value)
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(graphql.VariableDefinitionNode(
                variable=variable, directives=(),
                type=graphql.parse_type(str(definition.args[argument.name.value].type))))
            arguments.append(graphql.ArgumentNode(name=argument.name, value=variable))
        return replace(node, arguments=tuple(arguments), selection_set=selections(
            node.selection_set, graphql.get_named_type(definition.type)))

    def selections(selection_set: graphql.SelectionSetNode | None, parent: Any
                   ) -> graphql.SelectionSetNode | None:
        if selection_set is None or not isinstance(parent, graphql.GraphQLObjectType):
            return selection_set
        return replace(selection_set, selections=tuple(
            field(node, parent)
            if isinstance(node, graphql.FieldNode) and node.name.value in parent.fields
            else node for node in selection_set.selections))

    operations = tuple(
        replace(d, selection_set=selections(d.selection_set, schema.get_root_type(d.operation)),
                variable_definitions=tuple(definitions))
        if isinstance(d, graphql.OperationDefinitionNode) else d
        for d in document.definitions)
    return graphql.print_ast(replace(document, definitions=operations)), variables


def problems_of(status: int, body: Any) -> list[str]:
    """What is wrong with one answer: a 5xx, a body that is not GraphQL's, an
    error without a known code, or a bug (INTERNAL)."""
    if status >= 500:
        return [f"HTTP {status}"]
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return [f"HTTP {status}: not a GraphQL response"]
    found = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == ApiCode.INTERNAL or code not in KNOWN_CODES:
            found.append(f"{code}: {error.get('message', '')[:160]}")
    return found
