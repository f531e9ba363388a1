"""Journeys' tables on the real database: a run stored as the step machine
returned it reads back equal, and the unique keys refuse a doubled entry or
a doubled message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise.exceptions import IntegrityError

from journeys.definition import parse_definition
from journeys.engine import advance, enter
from journeys.models import Journey, JourneyMessage, JourneyRun, JourneyStatus, JourneyVersion
from journeys.rows import row_values, state_of
from journeys.run import Facts, SendMessage, Status
from journeys.templates import template
from loyalty.identity import accounts as identity
from tests.conftest import PASSWORD
from tests.unit.journey_walk import PARIS, never
from wallet.cards import issue_card

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2030, 5, 6, 8, 0, tzinfo=UTC)
PURCHASE = {"channel": "WEB", "storeId": "9", "receiptId": "W-1001"}


async def _durant() -> tuple[Journey, int]:
    await identity.sign_up(email="durant@example.com", password=PASSWORD, first_name="Jean",
                           issue_card=issue_card)
    from loyalty.models import Customer

    customer = await Customer.get(email="durant@example.com")
    shipped = template("durant_post_purchase")
    assert shipped is not None
    journey = await Journey.create(name=shipped.name, status=JourneyStatus.LIVE, live_version=1,
                                   template_key=shipped.key)
    await JourneyVersion.create(journey=journey, version=1, definition=shipped.definition,
                                published_at=NOW)
    return journey, customer.id


async def test_a_run_reads_back_as_the_step_machine_left_it():
    journey, customer_id = await _durant()
    stored_version = await JourneyVersion.get(journey=journey, version=1)
    definition = parse_definition(stored_version.definition)
    run = await JourneyRun.create(journey=journey, customer_id=customer_id, **row_values(
        enter(run_id=0, journey_id=journey.id, version=1, customer_id=customer_id, entry=1,
              definition=definition, trigger=PURCHASE, now=NOW)))
    state = state_of(await JourneyRun.get(id=run.id))
    step = advance(state, definition, NOW, Facts(PARIS, never))
    sent = [a for a in step.actions if isinstance(a, SendMessage)]
    assert [a.key for a in sent] == [f"{run.id}:thanks:1"]
    await JourneyRun.filter(id=run.id).update(**row_values(step.state))

    again = state_of(await JourneyRun.get(id=run.id))
    assert again == step.state
    assert (again.status, again.step, again.trigger["receiptId"]) \
        == (Status.WAITING, "later", "W-1001")
    due = await JourneyRun.filter(status=Status.WAITING, wake_at__lte=again.wake_at).count()
    assert due == 1

    # Waiting for the survey: the awaited match is stored beside the event's name.
    assert again.wake_at is not None
    woken = advance(again, definition, again.wake_at, Facts(PARIS, never))
    await JourneyRun.filter(id=run.id).update(**row_values(woken.state))
    waiting = await JourneyRun.get(customer_id=customer_id, waiting_event="survey_submitted")
    assert waiting.waiting_match == '{"receiptId":"W-1001"}'
    assert state_of(waiting) == woken.state


async def test_an_entry_and_a_message_key_are_each_taken_once():
    journey, customer_id = await _durant()
    definition = parse_definition((await JourneyVersion.get(journey=journey)).definition)
    state = enter(run_id=0, journey_id=journey.id, version=1, customer_id=customer_id, entry=1,
                  definition=definition, trigger=PURCHASE, now=NOW)
    run = await JourneyRun.create(journey=journey, customer_id=customer_id, **row_values(state))
    with pytest.raises(IntegrityError):
        await JourneyRun.create(journey=journey, customer_id=customer_id, **row_values(state))
    key = f"{run.id}:thanks:1"
    await JourneyMessage.create(dedupe_key=key, run=run, customer_id=customer_id,
                                step_id="thanks", status="queued", created_at=NOW)
    with pytest.raises(IntegrityError):
        await JourneyMessage.create(dedupe_key=key, run=run, customer_id=customer_id,
                                    step_id="thanks", status="queued", created_at=NOW)
