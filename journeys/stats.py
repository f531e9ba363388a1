"""What journeys did: runs per status and customers per step (`stats`), and
the experiment report per arm against the holdout (`experiment`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tortoise import connections

from journeys.experiments import HOLDOUT, ArmCounts, ArmReport, report
from journeys.run import Status
from journeys.service import json_value
from loyalty.platform.sql import fetch, placeholders

# The arm of runs that are in no split and not in the holdout: the journey itself.
TREATMENT = "journey"


@dataclass(frozen=True)
class JourneyStats:
    entered: int
    active: int
    completed: int
    converted: int
    exited: int
    failed: int
    by_step: dict[str, int]


async def journey_stats(ids: Iterable[int]) -> dict[int, JourneyStats]:
    """Runs per status and the customers at each step now, per journey (two
    grouped statements over journey_run's (journey_id, status, step) index)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = placeholders(len(wanted))
    conn = connections.get("default")
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for r in await fetch(conn, "SELECT journey_id, status, COUNT(*) FROM journey_run "
                         f"WHERE journey_id IN ({marks}) GROUP BY journey_id, status", *wanted):
        counts[int(r[0])][r[1]] = int(r[2])
    steps: dict[int, dict[str, int]] = defaultdict(dict)
    n = len(wanted)
    for r in await fetch(conn, "SELECT journey_id, step, COUNT(*) FROM journey_run "
                         f"WHERE journey_id IN ({marks}) AND status IN (${n + 1}, ${n + 2}) "
                         "GROUP BY journey_id, step ORDER BY journey_id, step",
                         *wanted, Status.ACTIVE.value, Status.WAITING.value):
        steps[int(r[0])][r[1]] = int(r[2])
    out = {}
    for j in wanted:
        c = counts.get(j, {})
        out[j] = JourneyStats(
            entered=sum(c.values()),
            active=c.get(Status.ACTIVE, 0) + c.get(Status.WAITING, 0),
            completed=c.get(Status.COMPLETED, 0), converted=c.get(Status.CONVERTED, 0),
            exited=c.get(Status.EXITED, 0), failed=c.get(Status.FAILED, 0),
            by_step=dict(steps.get(j, {})))
    return out


def _has_experiment(definitions: Iterable[Any]) -> bool:
    for raw in definitions:
        if not isinstance(raw, dict):
            continue
        if raw.get("holdoutPercent"):
            return True
        steps = raw.get("steps")
        if isinstance(steps, dict) and any(
                isinstance(v, dict) and v.get("type") == "split" for v in steps.values()):
            return True
    return False


async def experiment_report(journey_id: int) -> list[ArmReport] | None:
    """Per arm (and the holdout): customers who entered, how many reached the
    goal, their purchases (net of refunds) since they first entered, uplift
    against the holdout and its p-value. None for a journey with no split and
    no holdout in any version."""
    conn = connections.get("default")
    versions = await fetch(conn, "SELECT definition FROM journey_version WHERE journey_id = $1",
                           journey_id)
    if not _has_experiment(json_value(r[0]) for r in versions):
        return None
    # A customer is counted once per arm: their first entry into it, and
    # converted if any of their runs in that arm converted.
    rows = await fetch(
        conn,
        # Placeholders in order of appearance (SQLite binds them so).
        "WITH runs AS (SELECT COALESCE(arm, $1) AS arm, customer_id, MIN(entered_at) AS since, "
        "MAX(CASE WHEN status = $2 THEN 1 ELSE 0 END) AS converted FROM journey_run "
        "WHERE journey_id = $3 GROUP BY 1, 2) "
        "SELECT runs.arm, COUNT(*), SUM(runs.converted), "
        "COALESCE(SUM((SELECT SUM(p.total_minor - p.refunded_minor) FROM purchase p "
        "WHERE p.customer_id = runs.customer_id AND p.occurred_at >= runs.since)), 0) "
        "FROM runs GROUP BY runs.arm ORDER BY runs.arm",
        TREATMENT, Status.CONVERTED.value, journey_id)
    counts = [ArmCounts(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]
    # The holdout last, as reports usually show the control.
    counts.sort(key=lambda c: (c.name == HOLDOUT, c.name))
    return report(counts)
