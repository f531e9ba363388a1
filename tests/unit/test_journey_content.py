"""Journey messages rendered in the sandbox: the customer's language, values
read at send time, HTML escaped in email bodies only, nothing half-filled."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import pytest

from journeys.content import Rendered, RenderError, Values, check, choose_language, render
from journeys.steps import Channel, Content

THANKS = {
    "fr": Content("Merci {{ customer.first_name }}",
                  "<p>{{ customer.first_name }}, vous avez {{ points.available }} points.</p>"),
    "en": Content("Thanks {{ customer.first_name }}",
                  "<p>{{ customer.first_name }}, you have {{ points.available }} points.</p>"),
}
DURANT = Values("Jean", points_available=12_500)


@pytest.mark.parametrize("locale, content, expected", [
    ("fr", THANKS, "fr"),
    ("fr-CA", THANKS, "fr"),
    ("en_GB", THANKS, "en"),
    (None, THANKS, "en"),
    ("de", THANKS, "en"),  # neither: the programme's default
    ("fr", {"en": THANKS["en"]}, "en"),  # only the other one
    ("en", {"fr": THANKS["fr"]}, "fr"),
    ("de", {"fr": THANKS["fr"]}, "fr"),
])
def test_the_customers_language_then_the_other(locale, content, expected):
    assert choose_language(content, locale) == expected


def test_numbers_are_written_the_customers_way():
    assert render(THANKS, Channel.PUSH, "fr", DURANT) == Rendered(
        "fr", "Merci Jean", "<p>Jean, vous avez 12\u202f500 points.</p>")
    assert render(THANKS, Channel.PUSH, "en", DURANT).body \
        == "<p>Jean, you have 12,500 points.</p>"


def test_email_bodies_escape_what_customers_and_events_supply_and_subjects_do_not():
    sneaky = Values("<script>x</script>", points_available=1)
    email = render(THANKS, Channel.EMAIL, "en", sneaky)
    assert email.body == "<p>&lt;script&gt;x&lt;/script&gt;, you have 1 points.</p>"
    assert email.title == "Thanks <script>x</script>"  # a subject line is plain text
    sms = render(THANKS, Channel.SMS, "en", sneaky)
    assert sms.body.startswith("<p><script>")
    trigger = {"en": Content("t", "{{ trigger.sku }}")}
    assert render(trigger, Channel.EMAIL, "en", Values("J", trigger={"sku": "<i>"})).body \
        == "&lt;i&gt;"


def test_a_coupon_expiry_is_the_customers_calendar_day():
    content = {"fr": Content(None, "{{ coupon.code }} valable jusqu'au {{ coupon.expires_at }}")}
    late_utc = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # already 1 April in Paris
    values = Values("Jean", coupon_code="K7QX2", coupon_expires_at=late_utc,
                    timezone="Europe/Paris")
    assert render(content, Channel.SMS, "fr", values).body == "K7QX2 valable jusqu'au 1 avril"
    in_new_york = Values("Jean", coupon_code="K7QX2", coupon_expires_at=late_utc,
                         timezone="America/New_York")
    assert render(content, Channel.SMS, "fr", in_new_york).body.endswith("31 mars")


def test_every_placeholder_renders_from_its_value():
    body = ("{{ customer.first_name }}|{{ points.available }}|{{ points.to_next_reward }}|"
            "{{ next_reward }}|{{ tier }}|{{ coupon.code }}|{{ store.name }}|"
            "{{ trigger.receiptId }}|{{ survey_url }}|{{ unsubscribe_url }}")
    values = Values("Jean", 1500, 500, "Free coffee", "Gold", "K7QX2", None, "Lyon Part-Dieu",
                    {"receiptId": "R-77"}, "https://s.example/r/R-77", "https://u.example/x")
    assert render({"en": Content(None, body)}, Channel.SMS, "en", values).body == (
        "Jean|1,500|500|Free coffee|Gold|K7QX2|Lyon Part-Dieu|R-77|"
        "https://s.example/r/R-77|https://u.example/x")


def test_a_missing_value_fails_the_render_instead_of_sending_a_gap():
    content = {"en": Content("Your coupon", "Use {{ coupon.code }} today")}
    with pytest.raises(RenderError, match="'coupon.code' is undefined"):
        render(content, Channel.PUSH, "en", Values("Jean"))
    with pytest.raises(RenderError, match="has no attribute 'cartId'"):
        render({"en": Content(None, "{{ trigger.cartId }}")}, Channel.SMS, "en", Values("J"))


def test_optional_parts_test_for_a_value_with_is_defined():
    content = {"en": Content(None, "Hi{% if coupon.code is defined %}, use {{ coupon.code }}"
                                   "{% endif %}.")}
    assert render(content, Channel.SMS, "en", Values("J")).body == "Hi."
    assert render(content, Channel.SMS, "en", Values("J", coupon_code="AB")).body == "Hi, use AB."


def test_the_sandbox_refuses_what_the_save_check_could_not_see():
    content = {"en": Content(None, "{{ trigger.x.__class__ }}")}
    with pytest.raises(RenderError, match="unsafe"):
        render(content, Channel.SMS, "en", Values("J", trigger={"x": 1}))
    huge = {"en": Content(None, "{{ trigger.x | center(10000) }}" * 11)}
    with pytest.raises(RenderError, match="longer than 100000"):
        render(huge, Channel.SMS, "en", Values("J", trigger={"x": 1}))


def test_preferred_is_resolved_before_rendering():
    with pytest.raises(ValueError, match="resolve PREFERRED"):
        render(THANKS, Channel.PREFERRED, "en", DURANT)


def test_an_unknown_or_missing_zone_reads_dates_in_utc():
    content = {"en": Content(None, "{{ coupon.expires_at }}")}
    late_utc = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    for zone in (None, "Mars/Olympus", "../../etc/passwd"):
        values = Values("J", coupon_code="K", coupon_expires_at=late_utc, timezone=zone)
        assert render(content, Channel.SMS, "en", values).body == "31 March"


def test_the_save_check_refuses_before_compiling_constant_expressions():
    # Compiling folds constants: 2 ** 20000000 raised ValueError from Jinja's
    # compiler, 'x' * 10 ** 8 built 100 MB, before the checks could refuse them.
    assert check("{{ 2 ** 20000000 }}") == ["** is not allowed",
                                            "numbers in templates are at most 10000"]
    assert check("{{ 'x' * 9999 * 9999 * 9999 }}") == ["* is not allowed"]
    assert check("{{ customer.first_name | nosuchfilter }}")[0].startswith("does not compile")


def test_a_variable_set_from_itself_is_refused_at_save():
    # Each line doubled it: 30 lines, gigabytes at send time.
    doubling = "{% set a = customer.first_name %}" + "{% set a = a ~ a %}" * 30 + "{{ a }}"
    assert check(doubling) == ["{% set %} is not allowed"]
    assert check("{% with a = customer.first_name %}{{ a }}{% endwith %}") == \
        ["{% with %} is not allowed"]


@pytest.mark.parametrize("body", [
    # Each replace multiplied the text by its argument's length: 20 MB here,
    # gigabytes with a third, all built before the length check.
    "{{ customer.first_name | replace('', '" + "y" * 2000 + "') | replace('', '"
    + "z" * 2000 + "') }}",
    "{{ trigger.words | join('" + "x" * 60_000 + "') }}",
    "{{ customer.first_name | center(trigger.width) }}",
    "{{ '%999999999s' | format(customer.first_name) }}",
    # Nested loops over an event's list: 16 million iterations, streamed and cut.
    "{% for a in trigger.words %}{% for b in trigger.words %}{{ customer.first_name "
    "| center(100) }}{% endfor %}{% endfor %}",
])
def test_a_text_that_would_grow_past_the_limit_stops_before_it_is_built(body):
    assert check(body) == []
    values = Values(first_name="Alice", trigger={"words": ["w"] * 4000, "width": 10**9})
    tracemalloc.start()
    try:
        with pytest.raises(RenderError):
            render({"en": Content(title=None, body=body)}, Channel.PUSH, "en", values)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_filters_within_bounds_still_render():
    body = ("{{ customer.first_name | upper }} {{ trigger.amount | round(1) }} "
            "{{ trigger.words | join(', ') }} {{ customer.first_name | center(9) }}|"
            "{{ trigger.gone | default(trigger.amount) }} {{ trigger.words | map('upper') "
            "| join('-') }}")
    values = Values(first_name="Alice", trigger={"words": ["a", "b"], "amount": 10**12})
    out = render({"en": Content(title=None, body=body)}, Channel.EMAIL, "en", values)
    assert out.body == "ALICE 1000000000000 a, b   Alice  |1000000000000 A-B"


def test_too_long_says_so():
    body = "{% for a in trigger.words %}{{ customer.first_name | center(100) }}{% endfor %}"
    values = Values(first_name="Alice", trigger={"words": ["w"] * 4000})
    with pytest.raises(RenderError, match="^longer than 100000 characters once rendered$"):
        render({"en": Content(title=None, body=body)}, Channel.PUSH, "en", values)
