"""The schema's DateTime, Strawberry's own with a bounded range.

Python's datetime ends at years 1 and 9999: an instant near either edge
overflows as soon as a use case converts it to UTC or a store's zone, or adds
a day to it (OverflowError, deep in the use case, after other fields ran).
No loyalty event or validity date is that far out, so every DateTime input is
refused at the edge (INVALID_INPUT, nothing runs) unless its year, as
written, is within `YEARS`: a day's offset either way then stays in range.
Same name, description and serialisation as Strawberry's: the SDL is unchanged.
"""

from __future__ import annotations

import datetime as dt

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition

YEARS = range(1900, 9000)


def _parse_datetime(text: str) -> dt.datetime:
    value = dateutil.parser.isoparse(text)
    if value.year not in YEARS:
        raise ValueError(f"the year must be from {YEARS.start} to {YEARS.stop - 1}.")
    return value


DateTime = ScalarDefinition(
    name=DateTimeDefinition.name,
    description=DateTimeDefinition.description,
    specified_by_url=DateTimeDefinition.specified_by_url,
    serialize=DateTimeDefinition.serialize,
    parse_value=wrap_parser(_parse_datetime, "DateTime"),
    parse_literal=None,
    origin=dt.datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {dt.datetime: DateTime}
