"""GraphiQL (outside production) with no internet: its page and assets are the
app's own, at pinned versions (api/static/graphiql/, from npm by
scripts/fetch_graphiql.sh), where Strawberry's page loads them from a CDN and
shows "Loading..." for ever offline.

The page opens on the app's home-screen document, with a note on the
`Authorization: Bearer` header and the demo log-ins. Assets are served as
committed, gzipped, under a path that names their version, so that a browser
may keep them for good.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

from graphql import parse, print_ast
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.demo import DEMO_PASSWORD
from api.fast_home import HOME_DOCUMENT

VERSION = "3.8.3"  # graphiql's; scripts/fetch_graphiql.sh pins React beside it
STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = f"/graphiql/{VERSION}/"
ASSETS = {
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
}


NOTE = f"""# The app's home screen: the document the app sends most (api/fast_home.py).
#
# It needs a customer's access token, in the Headers tab below:
#   {{"Authorization": "Bearer <accessToken>"}}
# Get one with logIn, in a new tab (+). The demo customer that
# `loyalty serve --demo` (./scripts/serve.sh) seeds and prints:
#   mutation {{ logIn(input: {{email: "alice@demo.test", password: "{DEMO_PASSWORD}"}})
#     {{ accessToken refreshToken }} }}
# Staff log in with staffLogIn: admin@demo.test and cashier@demo.test, same password.
# Tokens last LOYALTY_ACCESS_TOKEN_SECONDS (15 min); refreshSession makes new ones.
#
# Run: Ctrl-Enter, or the pink button.
"""
HEADERS = '{\n  "Authorization": "Bearer <paste the accessToken of logIn>"\n}'

_SCRIPT = """
const url = location.origin + location.pathname;
const fetcher = GraphiQL.createFetcher({
  url, subscriptionUrl: url.replace(/^http/, "ws"),
});
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: %s,
    defaultHeaders: %s,
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: false,
  }),
);
"""


@lru_cache(maxsize=1)
def page_html() -> str:
    """The page; its inline script is hashed into its CSP (api/security_headers.py)."""
    document = NOTE + print_ast(parse(HOME_DOCUMENT)) + "\n"
    script = _SCRIPT % (json.dumps(document), json.dumps(HEADERS))
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Loyalty API · GraphiQL</title>
    <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
    <link rel="stylesheet" href="{PREFIX}graphiql.min.css">
    <script src="{PREFIX}react.production.min.js"></script>
    <script src="{PREFIX}react-dom.production.min.js"></script>
    <script src="{PREFIX}graphiql.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script>{script}</script>
  </body>
</html>
"""


@lru_cache(maxsize=len(ASSETS))
def _compressed(name: str) -> bytes:
    return (STATIC / f"{name}.gz").read_bytes()


@lru_cache(maxsize=len(ASSETS))
def _plain(name: str) -> bytes:
    return gzip.decompress(_compressed(name))


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response(status_code=404)
    headers = {"cache-control": "public, max-age=31536000, immutable",
               "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(_compressed(name), media_type=media_type, headers=headers)
    return Response(_plain(name), media_type=media_type, headers=headers)


routes = [Route(PREFIX + "{name}", asset)]
