"""GraphiQL works with no internet: its assets are the app's own, and in
headless Chromium, with the network limited to 127.0.0.1, the page loads and
runs the home-screen query it opens on.

Debian's chromium, driven by Playwright (never a downloaded browser). Without
chromium the browser test is skipped on a laptop and fails in CI (CI=true):
.ci/run installs it."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from api.graphiql import ASSETS, PREFIX, STATIC
from tests.conftest import CustomerHandle, Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def test_the_committed_assets_are_npms_files():
    """The sums in api/static/graphiql/README.md (scripts/fetch_graphiql.sh)."""
    table = dict(re.findall(r"\| `([^`]+)` \| [^|]+ \| `([0-9a-f]{64})` \|",
                            (STATIC / "README.md").read_text()))
    assert set(table) == set(ASSETS)
    for name, digest in table.items():
        plain = gzip.decompress((STATIC / f"{name}.gz").read_bytes())
        assert hashlib.sha256(plain).hexdigest() == digest, name
    for licence in ("LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom"):
        assert "MIT License" in (STATIC / licence).read_text()


async def test_assets_are_served_gzipped_or_plain(server: Server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        zipped = await http.get(PREFIX + "react.production.min.js",
                                headers={"accept-encoding": "gzip"})
        plain = await http.get(PREFIX + "react.production.min.js",
                               headers={"accept-encoding": "identity"})
        missing = await http.get(PREFIX + "nothing.js")
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx inflates the first
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "immutable" in zipped.headers["cache-control"]
    assert zipped.headers["x-content-type-options"] == "nosniff"
    assert missing.status_code == 404


def _chromium_or_skip() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    else:
        if Path(CHROMIUM).exists():
            return
        reason = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser test")
    pytest.skip(reason)


async def test_graphiql_loads_and_runs_the_home_query_offline(server: Server,
                                                              alice: CustomerHandle):
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    outside: list[str] = []
    page_errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            # No name resolves but the loopback: nothing can leave the machine.
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"])
        try:
            context = await browser.new_context()

            async def only_localhost(route, request) -> None:
                if request.url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:")):
                    await route.continue_()
                else:
                    outside.append(request.url)
                    await route.abort()

            await context.route("**/*", only_localhost)
            page = await context.new_page()
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            await page.goto(server.url + "/graphql", wait_until="load")
            # given: the IDE, open on the home-screen document with its note
            await page.wait_for_selector(".graphiql-container .graphiql-query-editor .CodeMirror",
                                         timeout=20_000)
            query = await page.evaluate(
                "document.querySelector('.graphiql-query-editor .CodeMirror')"
                ".CodeMirror.getValue()")
            assert "Authorization" in query and "alice@demo.test" in query
            assert "history(first: 20)" in query
            # when: the customer's token goes in the headers and the query runs
            await page.evaluate(
                "token => document.querySelectorAll('.graphiql-editor-tool .CodeMirror')"
                ".forEach(e => { if (e.offsetParent !== null) e.CodeMirror.setValue("
                "JSON.stringify({Authorization: 'Bearer ' + token})); })", alice.token)
            await page.click(".graphiql-execute-button")
            # then: the home screen's data, from this server
            await page.wait_for_function(
                "() => { const r = document.querySelector('.result-window .CodeMirror');"
                " return r && r.CodeMirror.getValue().includes('\"firstName\"'); }",
                timeout=20_000)
            result = await page.evaluate(
                "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()")
        finally:
            await browser.close()
    assert '"firstName": "Alice"' in result and '"errors"' not in result, result
    assert alice.card_number in result
    assert outside == [] and page_errors == []
