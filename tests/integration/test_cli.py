"""The `loyalty` command line, run as a real process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.usefixtures("database")


def _loyalty(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DATABASE_URL": DATABASE_URL, "LOYALTY_SCRYPT_LOG_N": "10", **env}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=120)


async def test_serve_refuses_a_default_secret_in_production():
    result = await asyncio.to_thread(_loyalty, "serve", "--port", "1", LOYALTY_ENV="prod")
    assert result.returncode == 2
    assert "LOYALTY_SECRET_KEY" in result.stderr


async def test_create_admin_then_log_in_and_a_second_time_is_refused():
    from loyalty.identity.accounts import staff_log_in

    # The password from the environment, never the command line.
    first = await asyncio.to_thread(_loyalty, "create-admin", "--email", "Root@Shop.test",
                                    LOYALTY_ADMIN_PASSWORD="long enough password")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    session = await staff_log_in(email="root@shop.test", password="long enough password")
    assert session.principal.is_admin
    again = await asyncio.to_thread(_loyalty, "create-admin", "--email", "root@shop.test",
                                    LOYALTY_ADMIN_PASSWORD="long enough password")
    assert again.returncode == 1 and "EMAIL_TAKEN" in again.stderr


async def test_create_admin_still_takes_the_deprecated_password_option_with_a_warning():
    from loyalty.identity.accounts import staff_log_in

    made = await asyncio.to_thread(_loyalty, "create-admin", "--email", "old@shop.test",
                                   "--password", "long enough password")
    assert made.returncode == 0, made.stderr
    assert "--password is deprecated" in made.stderr
    assert (await staff_log_in(email="old@shop.test",
                               password="long enough password")).principal.is_admin


async def test_create_admin_without_a_password_or_a_terminal_says_how():
    result = await asyncio.to_thread(_loyalty, "create-admin", "--email", "x@shop.test")
    assert result.returncode == 1 and "LOYALTY_ADMIN_PASSWORD" in result.stderr


async def test_a_bad_variable_stops_any_command_with_its_name():
    for command in (["serve", "--port", "1"], ["worker"], ["migrate"]):
        result = await asyncio.to_thread(_loyalty, *command, LOYALTY_PENDING_DAYS="ten")
        assert result.returncode == 2, (command, result.stderr)
        assert 'LOYALTY_PENDING_DAYS must be an integer, got "ten"' in result.stderr


async def test_config_prints_the_effective_values_with_secrets_masked():
    result = await asyncio.to_thread(
        _loyalty, "config", LOYALTY_METRICS_TOKEN="metrics-token-value-1234",
        LOYALTY_SECRET_KEY="kR3v-9QzT_wL8mXb2NcYp5HdJ7fGs1Ae4UoVi6", LOYALTY_PENDING_DAYS="3",
        LOYALTY_PENDNG_DAYS="4")
    assert result.returncode == 0, result.stderr
    lines = {line.split("=")[0].strip(): line for line in result.stdout.splitlines()}
    assert "= 3  (set)" in lines["LOYALTY_PENDING_DAYS"]
    assert "= 12  (default)" in lines["LOYALTY_EXPIRY_MONTHS"]
    assert "= ****" in lines["LOYALTY_METRICS_TOKEN"] and "= ****" in lines["LOYALTY_SECRET_KEY"]
    assert "metrics-token-value-1234" not in result.stdout and "kR3v" not in result.stdout
    assert "LOYALTY_PENDNG_DAYS is not a variable" in result.stderr


async def test_seed_demo_prints_log_ins_and_is_idempotent():
    from loyalty.models import Customer, Staff, Store

    first = await asyncio.to_thread(_loyalty, "seed-demo")
    second = await asyncio.to_thread(_loyalty, "seed-demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert "cashier@demo.test" in first.stdout and "alice@demo.test" in first.stdout
    assert await Store.all().count() == 1
    assert await Staff.all().count() == 2
    assert await Customer.all().count() == 1
    # a small programme to try, made once
    from loyalty.models import EarnRule, Offer, Reward, Tier

    assert "demo programme: tiers" in first.stdout
    assert "demo programme" not in second.stdout
    assert [await m.all().count() for m in (Tier, EarnRule, Reward, Offer)] == [3, 4, 1, 1]


async def test_config_says_what_serve_would_refuse_and_migrate_needs_no_secret():
    refused = await asyncio.to_thread(_loyalty, "config", LOYALTY_ENV="prod")
    assert refused.returncode == 2 and "LOYALTY_SECRET_KEY" in refused.stderr
    assert "LOYALTY_ENV" in refused.stdout  # the values are printed first
    migrated = await asyncio.to_thread(_loyalty, "migrate", LOYALTY_ENV="prod")
    assert migrated.returncode == 0, migrated.stderr
