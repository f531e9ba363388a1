"""Pricing documents (api/cost.py): what each construct costs, without a server."""

from __future__ import annotations

import pytest
from graphql import GraphQLError, parse

from api.cost import document_cost
from api.errors import with_code
from api.fast_home import HOME_DOCUMENT
from api.schema import build_schema
from loyalty.platform.config import Settings, load_settings

SETTINGS = Settings(env="test")
SCHEMA = build_schema(SETTINGS)


def cost(document: str) -> int:
    return document_cost(SCHEMA._schema, parse(document))


def test_plain_fields_cost_one_each():
    assert cost("{ me { id firstName } }") == 3
    assert cost("{ me { card { number } } }") == 3


def test_an_svg_costs_a_thousand_fields():
    assert cost("{ me { card { qr { svg } } } }") == 3 + 1000


def test_a_connection_multiplies_by_first_and_edges_are_not_counted_twice():
    node = "edges { node { id } }"
    assert cost(f"{{ me {{ history(first: 5) {{ {node} }} }} }}") == 1 + 1 + 5 * 3
    # Omitted: the argument's default (20); a variable: the largest page (100).
    assert cost(f"{{ me {{ history {{ {node} }} }} }}") == 2 + 20 * 3
    assert cost(f"query($n: Int) {{ me {{ history(first: $n) {{ {node} }} }} }}") == 2 + 100 * 3
    # Out of range is refused before any work: it costs no more than the largest page.
    assert cost(f"{{ me {{ history(first: 100000) {{ {node} }} }} }}") == 2 + 100 * 3
    assert cost(f"{{ me {{ history(first: null) {{ {node} }} }} }}") == 2 + 20 * 3


def test_lists_without_a_size_multiply_by_a_page_and_nest():
    assert cost("{ rewards { id name } }") == 1 + 20 * 2
    # A list of leaves costs one: its items are resolved with it.
    assert cost("{ earnRules { conditions { skus } } }") == 1 + 20 * (1 + 1)
    # limit is nearbyGeofences' size; each fence's vertices are another list.
    assert cost("{ nearbyGeofences(latitude: 0, longitude: 0, limit: 3) "
                "{ id vertices { latitude } } }") == 1 + 3 * (1 + 1 + 20 * 1)


def test_fragments_cost_what_they_select_each_time_they_are_spread():
    spread = ("query { me { ...C a: card { ...Q } } } "
              "fragment C on Customer { card { ...Q } } fragment Q on LoyaltyCard { number }")
    assert cost(spread) == 1 + (1 + 1) + (1 + 1)
    inline = "{ me { ... on Customer { id } ... { firstName } } }"
    assert cost(inline) == 3


def test_a_fragment_cycle_is_priced_without_looping():
    # Invalid (NoFragmentCycles refuses it); pricing it must still end.
    assert cost("{ me { ...A } } fragment A on Customer { id ...B } "
                "fragment B on Customer { ...A }") >= 2


def test_a_fragment_bomb_is_priced_once_per_fragment():
    # Each level spreads the next ten times: 10^6 fields, priced in linear time.
    levels = [f"fragment F{i} on Customer {{ " + " ".join([f"...F{i + 1}"] * 10) + " }"
              for i in range(6)]
    levels.append("fragment F6 on Customer { id }")
    assert cost("{ me { ...F0 } } " + " ".join(levels)) == 1 + 10**6


def test_introspection_is_priced_as_a_whole():
    from graphql import get_introspection_query

    assert cost(get_introspection_query()) == 5000
    assert cost("{ __typename }") == 1


def test_the_home_document_is_well_under_the_cap():
    assert cost(HOME_DOCUMENT) < SETTINGS.max_query_cost / 10


async def test_the_rule_refuses_over_the_cap_and_the_code_survives_masking():
    strict = build_schema(Settings(env="prod", secret_key="s" * 40, max_query_cost=5))
    result = await strict.execute("{ me { id firstName card { number qrSecret } } }")
    assert result.data is None
    assert [e.extensions for e in result.errors or []] == [
        {"code": "TOO_EXPENSIVE", "cost": 6, "maxCost": 5}]
    assert "costs 6" in (result.errors or [])[0].message


def test_with_code_keeps_too_expensive():
    error = GraphQLError("too dear", extensions={"code": "TOO_EXPENSIVE", "cost": 9})
    assert with_code(error, mask=True).extensions == {"code": "TOO_EXPENSIVE", "cost": 9}


@pytest.mark.parametrize("value", ["250", "100000"])
def test_the_cap_comes_from_the_environment(value: str):
    assert load_settings({"LOYALTY_MAX_QUERY_COST": value}).max_query_cost == int(value)
