"""Input objects built from a plan made once per type, not by reflection per request.

Every mutation takes one `input`. Strawberry's generic conversion resolves each
field's type and GraphQL name again on every request (about a tenth of a small
mutation's CPU). `install(schema)` gives each input type a `from_input` (the
hook Strawberry offers integrations for this): leaves (scalars, enums, already
coerced by graphql-core) are taken as they are, nested inputs and lists of
them go through their own plan, and anything else (Maybe, GlobalID...) is left
to Strawberry's own conversion. The result is the same object: tests cover
every mutation's input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

Convert = Callable[[Any, InputContext, str], Any]


def _plain_input(type_: Any) -> StrawberryObjectDefinition | None:
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        if definition.is_input and (definition.from_input is None
                                    or getattr(definition.from_input, "_planned", False)):
            return definition
    return None


def _leaf(type_: Any, registry: Mapping[Any, Any]) -> bool:
    """Values graphql-core has already coerced: Strawberry takes them as they are."""
    if type_ is GlobalID:
        return False
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return True
    return not isinstance(type_, StrawberryType) and is_scalar(type_, registry)


def _converter(type_: Any, registry: Mapping[Any, Any]) -> Convert | None:
    """None: the value is used as it is. Otherwise how to build it."""
    if isinstance(type_, StrawberryMaybe):
        return _fallback(type_)
    optional = isinstance(type_, StrawberryOptional)
    inner = type_.of_type if optional else type_
    if isinstance(inner, StrawberryMaybe):
        return _fallback(type_)
    if _leaf(inner, registry):
        return None
    if isinstance(inner, StrawberryList):
        item = inner.of_type
        item_inner = item.of_type if isinstance(item, StrawberryOptional) else item
        if not isinstance(item_inner, StrawberryMaybe) and _leaf(item_inner, registry):
            # Copied, as Strawberry does: graphql-core shares default lists.
            return lambda value, context, key: None if value is None else list(value)
        return _fallback(type_)
    if _plain_input(inner) is not None:
        cls = inner

        def nested(value: Any, context: InputContext, key: str) -> Any:
            if value is None:
                return None
            return cls.__strawberry_definition__.from_input(
                cls, value, InputContext(context.info, context.config,
                                         context.scalar_registry, (*context.path, key)))

        return nested
    return _fallback(type_)


def _fallback(type_: Any) -> Convert:
    return lambda value, context, key: context.convert(value, type_, key)


def _plan(definition: StrawberryObjectDefinition, schema: strawberry.Schema) -> None:
    registry = schema.schema_converter.scalar_registry
    names = schema.config.name_converter
    required_none = {
        f.python_name: None
        for f in definition.fields
        if f.default_value is MISSING and f.default_factory is MISSING
    }
    steps = [
        (names.from_field(f), f.python_name,
         _converter(f.resolve_type(type_definition=definition), registry))
        for f in definition.fields
    ]

    def from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs = dict(required_none)
        for graphql_name, python_name, convert in steps:
            if graphql_name in value:
                item = value[graphql_name]
                kwargs[python_name] = (
                    item if convert is None else convert(item, context, graphql_name)
                )
        return cls(**kwargs)

    from_input._planned = True  # type: ignore[attr-defined]
    definition.from_input = from_input


def install(schema: strawberry.Schema) -> None:
    """Plan every plain input type of the schema (idempotent)."""
    definitions = [
        d for d in (
            getattr(t, "definition", None) for t in schema.schema_converter.type_map.values()
        )
        if isinstance(d, StrawberryObjectDefinition) and _plain_input(d.origin) is not None
    ]
    # Every type first marked as planned, so nested types see one another.
    for definition in definitions:
        definition.from_input = _placeholder
    for definition in definitions:
        _plan(definition, schema)


def _placeholder(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    raise AssertionError("input plan not installed")  # pragma: no cover


_placeholder._planned = True  # type: ignore[attr-defined]
