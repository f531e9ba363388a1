"""Security headers on every HTTP response, refusals and 404s included.

The API answers JSON and text to apps and tills, never pages, so its Content
Security Policy allows nothing at all. The one page there is, GraphiQL
outside production, gets a policy derived from its own HTML (api/graphiql.py):
where it loads scripts and style sheets from (the app itself, 'self'; an
https origin if the page ever names one), and its inline script by hash, so
that a change to the page cannot silently break it or widen what it may run.
"""

from __future__ import annotations

import base64
import hashlib
import re

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Two years, subdomains too: what the HSTS preload list asks for. Only in
# production, which is served over TLS; a laptop on plain HTTP must not be
# told to refuse it for two years.
HSTS = "max-age=63072000; includeSubDomains"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_SCRIPT_ORIGIN = re.compile(r'<script[^>]*?\ssrc="(https://[^"/]+/|/)')
_STYLE_ORIGIN = re.compile(r'<link[^>]*?\shref="(https://[^"/]+/|/)')


def _sources(pattern: re.Pattern[str], html: str) -> list[str]:
    """Where the page loads from: an https origin, or the app itself ('self')."""
    found = {"'self'" if m == "/" else m.rstrip("/") for m in pattern.findall(html)}
    return sorted(found)


def page_csp(html: str) -> str:
    """A policy for the GraphiQL page `html`. Styles stay 'unsafe-inline': the
    page has a <style> block and React sets style attributes, and a style
    cannot run code."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    ]
    scripts = _sources(_SCRIPT_ORIGIN, html)
    styles = _sources(_STYLE_ORIGIN, html)
    return "; ".join([
        "default-src 'none'",
        "script-src " + " ".join([*scripts, *hashes]),
        "style-src " + " ".join([*styles, "'unsafe-inline'"]),
        # Its fonts come with its style sheets; its icon is a data: URL.
        "font-src " + " ".join([*styles, "data:"]),
        "img-src 'self' data:",
        # Queries over HTTP, subscriptions over WebSocket, to this origin only.
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])


class SecurityHeaders:
    """The headers every HTTP response gets (api/edge.py adds them as the
    response starts): each one the response lacks."""

    def __init__(self, *, hsts: bool, page_csp: str | None = None) -> None:
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            *([(b"strict-transport-security", HSTS.encode())] if hsts else []),
        ]
        self.api_headers = [*common, (b"content-security-policy", API_CSP.encode())]
        self.page_headers = [*common, (b"content-security-policy",
                                       (page_csp or API_CSP).encode())]

    def add_to(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Append to `headers` (a response's, in place) each one it lacks."""
        present = {name.lower() for name, _ in headers}
        is_page = any(name.lower() == b"content-type" and value.startswith(b"text/html")
                      for name, value in headers)
        extra = self.page_headers if is_page else self.api_headers
        headers.extend(h for h in extra if h[0] not in present)
