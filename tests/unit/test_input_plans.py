"""Planned input conversion (api/inputs.py) builds the objects Strawberry's own
conversion builds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from api.schema import build_schema
from loyalty.ledger import Channel
from loyalty.platform.config import Settings

SCHEMA = build_schema(Settings(env="test"))


def _inputs() -> dict[str, StrawberryObjectDefinition]:
    found = {}
    for t in SCHEMA.schema_converter.type_map.values():
        d = getattr(t, "definition", None)
        if isinstance(d, StrawberryObjectDefinition) and d.is_input:
            found[d.name] = d
    return found


INPUTS = _inputs()


@pytest.fixture
def reflection() -> Iterator[None]:
    """Strawberry's own conversion, for the time of one conversion."""
    saved = {name: d.from_input for name, d in INPUTS.items()}
    for d in INPUTS.values():
        d.from_input = None
    yield
    for name, d in INPUTS.items():
        d.from_input = saved[name]


def _convert(type_name: str, value: dict[str, Any]) -> Any:
    return convert_argument(value, INPUTS[type_name].origin,
                            SCHEMA.schema_converter.scalar_registry, SCHEMA.config)


SAMPLES = [
    ("RecordPurchaseInput", {
        "idempotencyKey": "k", "card": {"qrPayload": "123.4.ABC.DEF"}, "storeId": "7",
        "receiptId": "r1", "total": {"amountMinor": 1234, "currency": "EUR"},
        "lines": [{"sku": "A", "quantity": 2, "unitPrice": {"amountMinor": 500,
                                                            "currency": "EUR"}},
                  {"sku": "B", "category": "food", "quantity": 1,
                   "unitPrice": {"amountMinor": 234, "currency": "EUR"}}],
        "channel": Channel.APP, "occurredAt": datetime(2026, 1, 2, tzinfo=UTC),
        "couponCode": "C1",
    }),
    ("RecordPurchaseInput", {
        "idempotencyKey": "k", "card": {"cardNumber": "912345678904"}, "storeId": "7",
        "receiptId": "r1", "total": {"amountMinor": 1, "currency": "EUR"}, "lines": None,
        "channel": Channel.STORE,
    }),
    ("RefundPurchaseInput", {"idempotencyKey": "k", "storeId": "1", "receiptId": "r",
                             "amount": None}),
    ("CreateStaffInput", {"email": "a@b.c", "password": "p" * 12, "role": "CASHIER",
                          "storeIds": ["1", "2"]}),
    ("CheckInInput", {"idempotencyKey": "k", "geofenceId": "3",
                      "latitude": 1.0, "longitude": 2.0, "accuracyMeters": 10.0,
                      "occurredAt": datetime(2026, 1, 2, tzinfo=UTC),
                      "beacon": {"uuid": "u", "major": 1, "minor": 2, "rssi": -50}}),
    ("MarkNotificationsReadInput", {"ids": ["1", "2"]}),
]


@pytest.mark.parametrize(("type_name", "value"), SAMPLES)
def test_planned_conversion_equals_strawberrys(type_name: str, value: dict[str, Any],
                                              request: pytest.FixtureRequest) -> None:
    planned = _convert(type_name, value)
    request.getfixturevalue("reflection")
    reflected = _convert(type_name, value)
    assert planned == reflected
    assert repr(planned) == repr(reflected)


def test_every_input_type_has_a_plan() -> None:
    assert INPUTS and all(getattr(d.from_input, "_planned", False) for d in INPUTS.values())
