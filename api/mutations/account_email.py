"""Password reset and email verification by emailed link."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.mutations.base import user_errors
from api.permissions import IsCustomer
from api.types.common import OkPayload
from loyalty.identity import email_tokens
from notifications import account_emails


@strawberry.input(description="Whose password to reset.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's email.")


@strawberry.input(description="A new password, with the emailed link's token.")
class ResetPasswordInput:
    token: str = strawberry.field(description="The `token` of the emailed link.")
    password: str = strawberry.field(description="The new password (the sign-up policy).")


@strawberry.input(description="The emailed link's token.")
class VerifyEmailInput:
    token: str = strawberry.field(description="The `token` of the emailed link.")


@strawberry.type
class AccountEmailMutations:
    @strawberry.mutation(description="Email a password-reset link (single use, expiring "
                         "after LOYALTY_EMAIL_TOKEN_MINUTES). Always answers without errors: "
                         "it does not tell whether the email has an account. An imported "
                         "customer gets the link that claims their account.")
    async def request_password_reset(self, input: RequestPasswordResetInput) -> OkPayload:
        await account_emails.send_password_reset(input.email)
        return OkPayload(errors=[])

    @strawberry.mutation(description="Set a new password from a reset link; every session "
                         "of the account ends. INVALID_INPUT on `token` for a link invalid, "
                         "expired or already used.")
    @user_errors
    async def reset_password(self, input: ResetPasswordInput) -> OkPayload:
        await email_tokens.reset_password(input.token, input.password)
        return OkPayload(errors=[])

    @strawberry.mutation(description="Email the signed-in customer a link that confirms "
                         "their address.", permission_classes=[IsCustomer])
    async def request_email_verification(self, info: Info[Context, Any]) -> OkPayload:
        assert info.context.principal is not None
        await account_emails.send_verification(info.context.principal.subject_id)
        return OkPayload(errors=[])

    @strawberry.mutation(description="Confirm an email address from its link.")
    @user_errors
    async def verify_email(self, input: VerifyEmailInput) -> OkPayload:
        await email_tokens.verify_email(input.token)
        return OkPayload(errors=[])
