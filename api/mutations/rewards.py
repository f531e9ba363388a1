"""The rewards catalogue: customers buy with points, administrators stock it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin, IsCustomer
from api.types.common import UserError, given
from api.types.pos import LedgerTransaction
from api.types.programme import (
    BenefitKind,
    Coupon,
    CreateRewardInput,
    Reward,
    RewardPayload,
    UpdateRewardInput,
)
from loyalty.programme import rewards
from loyalty.programme.rewards import KEEP


@strawberry.type
class RewardQueries:
    @strawberry.field(
        description="The rewards a customer may buy now, cheapest first (customer token).",
        permission_classes=[IsCustomer],
    )
    async def rewards(self) -> list[Reward]:
        return [Reward.of(r) for r in await rewards.list_rewards(datetime.now(UTC))]


@strawberry.input(description="Buy a reward with points.")
class RedeemRewardInput:
    idempotency_key: str = strawberry.field(description="Client-generated; reuse on retries.")
    reward_id: strawberry.ID = strawberry.field(description="The reward.")


@strawberry.type(description="The result of redeemReward.")
class RedeemRewardPayload:
    coupon: Coupon | None = strawberry.field(description="The coupon bought.")
    transaction: LedgerTransaction | None = strawberry.field(description="The points spent.")
    errors: list[UserError] = strawberry.field(
        description="Why nothing was bought (REWARD_NOT_AVAILABLE, OUT_OF_STOCK, "
        "INSUFFICIENT_POINTS, IDEMPOTENCY_CONFLICT, NOT_FOUND)."
    )


def _kept(value: Any) -> Any:
    """An omitted input field keeps the column; an explicit null clears it."""
    return KEEP if value is strawberry.UNSET else value


@strawberry.type
class RewardMutations:
    @strawberry.mutation(
        description="App: buy a reward with points; the payload holds its single-use coupon. "
        "A retry with the same idempotencyKey returns the same coupon (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def redeem_reward(
        self, info: Info[Context, Any], input: RedeemRewardInput
    ) -> RedeemRewardPayload:
        assert info.context.principal is not None
        customer_id = info.context.principal.subject_id
        reward_id = parse_id(input.reward_id, "rewardId")
        bought = await rewards.redeem_reward(
            idempotency_key=input.idempotency_key,
            customer_id=customer_id,
            account_id=await rewards.account_of(customer_id),
            reward_id=reward_id,
            now=datetime.now(UTC),
        )
        return RedeemRewardPayload(
            coupon=Coupon(
                code=bought.code,
                title=bought.title,
                kind=BenefitKind(bought.kind),
                value=bought.value,
                # The catalogue's coupons are valid anywhere, in any currency.
                currency=None,
                channels=None,
                expires_at=bought.expires_at,
                redeemed_at=bought.redeemed_at,
            ),
            transaction=LedgerTransaction.of(bought.transaction),
            errors=[],
        )

    @strawberry.mutation(description="Admin: add a reward.", permission_classes=[IsAdmin])
    @user_errors
    async def create_reward(self, input: CreateRewardInput) -> RewardPayload:
        valid_days = given(input.coupon_valid_days)
        reward = await rewards.create_reward(
            name=input.name,
            description=given(input.description) or "",
            points_price=input.points_price,
            stock=given(input.stock),
            starts_at=given(input.starts_at),
            ends_at=given(input.ends_at),
            benefit_kind=input.benefit_kind.value,
            benefit_value=input.benefit_value,
            coupon_valid_days=30 if valid_days is None else valid_days,
        )
        return RewardPayload(reward=Reward.of(reward), errors=[])

    @strawberry.mutation(
        description="Admin: change a reward (price, stock, dates, active...).",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def update_reward(self, input: UpdateRewardInput) -> RewardPayload:
        kind = _kept(input.benefit_kind)
        reward = await rewards.update_reward(
            parse_id(input.reward_id, "rewardId"),
            name=_kept(input.name),
            description=_kept(input.description),
            points_price=_kept(input.points_price),
            stock=_kept(input.stock),
            starts_at=_kept(input.starts_at),
            ends_at=_kept(input.ends_at),
            active=_kept(input.active),
            benefit_kind=kind.value if kind is not KEEP and kind is not None else kind,
            benefit_value=_kept(input.benefit_value),
            coupon_valid_days=_kept(input.coupon_valid_days),
        )
        return RewardPayload(reward=Reward.of(reward), errors=[])
