"""Message templates and quiet hours: pure logic, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications import templates
from notifications.preferences import quiet_until
from notifications.templates import TemplateError, format_number, load, render

VALUES = {"first_name": "Alice", "points": 12, "balance": 1450, "store": "Opéra"}


def test_french_uses_a_narrow_no_break_space_between_thousands():
    assert format_number(1450, "fr-FR") == "1\u202f450"
    assert format_number(1234567, "fr") == "1\u202f234\u202f567"
    assert format_number(1450, "en-GB") == "1,450"
    assert format_number(-980, "fr-FR") == "-980"


def test_templates_are_filled_in_the_customers_language():
    fr = render("points.earned", "fr-FR", VALUES)
    assert (fr.title, fr.body) == ("+12 points", "Alice, +12 points à Opéra, 1\u202f450 au total")
    en = render("points.earned", "en-US", VALUES)
    assert en.body == "Alice, +12 points at Opéra, 1,450 in all"
    spent = render("points.redeemed", "fr", VALUES)
    assert spent.body.startswith("Alice, vous avez utilisé 12 points")


def test_a_language_without_templates_falls_back_to_english_and_its_numbers():
    de = render("points.earned", "de-DE", VALUES)
    assert de.body == "Alice, +12 points at Opéra, 1,450 in all"
    assert render("points.earned", None, VALUES).body == de.body


@pytest.mark.parametrize("raw,message", [
    ({"k": {"en": ("Hi {first_name}", "{pionts} points")}}, "unknown placeholder"),
    ({"k": {"en": ("ok", "ok"), "fr": ("{balance}", "{store_name}")}}, "unknown placeholder"),
    ({"k": {"en": ("{points", "x")}}, "malformed"),
    ({"k": {"fr": ("x", "y")}}, "'en' template is required"),
])
def test_bad_templates_fail_when_they_load(raw, message):
    with pytest.raises(TemplateError, match=message):
        load(raw)


def test_the_shipped_templates_load_and_cover_every_ledger_event():
    for kind in ("points.earned", "points.redeemed", "points.refunded"):
        assert templates.has_template(kind)
        assert set(load(templates.TEMPLATES)[kind]) >= {"en", "fr"}


PARIS = "Europe/Paris"


@pytest.mark.parametrize("now,start,end,expected", [
    # 23:30 in Paris, window over midnight: until 08:00 the next morning.
    (datetime(2026, 1, 15, 22, 30, tzinfo=UTC), "22:00", "08:00",
     datetime(2026, 1, 16, 7, 0, tzinfo=UTC)),
    # 03:00 in Paris, same window: until 08:00 that morning.
    (datetime(2026, 1, 16, 2, 0, tzinfo=UTC), "22:00", "08:00",
     datetime(2026, 1, 16, 7, 0, tzinfo=UTC)),
    # 12:00 in Paris: outside.
    (datetime(2026, 1, 16, 11, 0, tzinfo=UTC), "22:00", "08:00", None),
    # Exactly the end: outside (the window is half-open).
    (datetime(2026, 1, 16, 7, 0, tzinfo=UTC), "22:00", "08:00", None),
    # A window within one day, in summer time (UTC+2).
    (datetime(2026, 7, 1, 11, 30, tzinfo=UTC), "13:00", "14:00",
     datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),
    (datetime(2026, 7, 1, 11, 30, tzinfo=UTC), None, None, None),
])
def test_quiet_hours_hold_a_push_until_the_end_of_the_local_window(now, start, end, expected):
    assert quiet_until(now, PARIS, start, end) == expected


def test_long_titles_are_clipped_to_the_column_size():
    from notifications.inbox_rows import TITLE_MAX
    from notifications.inbox_rows import clip as _clip

    title = "Welcome to " + "S" * 200 + ", " + "A" * 100
    clipped = _clip(title, TITLE_MAX)
    assert len(clipped) == TITLE_MAX and clipped.endswith("…")
    assert _clip("short", TITLE_MAX) == "short"


def test_an_adjustment_reads_well_in_english_either_way_and_opens_the_history():
    from loyalty.events import PointsAdjusted
    from notifications.personalise import template_for
    from notifications.presentation import deep_link

    values = {"first_name": "Alice", "points": 1200, "balance": 1450,
              "reason": "Lost receipt"}
    up = render(template_for(PointsAdjusted(signed_points=1200, reason="r")), "en-GB", values)
    assert (up.title, up.body) == (
        "+1,200 points added",
        "Alice, customer service added 1,200 points: Lost receipt. You have 1,450 points")
    down = render(template_for(PointsAdjusted(signed_points=-1200, reason="r")), "en", values)
    assert (down.title, down.body) == (
        "1,200 points removed",
        "Alice, customer service removed 1,200 points: Lost receipt. You have 1,450 points")
    # an event written before reasons were carried still reads well
    bare = render("points.adjusted", "fr", {**values, "reason": None})
    assert bare.body == ("Alice, le service client vous a ajouté 1\u202f200 points. "
                         "Vous avez 1\u202f450 points")
    assert deep_link("loyalty://", "points.adjusted", 7) == "loyalty://history"


def test_every_built_in_message_greets_the_customer_by_first_name():
    for kind, languages in templates.TEMPLATES.items():
        for language, (title, body) in languages.items():
            assert "{first_name}" in title + body, (kind, language)
