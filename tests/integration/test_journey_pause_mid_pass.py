"""Pausing a journey while a worker's pass is advancing its runs: the pause
waits for the pass, and holds the messages the pass queued; none goes out
while the journey is paused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from journeys import runner
from journeys.service import pause_journey, publish_journey
from notifications.outgoing import HELD
from tests.integration.journey_support import EXIT, NOW, customer, event, live, message, notes

pytestmark = pytest.mark.usefixtures("database")

WAIT_THEN_HELLO = {
    "trigger": {"event": "visit"},
    "start": "wait",
    "steps": {"wait": {"type": "wait", "duration": "PT1H", "next": "hello"},
              "hello": message("Hello {{ customer.first_name }}", "end"),
              "end": EXIT},
}


@pytest.fixture(autouse=True)
def fresh_definitions():
    runner.forget_definitions()
    yield
    runner.forget_definitions()


async def test_a_pause_during_a_pass_holds_the_messages_that_pass_queues(monkeypatch):
    journey = await live(WAIT_THEN_HELLO)
    ann = await customer("Ann", opt_in=True)
    await event(ann, "visit")
    await runner.advance_due(NOW, 100)  # nothing due yet
    from journeys.worker import run_until_idle

    await run_until_idle(NOW)  # Ann enters and waits an hour
    assert await notes(ann) == []

    # A pass that stops once it has claimed Ann's run and read the statuses.
    reached, go_on = asyncio.Event(), asyncio.Event()
    advance = runner._advance_records

    async def gated(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        await go_on.wait()
        return await advance(*args, **kwargs)

    monkeypatch.setattr(runner, "_advance_records", gated)
    when = NOW + timedelta(hours=2)
    in_flight = asyncio.create_task(runner.advance_due(when, 100))
    await asyncio.wait_for(reached.wait(), 10)

    pausing = asyncio.create_task(pause_journey(journey, when))
    await asyncio.sleep(0.5)
    paused_mid_pass = pausing.done()
    go_on.set()
    assert (await asyncio.wait_for(in_flight, 10)).runs == 1
    await asyncio.wait_for(pausing, 10)

    # The pause waited for the pass, then held what it queued.
    assert not paused_mid_pass
    (hello,) = await notes(ann)
    assert hello.body == "Hello Ann"
    assert (hello.reason, hello.next_attempt_at) == (HELD, None)

    # Published again, the message goes out.
    await publish_journey(journey, when)
    (hello,) = await notes(ann)
    assert hello.reason is None and hello.next_attempt_at == when
