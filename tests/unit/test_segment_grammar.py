"""The segment grammar: every form of the contract parses, and a bad
definition names the path at fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audience.segment_grammar import (
    All,
    AnyOf,
    Event,
    LastPurchase,
    Not,
    Purchases,
    SegmentRef,
    parse,
    parse_duration,
    references,
    uses_scores,
)
from loyalty.errors import DomainError, ErrorCode

EVERY_FORM = {"all": [
    {"any": [{"tier": ["Gold", "silver"]}, {"rfm": ["CHAMPIONS", "AT_RISK"]}]},
    {"not": {"engagement": ["C"]}},
    {"channels": {"gte": 3}},
    {"purchases": {"gte": 2, "within": "P90D", "channel": "WEB"}},
    {"spend": {"gte": 10000, "within": "P365D"}},
    {"event": "product_viewed", "where": {"sku": "X", "priceMinor": 350, "promo": True},
     "gte": 2, "within": "P7D"},
    {"visited": {"storeId": "3", "within": "P30D"}},
    {"lastPurchase": {"olderThan": "P60D"}},
    {"points": {"gte": 500, "lt": 2000}},
    {"segment": "12"},
    {"marketingOptIn": True},
]}


def test_every_form_of_the_contract_parses():
    node = parse(EVERY_FORM)
    assert isinstance(node, All) and len(node.items) == 11
    assert isinstance(node.items[0], AnyOf) and isinstance(node.items[1], Not)
    purchases = node.items[3]
    assert isinstance(purchases, Purchases)
    assert (purchases.compare, purchases.within, purchases.channel) == (
        (("gte", 2),), timedelta(days=90), "WEB")
    event = node.items[5]
    assert isinstance(event, Event)
    assert event.where == (("priceMinor", 350), ("promo", True), ("sku", "X"))
    assert isinstance(node.items[7], LastPurchase)
    assert [r.segment_id for r in references(node)] == [12]
    assert isinstance(node.items[9], SegmentRef) and node.items[9].path == "definition.all.9"
    assert uses_scores(node)


def test_an_event_without_a_bound_means_at_least_once():
    node = parse({"event": "checkout_started"})
    assert isinstance(node, Event) and node.compare == (("gte", 1),) and node.within is None


@pytest.mark.parametrize("definition, path", [
    ([], "definition"),
    ({"all": []}, "definition.all"),
    ({"all": [{"tier": ["Gold"]}, {"purchases": {"gte": 2, "within": "90 days"}}]},
     "definition.all.1.purchases.within"),
    ({"any": [{"purchases": {"within": "P90D"}}]}, "definition.any.0.purchases"),
    ({"purchases": {"gte": 2, "channel": "MOON"}}, "definition.purchases.channel"),
    ({"purchases": {"gte": "2"}}, "definition.purchases.gte"),
    ({"purchases": {"gte": True}}, "definition.purchases.gte"),
    ({"purchases": {"gte": 1, "since": "P1D"}}, "definition.purchases.since"),
    ({"rfm": ["CHAMPS"]}, "definition.rfm.0"),
    ({"engagement": ["E"]}, "definition.engagement.0"),
    ({"tier": "Gold"}, "definition.tier"),
    ({"tier": ["Gold"], "rfm": ["LOST"]}, "definition"),
    ({"colour": "blue"}, "definition.colour"),
    ({"not": {"not": {"segment": "abc"}}}, "definition.not.not.segment"),
    ({"segment": 0}, "definition.segment"),
    ({"marketingOptIn": "yes"}, "definition.marketingOptIn"),
    ({"visited": {"storeId": "x"}}, "definition.visited.storeId"),
    ({"lastPurchase": {}}, "definition.lastPurchase"),
    ({"lastPurchase": {"olderThan": "P0D"}}, "definition.lastPurchase.olderThan"),
    ({"event": "a b"}, "definition.event"),
    ({"event": "x", "where": {"a.b": 1}}, "definition.where"),
    ({"event": "x", "where": {"a": [1]}}, "definition.where.a"),
    ({"event": "x", "count": 3}, "definition.count"),
    ({"spend": {"gte": 1, "within": "P11Y"}}, "definition.spend.within"),
])
def test_a_bad_definition_names_its_path(definition, path):
    with pytest.raises(DomainError) as refused:
        parse(definition)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_DEFINITION, path)


def test_depth_and_size_are_bounded():
    deep: dict = {"marketingOptIn": True}
    for _ in range(12):
        deep = {"not": deep}
    with pytest.raises(DomainError) as refused:
        parse(deep)
    assert refused.value.code == ErrorCode.INVALID_DEFINITION
    with pytest.raises(DomainError):
        parse({"any": [{"any": [{"points": {"gte": i}} for i in range(100)]}] * 3})


@pytest.mark.parametrize("text, span", [
    ("P90D", timedelta(days=90)), ("PT12H", timedelta(hours=12)), ("P1W", timedelta(days=7)),
    ("P1Y2M", timedelta(days=425)), ("P1DT30M", timedelta(days=1, minutes=30)),
])
def test_durations(text, span):
    assert parse_duration(text, "x") == span


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "90D", "p90d", "P-1D", ""])
def test_bad_durations(text):
    with pytest.raises(DomainError):
        parse_duration(text, "x")
