"""What a request may cost: a static price per selected field, summed over the
operation before anything runs, and a cap (`LOYALTY_MAX_QUERY_COST`).

The depth, token and alias limits bound a document's size, not its work: 29
aliased `qr { svg }` fit under all three and cost ~170 ms of CPU. The price
is an upper bound read from the document alone (validation runs before the
variables are known, and GuardCaches keeps its verdict per query text):

- a field costs 1, or what `FIELD_COSTS` declares;
- a field with a size argument (`SIZE_ARGUMENTS`) multiplies its selection by
  that argument: the literal (held to the argument's range, since a value out
  of range is refused before any work), the argument's default when it is
  omitted, and its maximum when it is a variable;
- another list of objects multiplies its selection by `DEFAULT_LIST_SIZE`,
  except a connection's `edges`, already counted by the connection's `first`;
- nested lists multiply; leaves of a list (skus, ids) cost nothing more.

A unit is about one plain field resolved and serialised (~2.5 to 5 µs of CPU
here); the declared costs are measured in the same unit.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    ValidationContext,
    VariableNode,
    get_named_type,
    type_from_ast,
)
from graphql.language.visitor import SKIP, VisitorAction
from graphql.validation import ValidationRule

from api.errors import ApiCode
from api.types.common import MAX_PAGE
from geofence.nearby import MAX_LIMIT as MAX_NEARBY

# Fields that cost more than a plain field, by (type, field). Introspection
# is priced as a whole: its selections are the static schema, not data.
FIELD_COSTS: dict[tuple[str, str], int] = {
    # Draws the QR code: ~4 to 6 ms of CPU, as much as ~1,000 plain fields.
    ("QrCode", "svg"): 1000,
    # The full introspection query: ~34 ms of CPU on this schema.
    ("Query", "__schema"): 5000,
    ("Query", "__type"): 100,
}

# A write: a transaction of several statements, ~1.5 ms of server CPU for a
# purchase (bench/pos_bench.py), as much as ~300 plain fields.
MUTATION_COST = 300

# Size arguments and the largest value each accepts (a larger one is refused
# with INVALID_INPUT before any work, so it never costs more than this).
SIZE_ARGUMENTS: dict[str, int] = {"first": MAX_PAGE, "limit": MAX_NEARBY}

# A list that takes no size argument (rewards, offers, errors) is priced as
# one page of this many items: a guess, not a bound, for lists whose length
# the programme's data decides.
DEFAULT_LIST_SIZE = 20


def _multiplier(field: GraphQLField, node: FieldNode, parent: GraphQLObjectType) -> int:
    for name, maximum in SIZE_ARGUMENTS.items():
        argument = field.args.get(name)
        if argument is None:
            continue
        given = next((a.value for a in node.arguments or () if a.name.value == name), None)
        if given is None:
            default = argument.default_value
            return default if isinstance(default, int) else DEFAULT_LIST_SIZE
        if isinstance(given, VariableNode):
            return maximum
        if isinstance(given, NullValueNode):
            return DEFAULT_LIST_SIZE
        if isinstance(given, IntValueNode):
            try:
                return max(1, min(int(given.value), maximum))
            except ValueError:
                return maximum
        return maximum
    type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(type_, GraphQLList):
        return 1
    if node.name.value == "edges" and parent.name.endswith("Connection"):
        return 1
    return DEFAULT_LIST_SIZE


class _Pricer:
    """Prices one document; a fragment is priced once, however often it is spread."""

    def __init__(self, context: ValidationContext) -> None:
        self.context = context
        self.fragments: dict[str, int] = {}

    def selections(self, selection_set: SelectionSetNode | None, parent: Any,
                   spreading: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, spreading)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = (type_from_ast(self.context.schema, condition) if condition else parent)
                total += self.selections(selection.selection_set, inner, spreading)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, spreading)
        return total

    def fragment(self, name: str, spreading: frozenset[str]) -> int:
        if name in self.fragments:
            return self.fragments[name]
        definition = self.context.get_fragment(name)
        # A cycle is refused by NoFragmentCycles; here it only must not loop.
        if definition is None or name in spreading:
            return 0
        parent = type_from_ast(self.context.schema, definition.type_condition)
        cost = self.selections(definition.selection_set, parent, spreading | {name})
        self.fragments[name] = cost
        return cost

    def field(self, node: FieldNode, parent: Any, spreading: frozenset[str]) -> int:
        name = node.name.value
        if not isinstance(parent, GraphQLObjectType):
            return 1
        own = FIELD_COSTS.get((parent.name, name))
        if own is None and parent.name == "Mutation":
            own = MUTATION_COST
        if name.startswith("__"):
            return 1 if own is None else own
        field = parent.fields.get(name)
        if field is None:  # unknown: FieldsOnCorrectType refuses it
            return 1
        inner = self.selections(node.selection_set, get_named_type(field.type), spreading)
        return (1 if own is None else own) + _multiplier(field, node, parent) * inner


def operation_cost(context: ValidationContext, operation: OperationDefinitionNode) -> int:
    root = context.schema.get_root_type(operation.operation)
    return _Pricer(context).selections(operation.selection_set, root)


def max_query_cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing any operation that costs more than `max_cost`
    (TOO_EXPENSIVE). Made once per schema: the validation cache is keyed by it."""

    class MaxQueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_args: Any) -> VisitorAction:
            cost = operation_cost(self.context, node)
            if cost > max_cost:
                self.report_error(GraphQLError(
                    f"This request costs {cost}, more than the {max_cost} a request may cost.",
                    node,
                    extensions={"code": ApiCode.TOO_EXPENSIVE.value, "cost": cost,
                                "maxCost": max_cost},
                ))
            # Priced as a whole: nothing inside needs visiting again.
            return SKIP

    return MaxQueryCost


def document_cost(schema: GraphQLSchema, document: DocumentNode) -> int:
    """The price of the document's dearest operation, as the rule computes it
    (for tests and for choosing the cap)."""
    context = ValidationContext(schema, document, TypeInfo(schema), lambda _error: None)
    return max((operation_cost(context, d) for d in document.definitions
                if isinstance(d, OperationDefinitionNode)), default=0)
