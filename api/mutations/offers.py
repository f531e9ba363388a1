"""Offers: the customer clips them to the card; administrators create and stop them."""

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
from api.types.customer import Offer
from api.types.programme import (
    CreateOfferInput,
    DeactivateOfferInput,
    OfferDetails,
    OfferDetailsPayload,
)
from loyalty.programme import offers


@strawberry.input(description="An offer to clip to the card.")
class ActivateOfferInput:
    offer_id: strawberry.ID = strawberry.field(description="The offer, from `me.offers`.")


@strawberry.type(description="The result of activateOffer.")
class ActivateOfferPayload:
    offer: Offer | None = strawberry.field(description="The offer, now activated.")
    errors: list[UserError] = strawberry.field(
        description="Why not (OFFER_NOT_AVAILABLE, NOT_FOUND)."
    )


@strawberry.type
class OfferMutations:
    @strawberry.mutation(
        description="App: clip an offer to the card, so the till applies it (customer token). "
        "Activating it again changes nothing.",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def activate_offer(
        self, info: Info[Context, Any], input: ActivateOfferInput
    ) -> ActivateOfferPayload:
        assert info.context.principal is not None
        view = await offers.activate_offer(
            info.context.principal.subject_id,
            parse_id(input.offer_id, "offerId"),
            datetime.now(UTC),
        )
        return ActivateOfferPayload(offer=Offer.of(view), errors=[])

    @strawberry.mutation(description="Admin: create an offer.", permission_classes=[IsAdmin])
    @user_errors
    async def create_offer(self, input: CreateOfferInput) -> OfferDetailsPayload:
        tier_id, store_id = given(input.tier_id), given(input.store_id)
        customer_ids = given(input.customer_ids)
        limit = given(input.per_customer_limit)
        record = await offers.create_offer(
            title=input.title,
            description=given(input.description) or "",
            target=input.target.value,
            tier_id=None if tier_id is None else parse_id(tier_id, "tierId"),
            store_id=None if store_id is None else parse_id(store_id, "storeId"),
            customer_ids=None if customer_ids is None
            else [parse_id(c, "customerIds") for c in customer_ids],
            starts_at=given(input.starts_at),
            ends_at=given(input.ends_at),
            per_customer_limit=1 if limit is None else limit,
            benefit_kind=input.benefit_kind.value,
            benefit_value=input.benefit_value,
            min_basket_minor=given(input.min_basket_minor),
        )
        return OfferDetailsPayload(offer=OfferDetails.of(record), errors=[])

    @strawberry.mutation(
        description="Admin: stop an offer; clipped copies stop applying too.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def deactivate_offer(self, input: DeactivateOfferInput) -> OfferDetailsPayload:
        record = await offers.deactivate_offer(parse_id(input.offer_id, "offerId"))
        return OfferDetailsPayload(offer=OfferDetails.of(record), errors=[])
