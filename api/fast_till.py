"""A fast path for the till's recordPurchase (ADR 0021).

A till posts one document all day: `recordPurchase(input: $input)` with a
selection of the payload's plain fields. Through the generic executor, the
request's hooks, the field's permission extension, the result's completion
field by field and their awaitables cost about a fifth of a purchase's server
CPU (py-spy on bench/pos_bench.py). Here the same work is done directly:

- the document is planned once per text (`plan_for`): parsed and validated by
  the request guard's own caches and rules (api/guard.py), it qualifies when
  its one operation is a mutation whose one field is `recordPurchase(input:
  $v)`, `$v: RecordPurchaseInput!` its only variable, and every field under
  it a plain field of the payload (an attribute, no resolver, no argument, no
  directive, no fragment); `__typename` and aliases are allowed;
- the variable is coerced by graphql-core's `coerce_input_value` against the
  schema's own input type and converted by Strawberry's `convert_argument`
  (with the input plans of api/inputs.py), as the executor does;
- the permission is StaffOrPurchasesClient's rule and its existence check;
- the use case is api/mutations/pos.py:record_one, the resolver's own body
  (a refusal comes back in the payload's errors);
- the answer is the payload projected onto the selection, each leaf
  serialised by its GraphQL type, as the executor completes it.

Anything else, and any surprise before the use case (an invalid variable, a
refused token), is left to the executor, which answers or refuses with its
own error. Once the use case has run, it never runs again: if it raised (a
lost connection, a deadlock, a bug) or its payload cannot be completed here
(a null where the schema says non-null), the outcome is handed over
(`HandOver`) and the executor's resolver answers with it, so the request
gets the executor's error, log line and count, not a silent second run
turned into a success. tests/api/test_till_fast_path.py proves the bytes
equal the executor's.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    is_leaf_type,
)
from graphql.utilities import coerce_input_value
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_argument

from api.client_permissions import StaffOrPurchasesClient
from api.guard import GuardCaches
from api.mutations.pos import TILL_OUTCOME, record_one
from api.types.pos import RecordPurchaseInput
from loyalty.identity.tokens import Principal

FIELD = "recordPurchase"
INPUT_TYPE = "RecordPurchaseInput"
# A till's body is well under this (~400 bytes; receipt lines add ~80 each).
MAX_BODY = 64 * 1024

_PERMISSION = StaffOrPurchasesClient()


class Bail(Exception):
    """The executor answers this request instead."""


# A selection: for each response key, the attribute it reads and how its value
# is completed.
Complete = Callable[[Any], Any]


@dataclass(frozen=True)
class Plan:
    variable: str
    operation_name: str | None
    complete: Complete


def _leaf(type_: Any) -> Complete:
    serialize = type_.serialize

    def complete(value: Any) -> Any:
        serialized = serialize(value)
        if serialized is None:
            raise Bail
        return serialized

    return complete


def _non_null(inner: Complete) -> Complete:
    def complete(value: Any) -> Any:
        if value is None:
            raise Bail  # the executor nulls the parent and reports an error
        return inner(value)

    return complete


def _nullable(inner: Complete) -> Complete:
    return lambda value: None if value is None else inner(value)


def _list(inner: Complete) -> Complete:
    return lambda value: [inner(item) for item in value]


def _object(schema: Any, type_: GraphQLObjectType, selection: SelectionSetNode) -> Complete:
    """The completion of a value of `type_`: a dict with the selected keys, in
    the selection's order."""
    steps: list[tuple[str, str | None, Complete | None]] = []
    keys: set[str] = set()
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            raise Bail
        name, key = node.name.value, (node.alias or node.name).value
        if key in keys:
            raise Bail  # merged by the executor: not worth doing here
        keys.add(key)
        if name == "__typename":
            if node.selection_set is not None:
                raise Bail
            steps.append((key, None, None))
            continue
        field = schema.get_field_for_type(name, type_.name)
        graphql_field = type_.fields.get(name)
        if field is None or graphql_field is None or field.base_resolver is not None \
                or field.permission_classes or field.extensions:
            raise Bail
        steps.append((key, field.python_name,
                      _complete(schema, graphql_field.type, node.selection_set)))
    typename = type_.name

    def complete(value: Any) -> Any:
        found = {}
        for key, attribute, step in steps:
            if step is None:
                found[key] = typename
            else:
                found[key] = step(getattr(value, attribute))  # type: ignore[arg-type]
        return found

    return complete


def _complete(schema: Any, type_: Any, selection: SelectionSetNode | None) -> Complete:
    if isinstance(type_, GraphQLNonNull):
        return _non_null(_complete(schema, type_.of_type, selection))
    if isinstance(type_, GraphQLList):
        return _nullable(_list(_complete(schema, type_.of_type, selection)))
    if is_leaf_type(type_):
        if selection is not None:
            raise Bail
        return _nullable(_leaf(type_))
    if isinstance(type_, GraphQLObjectType) and selection is not None:
        return _nullable(_object(schema, type_, selection))
    raise Bail  # an interface or a union: the executor resolves its type


