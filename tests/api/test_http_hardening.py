"""Every HTTP response carries the security headers; /metrics can require a token."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.app import create_app
from loyalty.platform.config import Settings, set_settings
from tests.conftest import DATABASE_URL, Server, settings_for

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
TYPENAME = {"query": "{ __typename }"}


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own, in-process, on the test database."""
    app = create_app(settings, manage_db=False)
    set_settings(settings_for(DATABASE_URL))  # create_app made `settings` the process's
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        yield http


def _assert_hardened(response: httpx.Response, csp: str = API_CSP) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert response.headers.get("content-security-policy") == csp


async def test_every_response_of_the_api_carries_the_security_headers(server: Server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        responses = [
            await http.post("/graphql", json=TYPENAME),
            await http.post("/graphql", json={"query": "{ nope }"}),  # a refusal
            await http.post("/graphql", content=b"x" * 70_000,  # over the body limit
                            headers={"content-type": "application/json"}),
            await http.get("/healthz"),
            await http.get("/metrics"),
            await http.get("/nowhere"),
        ]
    assert [r.status_code for r in responses] == [200, 200, 413, 200, 200, 404]
    for response in responses:
        _assert_hardened(response)
        # Outside production there may be no TLS in front: no HSTS.
        assert "strict-transport-security" not in response.headers


async def test_graphiql_gets_a_policy_that_lets_its_page_load(server: Server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    # Its one inline script by hash, never 'unsafe-inline' for scripts.
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in directives["script-src"].split()
    assert "'unsafe-inline'" not in directives["script-src"]
    # Every script and style sheet it loads comes from the app itself (no CDN:
    # it works offline), and the policy allows exactly that.
    for tag, attribute, directive in (("script", "src", "script-src"),
                                      ("link", "href", "style-src")):
        urls = re.findall(rf'<{tag}[^>]*?{attribute}="([^"]+)"', page.text)
        assert urls and all(url.startswith("/graphiql/") for url in urls), urls
        assert "'self'" in directives[directive].split(), directive
    assert "https:" not in csp
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    _assert_hardened(page, csp)


async def test_production_adds_strict_transport_security(database: str):
    prod = settings_for(database, env="prod", secret_key=secrets.token_urlsafe(48))
    async with _client(prod) as http:
        responses = [await http.post("/graphql", json=TYPENAME), await http.get("/healthz"),
                     await http.get("/graphql", headers={"accept": "text/html"})]
    for response in responses:
        _assert_hardened(response)
        assert response.headers["strict-transport-security"] == (
            "max-age=63072000; includeSubDomains")


async def test_metrics_can_require_a_bearer_token(database: str):
    token = secrets.token_urlsafe(32)
    async with _client(settings_for(database, metrics_token=token)) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"authorization": "Bearer nope"})
        not_bearer = await http.get("/metrics", headers={"authorization": f"Basic {token}"})
        right = await http.get("/metrics", headers={"authorization": f"Bearer {token}"})
    for refused in (anonymous, wrong, not_bearer):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "loyalty_uptime_seconds" not in refused.text
        _assert_hardened(refused)
    assert right.status_code == 200 and "loyalty_uptime_seconds" in right.text
    # Without a token configured, /metrics stays open (the shared server's default).
    async with _client(settings_for(database)) as http:
        assert (await http.get("/metrics")).status_code == 200


async def test_a_bug_is_masked_in_production_with_the_requests_id(database: str, monkeypatch):
    """INTERNAL names the request's id, so that support finds it in the log,
    and nothing of the exception."""
    import api.schema
    from tests.conftest import GraphQLClient, sign_up

    async def broken(customer_id: int) -> None:
        raise RuntimeError("internal detail 4471")

    prod = settings_for(database, env="prod", secret_key=secrets.token_urlsafe(48))
    async with _client(prod) as http:
        ida = await sign_up(GraphQLClient(http), "Ida")
        monkeypatch.setattr(api.schema, "load_me", broken)
        auth = {"authorization": f"Bearer {ida.token}"}
        given = await http.post("/graphql", json={"query": "{ me { id } }"},
                                headers={**auth, "x-request-id": "support-case-81"})
        drawn = await http.post("/graphql", json={"query": "{ me { id } }"}, headers=auth)
    for response, rid in ((given, "support-case-81"), (drawn, drawn.headers["x-request-id"])):
        assert response.headers["x-request-id"] == rid
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "INTERNAL"
        assert rid in error["message"]
        assert "4471" not in response.text and "RuntimeError" not in response.text
