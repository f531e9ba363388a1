"""One list of environment variables: each setting has one, a bad value is
refused with its name and what was expected, the README shows the list."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from loyalty.platform.config import ConfigError, Settings, load_settings
from loyalty.platform.environment import BY_NAME, VARIABLES, markdown_table, masked, unknown
from notifications.policy import Policy, load_policy

README = Path(__file__).resolve().parents[2] / "README.md"
# Settings that code and tests set, not operators.
CODE_ONLY: set[str] = set()


def test_every_setting_and_policy_field_has_one_variable():
    settings = {f.name for f in dataclasses.fields(Settings)}
    policy = {f.name for f in dataclasses.fields(Policy)}
    named = {(v.owner, v.field) for v in VARIABLES}
    assert len(named) == len(VARIABLES)
    assert {f for o, f in named if o == "settings"} == settings - CODE_ONLY
    assert {f for o, f in named if o == "policy"} == policy


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LOYALTY_PENDING_DAYS", "ten", 'LOYALTY_PENDING_DAYS must be an integer, got "ten"'),
    ("LOYALTY_PENDING_DAYS", "1.5", 'LOYALTY_PENDING_DAYS must be an integer, got "1.5"'),
    ("LOYALTY_PENDING_DAYS", "-1", 'LOYALTY_PENDING_DAYS must be at least 0, got "-1"'),
    ("LOYALTY_WORKER_POLL_SECONDS", "nan", 'LOYALTY_WORKER_POLL_SECONDS must be a number, '
                                           'got "nan"'),
    ("LOYALTY_POINTS_PER_UNIT", "one", 'LOYALTY_POINTS_PER_UNIT must be a decimal number, '
                                       'got "one"'),
    ("LOYALTY_INTROSPECTION", "maybe", 'LOYALTY_INTROSPECTION must be 1 or 0, got "maybe"'),
    ("LOYALTY_ENV", "production", 'LOYALTY_ENV must be one of dev, test, prod, '
                                  'got "production"'),
    ("LOYALTY_LOG_FORMAT", "xml", 'LOYALTY_LOG_FORMAT must be one of json, console, '
                                  'got "xml"'),
    ("LOYALTY_MAX_BODY_BYTES", "0", 'LOYALTY_MAX_BODY_BYTES must be at least 1, got "0"'),
])
def test_a_bad_value_is_refused_with_its_name_and_what_was_expected(name, value, message):
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert str(refused.value) == message


def test_the_workers_policy_is_parsed_by_the_same_rules():
    with pytest.raises(ConfigError, match='LOYALTY_MARKETING_DAILY_CAP must be an integer, '
                                          'got "three"'):
        load_policy({"LOYALTY_MARKETING_DAILY_CAP": "three"})
    assert load_policy({"LOYALTY_MARKETING_DAILY_CAP": " 7 "}).marketing_daily_cap == 7


def test_values_parse_to_their_settings():
    settings = load_settings({"LOYALTY_ENV": "prod", "LOYALTY_LOG_LEVEL": "warning",
                              "LOYALTY_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
                              "LOYALTY_POINTS_PER_UNIT": "2.5", "LOYALTY_METRICS_TOKEN": "",
                              "LOYALTY_READ_TIMEOUT_SECONDS": "2.5"})
    assert settings.env == "prod" and settings.log_level == "WARNING" and settings.log_json
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")
    assert str(settings.points_per_unit) == "2.5" and settings.read_timeout_seconds == 2.5
    assert settings.metrics_token is None  # empty means unset


def test_misspelt_variables_are_found():
    assert unknown({"LOYALTY_PENDNG_DAYS": "1", "LOYALTY_PENDING_DAYS": "1", "HOME": "/"}) == [
        "LOYALTY_PENDNG_DAYS"]


def test_secrets_are_masked():
    url = masked(BY_NAME["DATABASE_URL"], "postgres://app:s3cret@db:5432/loyalty")
    assert url == "postgres://app:****@db:5432/loyalty"
    assert masked(BY_NAME["LOYALTY_METRICS_TOKEN"], "tok-123") == "****"
    assert "s3cret" not in masked(BY_NAME["LOYALTY_SECRET_KEY"], "s3cret")


def test_the_readme_lists_every_variable_as_the_list_does():
    assert markdown_table() in README.read_text(), (
        "README's configuration table differs: paste `loyalty config --markdown` into it")
