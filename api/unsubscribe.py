"""`/unsubscribe`: where a marketing email's unsubscribe link leads.

GET shows a confirmation page and changes nothing (mail scanners open links
to check them; a visit must not unsubscribe anyone); its button POSTs back.
POST unsubscribes: from that page, or straight from the mail client (RFC 8058
one-click: `List-Unsubscribe-Post: List-Unsubscribe=One-Click` POSTs to the
link itself). The token is the link's (notifications/unsubscribe.py), in the
query string or the form."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from loyalty.errors import DomainError
from notifications.unsubscribe import customer_of, unsubscribe_email

# This page's own policy: inline style, and a form that posts to itself.
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
_FORM_BYTES = 4096


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}"
        "</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(document, status_code=status,
                        headers={"content-security-policy": _CSP, "cache-control": "no-store"})


_INVALID = ("This link is not valid", "<p>Open the link from the email again, or change your "
            "preferences in the app.</p>")


async def _token(request: Request) -> str:
    token = request.query_params.get("token", "")
    if token or request.method != "POST":
        return token
    body = await request.body()
    if len(body) > _FORM_BYTES:
        return ""
    values = parse_qs(body.decode("utf-8", "replace"))
    return (values.get("token") or [""])[0]


async def unsubscribe(request: Request) -> Response:
    token = await _token(request)
    if request.method == "GET":
        if customer_of(token) is None:
            return _page(*_INVALID, status=400)
        return _page("Unsubscribe from our emails?", (
            "<p>You will no longer receive offers by email. Messages about your account "
            "still reach you.</p>"
            '<form method="post" action="unsubscribe">'
            f'<input type="hidden" name="token" value="{html.escape(token)}">'
            '<button type="submit">Unsubscribe</button></form>'))
    try:
        await unsubscribe_email(token)
    except DomainError:
        return _page(*_INVALID, status=400)
    return _page("You are unsubscribed", "<p>You will no longer receive offers by email. "
                 "You can turn them on again in the app's preferences.</p>")


routes = [Route("/unsubscribe", unsubscribe, methods=["GET", "POST"])]
