"""A customer's runs as the staff 360 view shows them (CustomerProfile.journeys):
every run of every journey, newest first, for a page of customers in one
statement (the (customer_id, waiting_event) index finds a customer's runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from loyalty.platform.sql import as_datetime, fetch, placeholders

# A customer's runs shown at most; a customer re-entering a journey every
# week for years would otherwise make one profile unbounded.
MAX_RUNS = 100


@dataclass(frozen=True)
class CustomerRun:
    id: int
    journey_id: int
    journey_name: str
    status: str  # journeys.run.Status: lower case
    current_step: str | None
    arm: str | None
    entered_at: datetime


async def runs_of(customer_ids: list[int]) -> dict[int, list[CustomerRun]]:
    """Each customer's runs, newest entry first (the run's id breaks ties)."""
    found: dict[int, list[CustomerRun]] = {i: [] for i in customer_ids}
    if not customer_ids:
        return found
    marks = placeholders(len(customer_ids))
    rows = await fetch(
        connections.get("default"),
        "SELECT r.customer_id, r.id, r.journey_id, j.name, r.status, r.step, r.arm, "
        "r.entered_at FROM journey_run r JOIN journey j ON j.id = r.journey_id "
        f"WHERE r.customer_id IN ({marks}) ORDER BY r.customer_id, r.entered_at DESC, r.id DESC",
        *customer_ids,
    )
    for customer_id, run_id, journey_id, name, status, step, arm, entered in rows:
        runs = found[int(customer_id)]
        if len(runs) < MAX_RUNS:
            runs.append(CustomerRun(int(run_id), int(journey_id), name, str(status).lower(),
                                    step, arm, as_datetime(entered)))
    return found
