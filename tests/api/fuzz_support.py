"""What the API fuzzer sends and how it judges the answers (tests/api/test_fuzz.py).

Documents come from hypothesis-graphql, with our own strategies for the
scalars: besides arbitrary text and numbers, the values that reach deep code
(ids and card numbers that exist, fresh QR codes, new emails, a good
password) and the hostile ones (NUL, long strings, cursors past 64 bits,
time zones that are folders, instants at the calendar's edges). A string
given to a well-known name (`after`, `timezone`, `email`...) is often redrawn
for that name, since the scalar alone cannot tell a cursor from an email.
Half the documents carry their arguments as variables instead of literals:
graphql-core coerces the two differently.

Tuned by checking that the run catches each bug class fixed before it was
written (NUL on PostgreSQL, folder and 300-character time zones, huge
cursors, tokens of vanished customers) with those fixes reverted.
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


# Strings that have broken, or could break, something below the API, by
# kind: the generator picks a kind first, so a short kind is not drowned by
# a long one.
NASTY_KINDS: tuple[tuple[str, ...], ...] = (
    ("", " ", "null", "%s%s%n", "'; DROP TABLE x; --", "@", "a@b", "@@@"),
    ("\u0000", "a\u0000b", "💳" * 3, "é" * 200, "x" * 300, "\u200b", "\ufeff"),
    ("0", "-1", "NaN", "1e400", "99999999999999999999", "9" * 40, "0x10"),
    ("UTC", "Europe/Paris", "Europe", "Etc/GMT+14", "../../../../etc/passwd", "/", ".",
     "Europe/" + "x" * 300),
    ("fr-FR", "EUR", "eur", "JPY", "BHD", "en-" + "x" * 60),
    ("2025-01-01", "2025-13-45", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"),
    tuple(_cursor(kind, value) for kind in ("entry", "notification", "visit")
          for value in (1, 0, -1, 2**63, 10**30, "x")) + ("not-a-cursor", "=="),
)
# By argument or input field name: what breaks code that reads that name.
# A string argument or input field of one of these names gets one of these
# (or a seeded value of its name) half the time, whatever the scalar drew.
HOSTILE_BY_NAME: dict[str, tuple[str, ...]] = {
    "after": tuple(_cursor(kind, value) for kind in ("entry", "notification", "visit")
                   for value in (2**63, 10**30, 0)) + ("==",),
    "timezone": NASTY_KINDS[3] + ("America/New_York", "utc", "Mars/Olympus", ""),
    "currency": ("EUR", "eur", "USD", "JPY", "XXX", "EURO", ""),
    "locale": ("fr-FR", "fr", "x", "en-" + "x" * 60, ""),
    "email": ("x" * 300 + "@example.test", "a@b", "", "ALICE@EXAMPLE.TEST "),
    "cardNumber": ("0000 0000 0000", "9" * 40, "", "1234"),
    "qrPayload": ("", "1.2.3.4", "x" * 5000),
}
# Appended or prepended to a plausible value.
POISONS: tuple[str, ...] = ("\u0000", "x" * 300, "é" * 120, "💳", " ", "/..", "'")
EDGE_FLOATS: tuple[float, ...] = (0.0, -0.0, 48.87, 2.33, 90.0, -180.0, 1e308, -1e308, 5e-324)
_EDGE_TIMES = (datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), datetime(1970, 1, 1))
_ZONES = (None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)))


@dataclass
class Seeds:
    """Values of the seeded programme, for the generator to reuse."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    fresh_strings: list[Callable[[], str]] = field(default_factory=list)
    # By argument or input field name (`after`, `email`...): real values.
    named: dict[str, list[str]] = field(default_factory=dict)
    fresh_named: dict[str, Callable[[], str]] = field(default_factory=dict)


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
    nasty = st.sampled_from(NASTY_KINDS).flatmap(lambda kind: st.sampled_from(
        [s for s in kind if allow_nul or "\u0000" not in s] or [""]))
    alphabet = st.characters(codec="utf-8", min_codepoint=0 if allow_nul else 1,
                             max_codepoint=0xFFFF, exclude_categories=["Cs"])
    # Values that pass the first checks, so that the request goes deeper: the
    # seeded programme's strings, fresh QR codes, new emails, a good password.
    plausible = (st.sampled_from(seeds.strings or [""])
                 | st.sampled_from(seeds.fresh_strings or [str]).map(lambda make: make())
                 | st.emails().filter(lambda e: len(e) <= 254))
    # ... and the same with something hostile before or after it.
    poisons = [p for p in POISONS if allow_nul or "\u0000" not in p]
    poisoned = st.builds(lambda value, poison, first: poison + value if first else value + poison,
                         plausible, st.sampled_from(poisons), st.booleans())
    text = st.one_of(st.text(alphabet, max_size=40), nasty, nasty, plausible, plausible,
                     poisoned)
    # Hypothesis leans to the first choices and to 0: the useful values first.
    ints = (st.sampled_from([20, 1, 100, 101, 0, -1, 2**31 - 1, -(2**31)])
            | st.integers(1, 120) | st.integers(-(2**31), 2**31 - 1))
    floats = (st.floats(-90, 90) | st.floats(-180, 180) | st.sampled_from(EDGE_FLOATS)
              | st.floats(allow_nan=False, allow_infinity=False))
    ids = (st.sampled_from(seeds.ids or ["1"]) | st.integers(-3, 10**20).map(str)
           | nasty)
    return {
        "String": text.map(nodes.String),
        "ID": ids.map(nodes.String),
        "Int": ints.map(nodes.Int),
        "Float": floats.map(nodes.Float),
        "DateTime": (_datetimes() | nasty).map(nodes.String),
        "Date": (st.dates().map(lambda d: d.isoformat()) | nasty).map(nodes.String),
        # Free-form JSON (event properties, definitions): any GraphQL value,
        # objects and lists of the scalars above, nested a little.
        "JSON": st.recursive(
            text.map(nodes.String) | ints.map(nodes.Int) | floats.map(nodes.Float)
            | st.booleans().map(nodes.Boolean) | st.just(nodes.Null),
            lambda inner: st.lists(inner, max_size=3).map(nodes.List)
            | st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
                              inner, max_size=3).map(lambda d: nodes.Object([
                                  graphql.ObjectFieldNode(name=graphql.NameNode(value=k),
                                                          value=v) for k, v in d.items()])),
            max_leaves=6),
    }


