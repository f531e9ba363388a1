"""Failing requests are logged by request id, operation and code; never with
the query's text, its literals or its variables (a password, a refresh token)."""

from __future__ import annotations

import logging

import httpx
import pytest

SECRET_PASSWORD = "hunter2-literal-never-logged"
SECRET_REFRESH = "refresh-literal-never-logged"


@pytest.fixture
def graphql_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_credentials_in_failing_queries_never_reach_the_log(server, graphql_logs):
    documents = [
        # Fails validation: the whole document is refused.
        ('mutation LogInTypo { logIn(input: {email: "a@example.test", '
         f'password: "{SECRET_PASSWORD}"}}) {{ accessToken nope }} }}', None),
        # Fails in execution, the secret a literal beside a refused field.
        ('mutation Refresh { refreshSession(input: {refreshToken: '
         f'"{SECRET_REFRESH}"}}) {{ accessToken errors {{ code }} }} }}', None),
        # Refused in execution (no token), the secret on the refused field's line.
        ('query Lookup { cardLookup(card: {qrPayload: '
         f'"{SECRET_REFRESH}"}}, storeId: "1") {{ customer {{ firstName }} }} }}', None),
        # The same secrets as variables, with a bad variable beside them.
        ("mutation LogInVars($input: LogInInput!, $n: Int!) { logIn(input: $input) "
         "{ accessToken } }", {"input": {"email": "a@example.test", "password": SECRET_PASSWORD},
                               "n": SECRET_REFRESH}),
        ("query Me { me { id } }", {"password": SECRET_PASSWORD}),
    ]
    async with httpx.AsyncClient(base_url=server.url) as http:
        for index, (query, variables) in enumerate(documents):
            await http.post("/graphql", json={"query": query, "variables": variables},
                            headers={"x-request-id": f"req-{index}"})
    text = graphql_logs.text
    assert SECRET_PASSWORD not in text and SECRET_REFRESH not in text
    # What an operator needs is there: the id, the operation, the code.
    lines = [(r.request_id, r.operation_name, r.code)  # type: ignore[attr-defined]
             for r in graphql_logs.records if r.name == "api.graphql"]
    assert ("req-0", "LogInTypo", "GRAPHQL_VALIDATION_FAILED") in lines, lines
    assert ("req-2", "Lookup", "UNAUTHENTICATED") in lines, lines
    assert ("req-4", "Me", "UNAUTHENTICATED") in lines, lines
    # Expected client errors carry no traceback.
    assert all(r.exc_info is None for r in graphql_logs.records if r.name == "api.graphql")
