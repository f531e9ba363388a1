"""Which channel carries a message (notifications/routing.py, pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifications.routing import Reach, parse, route

EVERYTHING = Reach(marketing=True, push_opt_in=True, push_configured=True, has_device=True,
                   email="a@example.test", email_configured=True, email_opt_in=True,
                   phone="+33612345678", sms_configured=True, sms_opt_in=True)


def test_the_first_channel_that_can_carry_it_wins():
    assert route(["EMAIL", "PUSH"], EVERYTHING).channel == "EMAIL"
    assert route(["SMS", "EMAIL"], EVERYTHING).channel == "SMS"
    assert route(["INBOX", "PUSH"], EVERYTHING).channel == "INBOX"


@pytest.mark.parametrize(("change", "reason"), [
    ({"email_configured": False}, "EMAIL: LOYALTY_SMTP_URL not set"),
    ({"email": None}, "EMAIL: no email address"),
    ({"email_opt_in": False}, "EMAIL: no email consent"),
])
def test_email_passed_over_says_why(change, reason):
    chosen = route(["EMAIL", "PUSH"], replace(EVERYTHING, **change))
    assert (chosen.channel, chosen.reason) == ("PUSH", reason)


def test_transactional_messages_need_no_channel_consent():
    reach = replace(EVERYTHING, marketing=False, email_opt_in=False, sms_opt_in=False)
    assert route(["SMS"], reach).channel == "SMS"
    assert route(["EMAIL"], reach).channel == "EMAIL"


def test_nothing_left_is_suppressed_with_every_reason():
    reach = replace(EVERYTHING, email_configured=False, phone=None, has_device=False)
    chosen = route(["EMAIL", "SMS", "PUSH"], reach)
    assert chosen.channel is None
    assert chosen.reason == ("EMAIL: LOYALTY_SMTP_URL not set; SMS: no phone number; "
                             "PUSH: no device")


def test_a_ledger_push_left_in_the_inbox_keeps_its_short_reason():
    chosen = route(parse("PUSH,INBOX"), replace(EVERYTHING, push_opt_in=False))
    assert (chosen.channel, chosen.reason) == ("INBOX", "push opt-out")
    assert route(parse(None), EVERYTHING).channel == "PUSH"
    assert parse("sms, bogus,EMAIL") == ("SMS", "EMAIL")
