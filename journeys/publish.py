"""Publishing a definition as a journey's next frozen version in one call:
the marketer's two steps (updateJourney, then publishJourney) for the
worker's tests, the bench and scripts, through the same service functions,
so that there is one way versions are written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from journeys import service


async def publish_version(journey_id: int, definition: Any, now: datetime) -> int:
    """Save `definition` as the journey's newest version and make it live
    (the journey LIVE): new runs start on it, runs in flight finish on
    theirs. Returns the version number. Raises DomainErrors
    (INVALID_DEFINITION, every fault with its path) or NOT_FOUND."""
    await service.update_journey(journey_id, definition=definition, now=now)
    view = await service.publish_journey(journey_id, now=now)
    assert view.live_version is not None
    return view.live_version
