"""RFM and ABCD scores computed in SQL: quintiles with ties sharing a score,
the segment map, the engagement quadrants, and the grid and matrix counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from audience import jobs, scores, segments
from audience.config import AudienceSettings, set_audience_settings
from audience.events import EventIn, track_events
from audience.scope import EVERYONE
from loyalty.platform.sql import execute
from tests.integration.test_expiry import buy, customer, rows, store

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime.now(UTC)


def test_the_segment_map_covers_the_grid_as_the_issue_states():
    grid = scores.rfm_segment_of()
    assert len(grid) == 25
    expect = {
        (5, 5): "CHAMPIONS", (5, 4): "CHAMPIONS", (4, 5): "LOYAL", (3, 4): "LOYAL",
        (5, 3): "POTENTIAL_LOYALISTS", (4, 2): "POTENTIAL_LOYALISTS", (5, 1): "NEW",
        (4, 1): "PROMISING", (3, 3): "NEED_ATTENTION", (3, 2): "ABOUT_TO_SLEEP",
        (3, 1): "ABOUT_TO_SLEEP", (2, 3): "AT_RISK", (1, 4): "AT_RISK", (1, 5): "CANT_LOSE",
        (2, 5): "CANT_LOSE", (2, 2): "HIBERNATING", (2, 1): "HIBERNATING",
        (1, 2): "HIBERNATING", (1, 1): "LOST",
    }
    assert {k: grid[k] for k in expect} == expect


async def _buyers(count: int) -> list[int]:
    """Customer i bought i + 1 times, the last time (count - i) days ago, for
    (i + 1) * 10 EUR each."""
    shop = await store()
    ids = []
    for i in range(count):
        holder = await customer(f"c{i}@example.test")
        for n in range(i + 1):
            await buy(holder, shop, (i + 1) * 10, key=f"c{i}-{n}")
        await execute(connections.get("default"),
                      "UPDATE purchase SET occurred_at = $1 WHERE customer_id = $2",
                      NOW - timedelta(days=count - i), holder.customer_id)
        ids.append(holder.customer_id)
    return ids


async def test_quintiles_over_the_buying_customers():
    ids = await _buyers(10)
    done = await scores.recompute(NOW)
    assert done.scored == 10
    found = await scores.scores_of(ids)
    # two customers per quintile, the most recent, frequent and generous scoring 5
    assert [found[i].recency for i in ids] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [found[i].frequency for i in ids] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [found[i].monetary for i in ids] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [found[i].segment for i in ids] == [
        "LOST", "LOST", "HIBERNATING", "HIBERNATING", "NEED_ATTENTION", "NEED_ATTENTION",
        "LOYAL", "LOYAL", "CHAMPIONS", "CHAMPIONS"]
    assert all(found[i].engagement == "D" for i in ids)  # bought, never clicked
    grid = {(r, f): n for r, f, n in await scores.rfm_grid()}
    assert len(grid) == 25 and sum(grid.values()) == 10
    assert grid[(5, 5)] == 2 and grid[(1, 1)] == 2 and grid[(5, 1)] == 0


async def test_equal_values_share_a_score():
    shop = await store()
    ids = []
    for i in range(5):
        holder = await customer(f"c{i}@example.test")
        await buy(holder, shop, 10, key=f"k{i}")  # same frequency and spend for all
        ids.append(holder.customer_id)
    await scores.recompute(NOW)
    found = await scores.scores_of(ids)
    assert {found[i].frequency for i in ids} == {5}
    assert {found[i].monetary for i in ids} == {5}


async def test_engagement_quadrants_and_the_window():
    shop = await store()
    clicker, both, idle, buyer = [await customer(f"{n}@example.test")
                                  for n in ("clicker", "both", "idle", "buyer")]
    await buy(both, shop, 10, key="b")
    await buy(buyer, shop, 10, key="d")
    for who in (clicker, both):
        await track_events([EventIn(f"o-{who.customer_id}", "push_opened",
                                    NOW - timedelta(days=1), "APP")],
                           customer_id=who.customer_id, now=NOW)
    # an open from long ago does not count
    set_audience_settings(AudienceSettings(events_max_age_days=200))
    await track_events([EventIn("old", "email_clicked", NOW - timedelta(days=120), "WEB")],
                       customer_id=idle.customer_id, now=NOW)
    set_audience_settings(AudienceSettings())
    await scores.recompute(NOW)
    found = await scores.scores_of([c.customer_id for c in (clicker, both, idle, buyer)])
    assert [found[c.customer_id].engagement if c.customer_id in found else None
            for c in (clicker, both, idle, buyer)] == ["A", "B", None, "D"]
    assert found[clicker.customer_id].recency is None  # engaged, never bought
    assert await scores.engagement_matrix() == {"A": 1, "B": 1, "C": 1, "D": 1}


async def test_an_inbox_message_read_counts_as_a_click():
    alice = await customer("alice@example.test")
    await execute(connections.get("default"),
                  "INSERT INTO notification (customer_id, kind, marketing, title, body, status, "
                  "attempts, created_at, read_at) VALUES ($1, 'campaign.message', $2, 't', 'b', "
                  "'inbox', 0, $3, $4)", alice.customer_id, True, NOW, NOW)
    await scores.recompute(NOW)
    assert (await scores.scores_of([alice.customer_id]))[alice.customer_id].engagement == "A"


async def test_a_customer_who_stops_buying_loses_the_score_and_segments_follow():
    ids = await _buyers(5)
    champions = await segments.create_segment(name="champions", description=None,
                                              definition={"rfm": ["CHAMPIONS"]}, staff_id=None)
    done, _ = await jobs.recompute_now(NOW)
    assert done.scored == 5
    assert {r[0] for r in await rows("SELECT customer_id FROM segment_member")} == {ids[-1]}
    # a year later nobody bought: scores go, and so does the segment's member
    later = NOW + timedelta(days=400)
    done, changes = await jobs.recompute_now(later)
    assert (done.scored, done.removed) == (0, 5)
    assert changes.exited == 1 and await rows("SELECT customer_id FROM segment_member") == []
    assert await segments.member_counts([champions.id], scope=EVERYONE) == {champions.id: 0}


async def test_the_job_runs_once_per_interval():
    await _buyers(2)
    assert await jobs.recompute_scores(NOW) == 2
    assert await jobs.recompute_scores(NOW + timedelta(minutes=1)) == 0
    assert await jobs.recompute_scores(NOW + timedelta(hours=1, seconds=1)) == 2


async def test_the_command_line_recomputes_scores_and_every_segment():
    import asyncio

    from tests.integration.test_cli import _loyalty

    ids = await _buyers(5)
    await segments.create_segment(name="buyers", description=None,
                                  definition={"purchases": {"gte": 1}}, staff_id=None)
    result = await asyncio.to_thread(_loyalty, "audience", "recompute", "--window-days", "30")
    assert result.returncode == 0, result.stderr
    assert "scores: 5 customers scored, 0 removed" in result.stdout
    assert "segments: 1 refreshed, 5 entered, 0 exited" in result.stdout
    assert len(await scores.scores_of(ids)) == 5
    bad = await asyncio.to_thread(_loyalty, "audience", "recompute", "--window-days", "0")
    assert bad.returncode == 1 and "rfmWindowDays" in bad.stderr
