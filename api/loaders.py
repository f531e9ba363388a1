"""Per-request dataloaders of the audience views (on Context.audience)."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from audience.segments import member_counts


async def _member_counts(ids: list[int]) -> list[int]:
    counts = await member_counts(list(ids))
    return [counts[i] for i in ids]


@dataclass
class AudienceLoaders:
    member_counts: DataLoader[int, int] = field(
        default_factory=lambda: DataLoader(load_fn=_member_counts))
