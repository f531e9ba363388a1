"""Customer: answer the satisfaction survey about a purchase; edit the profile."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsCustomer
from api.types.common import UserError, given
from loyalty.identity import profile
from loyalty.points import surveys


@strawberry.input(description="A satisfaction survey about one of the customer's purchases.")
class SubmitSurveyInput:
    store_id: strawberry.ID = strawberry.field(description="The store of the purchase.")
    receipt_id: str = strawberry.field(description="The purchase's receipt id.")
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    comment: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text, at most 2000 characters.")


@strawberry.type(description="The result of submitSurvey.")
class SubmitSurveyPayload:
    points_awarded: int = strawberry.field(
        default=0, description="The survey bonus credited (0 when no survey bonus runs).")
    errors: list[UserError] = strawberry.field(
        description="Why it was refused (NOT_FOUND, SURVEY_ALREADY_ANSWERED, "
        "SURVEY_NOT_ELIGIBLE for a purchase refunded in full, INVALID_INPUT).")


@strawberry.input(description="A survey answered from the link a message carried, without "
                  "signing in.")
class SubmitSurveyFromLinkInput:
    token: str = strawberry.field(
        description="The token of the survey link (LOYALTY_SURVEY_URL's {token}): it names "
        "the customer, the store and the receipt, signed by the server.")
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    comment: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text, at most 2000 characters.")


@strawberry.input(description="Profile fields to change; omitted ones stay as they are.")
class UpdateProfileInput:
    first_name: str | None = strawberry.field(default=strawberry.UNSET, description="First name.")
    birth_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="Birth date, for the birthday bonus.")
    phone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Mobile number for SMS (with SMS consent): digits with an optional "
                    "leading + and country code; spaces, dots and dashes are dropped. An empty "
                    "string removes it.")


@strawberry.type(description="The result of updateProfile.")
class UpdateProfilePayload:
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")


def _customer(info: Info[Context, Any]) -> int:
    assert info.context.principal is not None
    return info.context.principal.subject_id


@strawberry.type
class SurveyMutations:
    @strawberry.mutation(
        description="Customer: rate a purchase once; the survey bonus, if any, is credited.",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def submit_survey(self, info: Info[Context, Any],
                            input: SubmitSurveyInput) -> SubmitSurveyPayload:
        result = await surveys.submit_survey(
            customer_id=_customer(info), store_id=parse_id(input.store_id, "storeId"),
            receipt_id=input.receipt_id, rating=input.rating, comment=given(input.comment),
        )
        return SubmitSurveyPayload(points_awarded=result.points_awarded, errors=[])

    @strawberry.mutation(
        description="Anyone holding a survey link (an email or SMS to the customer): answer "
        "that purchase's survey as submitSurvey would, without a token. A link that is not "
        "the server's is INVALID_INPUT (field token); an expired one SURVEY_NOT_ELIGIBLE.")
    @user_errors
    async def submit_survey_from_link(self, input: SubmitSurveyFromLinkInput
                                      ) -> SubmitSurveyPayload:
        result = await surveys.submit_survey_from_link(
            token=input.token, rating=input.rating, comment=given(input.comment))
        return SubmitSurveyPayload(points_awarded=result.points_awarded, errors=[])

    @strawberry.mutation(description="Customer: change the first name or birth date.",
                         permission_classes=[IsCustomer])
    @user_errors
    async def update_profile(self, info: Info[Context, Any],
                             input: UpdateProfileInput) -> UpdateProfilePayload:
        await profile.update_profile(_customer(info), first_name=given(input.first_name),
                                     birth_date=given(input.birth_date),
                                     phone=given(input.phone))
        return UpdateProfilePayload(errors=[])
