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
    from loyalty.identity import staff_log_in

    first = await asyncio.to_thread(_loyalty, "create-admin", "--email", "Root@Shop.test",
                                    "--password", "long enough password")
    assert first.returncode == 0, first.stderr
    session = await staff_log_in(email="root@shop.test", password="long enough password")
    assert session.principal.is_admin
    again = await asyncio.to_thread(_loyalty, "create-admin", "--email", "root@shop.test",
                                    "--password", "long enough password")
    assert again.returncode == 1 and "EMAIL_TAKEN" in again.stderr


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