def _plan(schema: Any, caches: GuardCaches, rules: tuple[Any, ...], query: str) -> Plan | None:
    graphql_schema: GraphQLSchema = schema._schema
    try:
        document = caches.parsed(query, caches.max_tokens)
    except GraphQLError:
        return None
    if caches.validated(graphql_schema, query, rules):
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) \
            or operation.operation != OperationType.MUTATION or operation.directives \
            or len(operation.variable_definitions or ()) != 1:
        return None
    definition = (operation.variable_definitions or ())[0]
    if definition.default_value is not None or definition.directives \
            or not isinstance(definition.type, NonNullTypeNode) \
            or not isinstance(definition.type.type, NamedTypeNode) \
            or definition.type.type.name.value != INPUT_TYPE:
        return None
    selections = operation.selection_set.selections
    root = selections[0] if len(selections) == 1 else None
    if not isinstance(root, FieldNode) \
            or root.name.value != FIELD or root.alias is not None or root.directives \
            or len(arguments := root.arguments or ()) != 1 \
            or arguments[0].name.value != "input" \
            or not isinstance(arguments[0].value, VariableNode) \
            or arguments[0].value.name.value != definition.variable.name.value \
            or root.selection_set is None:
        return None
    mutation = graphql_schema.mutation_type
    assert mutation is not None
    try:
        payload = _complete(schema, mutation.fields[FIELD].type, root.selection_set)
    except Bail:
        return None
    variable = definition.variable.name.value
    return Plan(variable, operation.name.value if operation.name else None,
                lambda result: {FIELD: payload(result)})


class TillPath:
    """The plans of one schema, and what serves a request with them."""

    def __init__(self, schema: Any, caches: GuardCaches) -> None:
        self.input_type = GraphQLNonNull(schema._schema.get_type(INPUT_TYPE))
        registry = schema.schema_converter.scalar_registry
        config = schema.config
        self._convert = lambda value: convert_argument(value, RecordPurchaseInput, registry,
                                                      config)
        rules = caches.rules_for_request
        # What this path checks is the field's permission as it stands: should
        # the field get another permission or extension, the executor serves
        # it until this path follows.
        field = schema.get_field_for_type(FIELD, "Mutation")
        self.enabled = field is not None and field.base_resolver is not None \
            and list(field.permission_classes) == [StaffOrPurchasesClient] \
            and all(isinstance(e, PermissionExtension) for e in field.extensions)

        @lru_cache(maxsize=64)
        def plan_for(query: str) -> Plan | None:
            return _plan(schema, caches, rules, query) if self.enabled else None

        self.plan_for = plan_for

    def plan(self, payload: Any) -> tuple[Plan, Any] | None:
        """The plan and the raw input of a decoded body, if this path serves it."""
        if not isinstance(payload, dict) or payload.get("extensions", None) not in (None, {}):
            return None
        query, variables = payload.get("query"), payload.get("variables")
        if not isinstance(query, str) or not isinstance(variables, dict) \
                or len(variables) != 1:
            return None
        plan = self.plan_for(query)
        if plan is None or payload.get("operationName") not in (None, plan.operation_name) \
                or plan.variable not in variables:
            return None
        return plan, variables[plan.variable]

    def coerce(self, raw: Any) -> RecordPurchaseInput:
        """The input as the executor builds it; Bail where it would refuse it."""
        coerced = coerce_input_value(raw, self.input_type)
        if coerced is Undefined:
            raise Bail
        return cast(RecordPurchaseInput, self._convert(coerced))


def may_post(principal: Principal | None) -> bool:
    """StaffOrPurchasesClient's rule (the view checks the account still
    exists, as the permission's require_existing does)."""
    return principal is not None and _PERMISSION.allows(principal)


class HandOver(Exception):  # noqa: N818 - a signal, like Bail
    """The use case ran: the executor answers with its outcome (a payload to
    complete, or the exception to report) and does not run it again."""

    def __init__(self, key: str, outcome: Any) -> None:
        super().__init__(key)
        self.key = key
        self.outcome = outcome

    def leave_in(self, scope: MutableMapping[str, Any]) -> None:
        """For recordPurchase's resolver (api/mutations/pos.py) in this request."""
        scope[TILL_OUTCOME] = (self.key, self.outcome)


async def record(plan: Plan, principal: Principal, given: RecordPurchaseInput) -> Any:
    """The `data` of the plan's document; HandOver if the executor must answer."""
    try:
        result = await record_one(principal, given)
    except Exception as error:  # noqa: BLE001 - reported by the executor, not retried
        raise HandOver(given.idempotency_key, error) from error
    try:
        return plan.complete(result)
    except Exception:  # noqa: BLE001 - Bail, or a leaf's serialize refusing the value
        raise HandOver(given.idempotency_key, result) from None
