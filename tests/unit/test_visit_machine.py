"""The visit state machine both check-in paths call: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geofence.models import CheckInKind
from geofence.visit_machine import Action, Place, VisitResult, next_step, reward_possible
from loyalty.platform.config import Settings

AT = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OPERA = Place(7, "Opéra", 3)
ENTER, EXIT, DWELL, BEACON = (CheckInKind.ENTER, CheckInKind.EXIT, CheckInKind.DWELL,
                              CheckInKind.BEACON)


def open_visit(confirmed: bool, opened_at: datetime = AT - timedelta(minutes=5)) -> VisitResult:
    return VisitResult(41, OPERA.store_id, OPERA.store_name, 0, opened_at, None, confirmed)


@pytest.mark.parametrize(("kind", "opened", "action", "confirmed", "confirms"), [
    (ENTER, None, Action.OPEN, False, False),
    (DWELL, None, Action.OPEN, True, True),
    (BEACON, None, Action.OPEN, True, True),
    (EXIT, None, Action.NONE, None, False),
    (ENTER, open_visit(False), Action.KEEP, False, False),
    (ENTER, open_visit(True), Action.KEEP, True, False),
    (DWELL, open_visit(False), Action.CONFIRM, True, True),
    (BEACON, open_visit(False), Action.CONFIRM, True, True),
    (DWELL, open_visit(True), Action.KEEP, True, False),
    (EXIT, open_visit(False), Action.CLOSE, False, False),
    (EXIT, open_visit(True), Action.CLOSE, True, False),
])
def test_each_check_in_moves_the_visit_on_once(kind, opened, action, confirmed, confirms):
    step = next_step(kind, OPERA, opened, AT)
    assert step.action == action
    assert (None if step.visit is None else step.visit.confirmed) == confirmed
    assert step.confirms == confirms
    if action == Action.OPEN:
        assert (step.visit.id, step.visit.opened_at, step.visit.store_id) == (0, AT, 7)
    if action in (Action.KEEP, Action.CONFIRM, Action.CLOSE):
        assert step.visit.id == opened.id


def test_an_exit_never_closes_a_visit_before_it_opened():
    late_enter = open_visit(True, opened_at=AT + timedelta(seconds=30))
    step = next_step(EXIT, OPERA, late_enter, AT)
    assert step.visit.closed_at == late_enter.opened_at
    assert next_step(EXIT, OPERA, open_visit(True), AT).visit.closed_at == AT


def test_a_reward_needs_points_and_no_recent_reward():
    settings = Settings(visit_reward_points=10, visit_cooldown_minutes=60)
    assert reward_possible(settings, None, AT)
    assert not reward_possible(settings, AT - timedelta(minutes=59), AT)
    assert reward_possible(settings, AT - timedelta(minutes=61), AT)
    assert not reward_possible(Settings(visit_reward_points=0), None, AT)
    assert reward_possible(Settings(visit_reward_points=10, visit_cooldown_minutes=0),
                           AT - timedelta(minutes=1), AT)
