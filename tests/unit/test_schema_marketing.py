"""The live schema carries every name of the marketing contract's sections
this package implements ("behavioural events", "the 360 view", "segments",
"analytics", and their queries and mutations), with the contract's types."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_ast_schema,
    parse,
)

from api.schema import build_schema
from loyalty.platform.config import Settings

SCHEMA = Path(__file__).resolve().parents[2] / "schema"
SECTIONS = ("behavioural events", "the 360 view", "segments", "analytics")
QUERIES = ["customer", "customers", "segments", "segment", "pointsLiability",
           "lifetimeValueByChannelCount", "attribution", "rfmGrid", "engagementMatrix"]
MUTATIONS = ["trackEvents", "createSegment", "updateSegment", "recordAcquisitionCost"]
# Journeys and integrations come with their own issues.
ERROR_CODES = ["FORBIDDEN", "INVALID_DEFINITION"]


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^# ---- (.+?) -+$", text, flags=re.M)
    return {re.sub(r"\s*\(.*\)", "", name).strip(): body
            for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@pytest.fixture(scope="module")
def contract() -> tuple[GraphQLSchema, set[str]]:
    marketing = (SCHEMA / "contract-marketing.graphql").read_text()
    schema = build_ast_schema(parse((SCHEMA / "contract-core.graphql").read_text()
                                    + "\n" + marketing))
    names: set[str] = set()
    for name, body in _sections(marketing).items():
        if name in SECTIONS:
            names |= set(re.findall(r"^(?:type|input|enum) (\w+)", body, flags=re.M))
    return schema, names


def test_every_name_of_the_sections_is_live(contract):
    theirs, names = contract
    ours = build_schema(Settings(env="test"))._schema
    missing = []
    for name in sorted(names):
        mine = ours.type_map.get(name)
        if mine is None:
            missing.append(name)
            continue
        their = theirs.type_map[name]
        if isinstance(their, GraphQLEnumType):
            missing += [f"{name}.{v}" for v in their.values if v not in mine.values]
        elif isinstance(their, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in their.fields.items():
                my_field = mine.fields.get(field_name)
                if my_field is None or str(my_field.type) != str(field.type):
                    missing.append(f"{name}.{field_name}: {field.type}")
    for root, fields in (("Query", QUERIES), ("Mutation", MUTATIONS)):
        for field_name in fields:
            their = theirs.type_map[root].fields[field_name]
            mine = ours.type_map[root].fields.get(field_name)
            if mine is None or str(mine.type) != str(their.type):
                missing.append(f"{root}.{field_name}")
                continue
            for arg, spec in their.args.items():
                if arg not in mine.args or str(mine.args[arg].type) != str(spec.type):
                    missing.append(f"{root}.{field_name}({arg})")
    missing += [f"ErrorCode.{c}" for c in ERROR_CODES
                if c not in ours.type_map["ErrorCode"].values]
    for extended, fields in (("SignUpInput", ["anonymousId", "acquisition"]),
                             ("LogInInput", ["anonymousId"]), ("StaffRole", ["SUPPORT"])):
        present = getattr(ours.type_map[extended], "fields", None) or \
            ours.type_map[extended].values
        missing += [f"{extended}.{f}" for f in fields if f not in present]
    assert missing == []
    assert len(names) == 30  # the sections parsed (a reworded header would lose some)
