"""/metrics counts requests by operation and outcome, errors by code, and
times them; its labels are the schema's names, never a client's text."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.fast_home import HOME_DOCUMENT
from tests.conftest import Server

CLIENT_TEXT = "ClientChosenName7781"


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_operations_are_counted_by_root_field_and_outcome(server: Server, alice):
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        auth = {"authorization": f"Bearer {alice.token}"}
        # the home screen, answered by the fast path
        home = await http.post("/graphql", json={"query": HOME_DOCUMENT}, headers=auth)
        assert "errors" not in home.json()
        # the same field through the executor, under a name and an alias of the client's
        named = await http.post("/graphql", headers=auth, json={
            "query": f"query {CLIENT_TEXT} {{ {CLIENT_TEXT.lower()}: me {{ id }} }}"})
        assert "errors" not in named.json()
        # refused: no token
        refused = await http.post("/graphql", json={"query": "{ me { id } }"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # invalid: a field the schema does not have, named by the client
        invalid = await http.post("/graphql", json={"query": f"{{ {CLIENT_TEXT} }}"})
        assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        text = (await http.get("/metrics")).text
        after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("loyalty_graphql_operations_total", operation="me", outcome="ok") == 2
    assert delta("loyalty_graphql_operations_total", operation="me", outcome="error") == 1
    assert delta("loyalty_graphql_operations_total", operation="(invalid)", outcome="error") == 1
    assert delta("loyalty_graphql_errors_total", code="UNAUTHENTICATED") == 1
    assert delta("loyalty_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert delta("loyalty_graphql_operation_duration_seconds_count", operation="me") == 3
    assert delta("loyalty_http_requests_total", route="/graphql", status="200") == 4
    assert delta("loyalty_http_request_duration_seconds_count", route="/graphql") == 4
    # No label carries the client's names, aliases or made-up fields.
    assert CLIENT_TEXT not in text and CLIENT_TEXT.lower() not in text
    # The pool and the subscriptions are there too.
    assert "loyalty_subscribers" in text and "loyalty_uptime_seconds" in text


async def test_unknown_paths_share_one_label(server: Server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        for i in range(3):
            assert (await http.get(f"/wp-admin-{i}.php")).status_code == 404
        samples = await scrape(http)
    assert value(samples, "loyalty_http_requests_total", route="other", status="404") >= 3
    assert not any("wp-admin" in str(labels) for _, labels in samples)