def named_strategies(seeds: Seeds, allow_nul: bool = True) -> dict[str, st.SearchStrategy[str]]:
    named = {}
    for name in set(HOSTILE_BY_NAME) | set(seeds.named) | set(seeds.fresh_named):
        values = [*HOSTILE_BY_NAME.get(name, ()), *seeds.named.get(name, ())]
        strategy = st.sampled_from([v for v in values if allow_nul or "\u0000" not in v] or [""])
        if name in seeds.fresh_named:
            make = seeds.fresh_named[name]
            strategy = strategy | st.builds(make) | st.builds(make)
        named[name] = strategy
    return named


def operations(schema: graphql.GraphQLSchema, fields: Iterable[str], seeds: Seeds,
               allow_nul: bool = True, mode: Mode = Mode.POSITIVE, together: bool = False
               ) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(document, variables): queries and mutations on `fields`. Most positive
    documents select one root field (the request gets further than a document
    whose every field must be valid at once); the others select several, side
    by side. String values of well-known names (HOSTILE_BY_NAME) are redrawn
    for that name half the time; half the documents carry their arguments as
    variables. Mode.NEGATIVE: each document breaks the schema once (a wrong
    type, a missing argument...). `together`: every document selects several
    root fields, so that a refused one lands while its siblings work."""
    scalars = scalar_strategies(seeds, allow_nul)
    named = named_strategies(seeds, allow_nul)

    def documents(names: tuple[str, ...]) -> st.SearchStrategy[graphql.DocumentNode]:
        return from_schema(schema, fields=names, custom_scalars=scalars,
                           print_ast=lambda document: document, mode=mode)

    names = tuple(fields)
    chosen = documents(names)
    if mode == Mode.POSITIVE and not together:  # a negative document needs a field to break
        one = st.one_of([documents((name,)) for name in names
                         for _ in range(_arguments_below(schema, name))])
        chosen = st.one_of(one, one, one, chosen)

    @st.composite
    def operation(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
        document = renamed(draw(chosen), named, draw)
        if draw(st.booleans()):
            return hoisted(schema, document)
        return graphql.print_ast(document), {}

    return operation()


def _arguments_below(schema: graphql.GraphQLSchema, name: str, depth: int = 3) -> int:
    """How many arguments a root field and the fields below it take (at most
    5): a field with more of them gets more of the documents."""
    def count(type_: Any, level: int) -> int:
        if level == 0 or not isinstance(type_, graphql.GraphQLObjectType):
            return 0
        return sum(len(f.args) + count(graphql.get_named_type(f.type), level - 1)
                   for f in type_.fields.values())

    roots = [t for t in (schema.query_type, schema.mutation_type) if t and name in t.fields]
    field = roots[0].fields[name]
    return min(5, 1 + len(field.args) + count(graphql.get_named_type(field.type), depth - 1))


def renamed(node: Any, named: dict[str, st.SearchStrategy[str]], draw: st.DrawFn,
            name: str | None = None) -> Any:
    """`node` with some string values redrawn by the name they are given to."""
    if isinstance(node, graphql.StringValueNode):
        if name in named and draw(st.booleans()):
            return graphql.StringValueNode(value=draw(named[name]))
        return node
    if isinstance(node, graphql.ArgumentNode | graphql.ObjectFieldNode):
        return replace(node, value=renamed(node.value, named, draw, node.name.value))
    if isinstance(node, graphql.ListValueNode):
        return replace(node, values=tuple(renamed(v, named, draw, name) for v in node.values))
    if isinstance(node, graphql.ObjectValueNode):
        return replace(node, fields=tuple(renamed(f, named, draw) for f in node.fields))
    if isinstance(node, graphql.FieldNode):
        return replace(node, arguments=tuple(renamed(a, named, draw) for a in node.arguments),
                       selection_set=renamed(node.selection_set, named, draw))
    if isinstance(node, graphql.SelectionSetNode):
        return replace(node, selections=tuple(renamed(s, named, draw) for s in node.selections))
    if isinstance(node, graphql.OperationDefinitionNode):
        return replace(node, selection_set=renamed(node.selection_set, named, draw))
    if isinstance(node, graphql.DocumentNode):
        return replace(node, definitions=tuple(renamed(d, named, draw) for d in node.definitions))
    return node


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
