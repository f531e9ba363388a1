"""`loyalty serve`'s log in production form: JSON lines, one per request and
one per error, each with the request's id; client errors without a
traceback; no secret, literal or token anywhere."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from api.fast_home import HOME_DOCUMENT
from tests.conftest import DATABASE_URL, PASSWORD
from tests.integration.serve_process import start, stop, wait_healthy

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  accessToken errors { code } } }"""
SECRET = "literal-secret-password-9931"


async def test_one_request_can_be_followed_through_the_json_log_by_its_id(database):
    server = await start(DATABASE_URL, LOYALTY_LOG_FORMAT="json")
    try:
        await wait_healthy(server)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            signed = (await http.post("/graphql", json={"query": SIGN_UP, "variables": {
                "input": {"email": "logs@example.test", "password": PASSWORD,
                          "firstName": "Log"}}})).json()["data"]["signUp"]
            token = signed["accessToken"]
            # when: the home screen, then a failing log-in with a literal password
            home = await http.post("/graphql", json={"query": HOME_DOCUMENT},
                                   headers={"authorization": f"Bearer {token}",
                                            "x-request-id": "trace-home-1"})
            assert home.headers["x-request-id"] == "trace-home-1"
            failing = await http.post("/graphql", headers={"x-request-id": "trace-fail-2"},
                                      json={"query": 'mutation Typo { logIn(input: {email: '
                                            f'"x@example.test", password: "{SECRET}"}}) '
                                            "{ nope } }"})
            assert failing.status_code in (200, 400)
        # A request's line is written as its response ends: wait for the last one.
        deadline = time.monotonic() + 10
        while not any('"trace-fail-2"' in line and '"event":"request"' in line
                      for line in server.output(None).splitlines()):
            assert time.monotonic() < deadline, server.output()
            await asyncio.sleep(0.05)
        output = server.output(None)
    finally:
        await stop(server)
    lines = [line for line in output.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    # then: every line of the log is JSON
    assert len(lines) == len([line for line in output.splitlines() if line.strip()]), output
    by_id = {rid: [e for e in events if e.get("request_id") == rid]
             for rid in ("trace-home-1", "trace-fail-2")}
    (home_line,) = by_id["trace-home-1"]
    assert home_line["event"] == "request" and home_line["level"] == "info"
    assert home_line["status"] == 200 and home_line["operation"] == "me"
    assert home_line["principal"] == "customer" and isinstance(home_line["principal_id"], int)
    assert home_line["method"] == "POST" and home_line["path"] == "/graphql"
    assert home_line["duration_ms"] > 0 and "timestamp" in home_line
    # the failing request: its error and its request, no traceback
    kinds = sorted(e["event"] for e in by_id["trace-fail-2"])
    assert kinds == ["graphql error", "request"], by_id["trace-fail-2"]
    error = next(e for e in by_id["trace-fail-2"] if e["event"] == "graphql error")
    assert error["code"] == "GRAPHQL_VALIDATION_FAILED" and error["operation_name"] == "Typo"
    assert "exception" not in error
    # nothing secret: no literal, no password, no token
    assert SECRET not in output and PASSWORD not in output and token not in output
