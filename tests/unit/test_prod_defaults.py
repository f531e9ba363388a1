"""Production defaults: no introspection and no "Did you mean" unless asked
for, and a secret key that is really random."""

from __future__ import annotations

import secrets

import pytest

from api.context import Context
from api.schema import build_schema
from loyalty.platform.config import DEFAULT_SECRET_KEY, ConfigError, Settings, load_settings

SECRET = secrets.token_urlsafe(48)
PROD = Settings(env="prod", secret_key=SECRET)
INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Customer") { fields { name } } }',
]
# A misspelt field, and a misspelt enum value in a variable (checked when the
# variables are coerced, after validation).
MISSPELT_FIELD = "{ me { firstNam } }"
MISSPELT_ENUM = ("mutation($i: CreateStaffInput!) { createStaff(input: $i) { errors { code } } }",
                 {"i": {"email": "a@b.test", "password": "x", "role": "CASHEIR"}})


def _context() -> Context:
    return Context(request=None, response=None)


async def _messages(settings: Settings, query: str, variables: dict | None = None
                    ) -> list[tuple[str, str]]:
    result = await build_schema(settings).execute(query, variable_values=variables,
                                                  context_value=_context())
    return [(e.message, (e.extensions or {}).get("code")) for e in result.errors or []]


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_is_refused_in_production(query):
    errors = await _messages(PROD, query)
    # One error per introspection field (__schema, then its queryType).
    assert errors and {code for _, code in errors} == {"GRAPHQL_VALIDATION_FAILED"}
    assert all("introspection has been disabled" in message for message, _ in errors)
    # __typename is not introspection of the schema: clients need it.
    assert await _messages(PROD, "{ __typename }") == []


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_stays_on_in_dev_and_can_be_turned_on_in_production(query):
    assert await _messages(Settings(env="dev"), query) == []
    assert await _messages(Settings(env="test"), query) == []
    prod_on = load_settings({"LOYALTY_ENV": "prod", "LOYALTY_SECRET_KEY": SECRET,
                             "LOYALTY_INTROSPECTION": "1"})
    assert await _messages(prod_on, query) == []
    dev_off = load_settings({"LOYALTY_ENV": "dev", "LOYALTY_INTROSPECTION": "0"})
    refused = await _messages(dev_off, query)
    assert refused and {code for _, code in refused} == {"GRAPHQL_VALIDATION_FAILED"}


async def test_no_suggestions_of_field_names_in_production():
    [(message, code)] = await _messages(PROD, MISSPELT_FIELD)
    assert code == "GRAPHQL_VALIDATION_FAILED"
    assert "firstNam" in message and "Did you mean" not in message
    [(dev_message, _)] = await _messages(Settings(env="dev"), MISSPELT_FIELD)
    assert "Did you mean 'firstName'?" in dev_message


async def test_no_suggestions_of_enum_values_in_production():
    [(message, code)] = await _messages(PROD, *MISSPELT_ENUM)
    assert code == "INVALID_INPUT"
    assert "CASHEIR" in message and "Did you mean" not in message
    [(dev_message, _)] = await _messages(Settings(env="dev"), *MISSPELT_ENUM)
    assert "Did you mean the enum value 'CASHIER'?" in dev_message


@pytest.mark.parametrize(("secret", "why"), [
    (DEFAULT_SECRET_KEY, "default"),
    ("short-but-random-Xq9", "32"),
    ("x" * 40, "distinct"),
    ("abcd" * 10, "distinct"),
    ("0123456789abcdef" * 3, "repeat"),
    ("correct horse battery staple and some more words", "whitespace"),
    (SECRET[:30] + "\n" + SECRET[30:], "whitespace"),
])
def test_a_weak_secret_is_refused_in_production(secret, why):
    with pytest.raises(ConfigError, match=why):
        Settings(env="prod", secret_key=secret).check()
    Settings(env="dev", secret_key=secret).check()  # a laptop may use anything


@pytest.mark.parametrize("secret", [
    secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_hex(32),
    secrets.token_hex(16) + "Zz",
])
def test_a_random_secret_is_accepted_in_production(secret):
    Settings(env="prod", secret_key=secret).check()
