"""`seed-demo --customers N`: a realistic programme in bulk, whose ledger
passes `loyalty ledger verify`, with scores and segments computed, once."""

from __future__ import annotations

import asyncio

import pytest

from api.demo import seed_demo
from api.demo_programme import seed_demo_programme
from audience import scores
from loyalty.ledger.balances import verify_ledger
from tests.integration.test_cli import _loyalty
from tests.integration.test_expiry import rows

pytestmark = pytest.mark.usefixtures("database")


async def test_the_demo_programme_is_whole_and_made_once():
    await seed_demo()
    first = await seed_demo_programme(120)
    assert first[0].startswith("demo customers: 120")
    assert (await verify_ledger()).problems == []
    kinds = {r[0] for r in await rows("SELECT DISTINCT kind FROM ledger_transaction")}
    assert {"EARN", "REDEEM"} <= kinds
    channels = {r[0] for r in await rows("SELECT DISTINCT channel FROM purchase")}
    assert channels == {"STORE", "WEB", "APP"}
    names = {r[0] for r in await rows("SELECT DISTINCT name FROM customer_event")}
    assert {"purchase", "product_viewed", "page_viewed", "segment_entered"} <= names
    grid = await scores.rfm_grid()
    assert sum(n for _, _, n in grid) > 50
    matrix = await scores.engagement_matrix()
    assert all(matrix[q] > 0 for q in "ABCD"), matrix
    members = await rows("SELECT COUNT(*) FROM segment_member")
    assert members[0][0] > 0
    live = await rows("SELECT template_key, status, live_version FROM journey ORDER BY id")
    assert [tuple(r) for r in live] == [("durant_post_purchase", "LIVE", 1),
                                        ("welcome_series", "LIVE", 1)]
    again = await seed_demo_programme(120)
    assert again == ["demo customers: 120 already there (nothing added)"]


async def test_the_command_line_takes_a_number_of_customers():
    result = await asyncio.to_thread(_loyalty, "seed-demo", "--customers", "30")
    assert result.returncode == 0, result.stderr
    assert "demo customers: 30" in result.stdout and "demo scores:" in result.stdout
