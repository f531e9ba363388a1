"""Typed domain events: one class per kind, one serialisation, and the
payloads the outbox carried before the classes existed, key for key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from loyalty import events
from loyalty.events import (
    BadEvent,
    CampaignCreated,
    CampaignMessage,
    CouponExpiring,
    CustomerErased,
    CustomerSignedUp,
    PointsAdjusted,
    PointsClosed,
    PointsEarned,
    PointsExpired,
    PointsExpiring,
    PointsRedeemed,
    PointsRefunded,
    SurveySubmitted,
    TierChanged,
    VisitAccepted,
)

AT = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)

# Each event as its producer wrote it before loyalty/events.py (json.dumps of
# a dict literal): the serialisation must stay byte for byte the same.
LEGACY = [
    (PointsEarned(transaction_id=7, points=12, balance=30, store_id=2, store_name="Opéra",
                  channel="STORE"),
     {"transaction_id": 7, "points": 12, "balance": 30, "store_id": 2, "store_name": "Opéra",
      "channel": "STORE"}),
    (PointsRedeemed(transaction_id=8, points=5, balance=25, store_id=2, store_name="Opéra"),
     {"transaction_id": 8, "points": 5, "balance": 25, "store_id": 2, "store_name": "Opéra"}),
    (PointsRedeemed(transaction_id=9, points=30, balance=0, reward_id=3, reward_name="Coffee"),
     {"transaction_id": 9, "points": 30, "balance": 0, "store_id": None, "store_name": None,
      "reward_id": 3, "reward_name": "Coffee"}),
    (PointsRefunded(transaction_id=10, points=12, balance=-7, store_id=2, store_name="Opéra"),
     {"transaction_id": 10, "points": 12, "balance": -7, "store_id": 2, "store_name": "Opéra"}),
    (PointsExpired(transaction_id=11, points=40, balance=0, lot_ids=(1, 2),
                   earned_on=("2025-11-02",)),
     {"transaction_id": 11, "points": 40, "balance": 0, "store_id": None, "store_name": None,
      "lot_ids": [1, 2], "earned_on": ["2025-11-02"]}),
    (VisitAccepted(transaction_id=12, points=10, balance=50, store_id=2, store_name="Opéra",
                   visit_id=4, channel="CHECKIN"),
     {"transaction_id": 12, "points": 10, "balance": 50, "store_id": 2, "store_name": "Opéra",
      "visit_id": 4, "channel": "CHECKIN"}),
    (TierChanged(from_tier="Silver", to_tier="Gold", from_id=1, to_id=2, direction="up"),
     {"from": "Silver", "to": "Gold", "from_id": 1, "to_id": 2, "direction": "up"}),
    (PointsExpiring(points=150, expires_at=AT, lot_id=3, lot_ids=(3, 4)),
     {"points": 150, "expires_at": AT.isoformat(), "lot_id": 3, "lot_ids": [3, 4]}),
    (CouponExpiring(coupon_id=5, title="Free coffee", expires_at=AT),
     {"coupon_id": 5, "title": "Free coffee", "expires_at": AT.isoformat()}),
    (CampaignCreated(key="k", fingerprint="f", targeted=3, title="Sale", tier=None),
     {"key": "k", "fingerprint": "f", "targeted": 3, "title": "Sale", "tier": None,
      "segment_id": None}),
    (PointsRefunded(transaction_id=14, points=50, balance=0, store_id=2, store_name="Opéra",
                    reason=events.SURVEY_CLAWBACK),
     {"transaction_id": 14, "points": 50, "balance": 0, "store_id": 2, "store_name": "Opéra",
      "reason": "survey_bonus"}),
    (PointsAdjusted(transaction_id=15, points=1200, balance=250, signed_points=-1200,
                    reason="Lost receipt"),
     {"transaction_id": 15, "points": 1200, "balance": 250, "store_id": None,
      "store_name": None, "signed_points": -1200, "reason": "Lost receipt"}),
    (PointsClosed(transaction_id=16, points=250, balance=0),
     {"transaction_id": 16, "points": 250, "balance": 0, "store_id": None,
      "store_name": None}),
    (SurveySubmitted(survey_id=1, purchase_id=2, store_id=3, receipt_id="R-1", rating=5,
                     points=0),
     {"survey_id": 1, "purchase_id": 2, "store_id": 3, "receipt_id": "R-1", "rating": 5,
      "points": 0}),
    (CustomerSignedUp(customer_id=4, source="instagram"),
     {"customer_id": 4, "source": "instagram"}),
    (CustomerErased(customer_id=4), {"customer_id": 4}),
    (CampaignMessage(campaign_id=1, title="Sale", body="-20%"),
     {"campaign_id": 1, "title": "Sale", "body": "-20%"}),
]


@pytest.mark.parametrize(("event", "legacy"), LEGACY, ids=lambda x: getattr(x, "kind", ""))
def test_each_event_serialises_as_its_producer_did_and_reads_back(event, legacy):
    assert event.to_json() == json.dumps(legacy)
    assert events.parse(event.kind, event.to_json()) == event
    assert events.parse(event.kind, legacy) == event


# Rows written before a field existed, as those producers wrote them (git log
# -p on the producers): they must read, with the field's default.
OLDER = [
    # A journey's award step (adjustments.post_bonus) wrote no channel, and
    # the signed points of the adjustment's body it shared.
    ({"transaction_id": 20, "points": 50, "balance": 80, "store_id": None, "store_name": None,
      "signed_points": 50},
     PointsEarned(transaction_id=20, points=50, balance=80, channel=None)),
    # The first adjustPoints carried no reason.
    ({"transaction_id": 15, "points": 1200, "balance": 250, "store_id": None,
      "store_name": None, "signed_points": -1200},
     PointsAdjusted(transaction_id=15, points=1200, balance=250, signed_points=-1200,
                    reason=None)),
    # A campaign's header before campaigns targeted tiers, then segments.
    ({"key": "k", "fingerprint": "f", "targeted": 3, "title": "Sale"},
     CampaignCreated(key="k", fingerprint="f", targeted=3, title="Sale")),
    ({"key": "k", "fingerprint": "f", "targeted": 3, "title": "Sale", "tier": "Gold"},
     CampaignCreated(key="k", fingerprint="f", targeted=3, title="Sale", tier="Gold")),
]


@pytest.mark.parametrize(("payload", "event"), OLDER, ids=lambda x: getattr(x, "kind", ""))
def test_a_row_written_before_a_field_existed_still_reads(payload, event):
    assert events.parse(event.kind, json.dumps(payload)) == event


@pytest.mark.parametrize("kind", sorted(events.KINDS))
def test_a_payload_erasure_emptied_reads_as_no_event_whatever_its_kind(kind):
    # Never an event of default values (a redemption of 0 points, say).
    assert events.parse(kind, events.ERASED_PAYLOAD) is None
    assert events.parse(kind, {"erased": True}) is None
    assert events.is_erased(json.loads(events.ERASED_PAYLOAD))
    assert not events.is_erased({"erased": True, "customer_id": 4})


def test_every_kind_has_a_class_and_every_class_is_tested():
    assert set(events.KINDS) == {e.kind for e, _ in LEGACY}


def test_a_visit_without_points_carries_no_transaction_balance_or_channel():
    welcome = VisitAccepted(visit_id=4, points=0, store_id=2, store_name="Opéra")
    assert welcome.payload() == {"points": 0, "store_id": 2, "store_name": "Opéra",
                                 "visit_id": 4}
    assert events.parse("visit.accepted", welcome.to_json()) == welcome


@pytest.mark.parametrize(("kind", "payload", "error"), [
    ("campaign.message", {"campaign_id": 1, "body": "x"}, "campaign.message: title is missing"),
    ("points.earned", {"points": "12", "channel": "STORE"}, "points.earned.points is not"),
    ("points.earned", {"points": True, "channel": "STORE"}, "points.earned.points is not"),
    ("tier.changed", {"from": None, "to": None, "direction": None},
     "tier.changed.direction is null"),
    ("points.expiring", {"points": 1, "expires_at": "soon", "lot_id": 1, "lot_ids": []},
     "points.expiring.expires_at is not a datetime"),
    ("points.earned", "[1, 2]", "an event payload must be an object, not list"),
])
def test_a_payload_that_is_not_its_kinds_is_refused_with_the_reason(kind, payload, error):
    with pytest.raises(BadEvent) as refused:
        events.parse(kind, payload if isinstance(payload, str) else json.dumps(payload))
    assert str(refused.value).startswith(error)


def test_a_kind_no_class_describes_reads_as_none():
    assert events.parse("journey.started", "{}") is None
