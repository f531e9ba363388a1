"""Sign-up, log-in and sessions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api.client_address import client_address
from api.context import Context
from api.mutations.base import user_errors
from api.types.common import UserError, given
from audience.events import check_anonymous_id
from audience.identity_merge import merge_anonymous
from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import accounts as identity
from loyalty.identity.accounts import normalize_email
from loyalty.identity.email_tokens import claim_error
from loyalty.platform.config import get_settings
from notifications import account_emails
from wallet.cards import issue_card


@strawberry.input(description="Where a new customer came from, as UTM tags name it.")
class AcquisitionInput:
    source: str = strawberry.field(description="1 to 100 characters: a partner, a network, "
                                   "a store flyer.")
    medium: str | None = strawberry.field(default=strawberry.UNSET,
                                          description="Up to 100 characters, e.g. cpc, email.")
    campaign: str | None = strawberry.field(default=strawberry.UNSET,
                                            description="Up to 100 characters.")

_ANONYMOUS = ("The app's or browser's anonymousId from before this session: its events "
              "become this customer's (the first customer to claim an anonymousId keeps it).")


@strawberry.input(description="A new customer.")
class SignUpInput:
    email: str = strawberry.field(description="Email; case-insensitive and unique.")
    password: str = strawberry.field(
        description="10 to 256 characters, not blank, not among the most common passwords, "
        "not the email; otherwise INVALID_INPUT on `password`."
    )
    first_name: str = strawberry.field(description="First name.")
    locale: str | None = strawberry.field(
        default=strawberry.UNSET, description="BCP 47, e.g. fr-FR."
    )
    timezone: str | None = strawberry.field(
        default=strawberry.UNSET, description="IANA, e.g. Europe/Paris."
    )
    marketing_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Consent to marketing."
    )
    birth_date: date | None = strawberry.field(
        default=strawberry.UNSET,
        description="Birth date, for the birthday bonus (only month and day matter).",
    )
    anonymous_id: str | None = strawberry.field(default=strawberry.UNSET, description=_ANONYMOUS)
    acquisition: AcquisitionInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Where the customer came from, for attribution and acquisition cost.",
    )


@strawberry.input(description="Email and password.")
class LogInInput:
    email: str = strawberry.field(description="Email.")
    password: str = strawberry.field(description="Password.")
    anonymous_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=_ANONYMOUS + " Customers only: staffLogIn ignores it.")


@strawberry.input(description="A refresh token from a previous AuthPayload.")
class RefreshSessionInput:
    refresh_token: str = strawberry.field(description="The refresh token.")


@strawberry.type(description="A session: send accessToken as a Bearer token.")
class AuthPayload:
    access_token: str | None = strawberry.field(description="Short-lived JWT.")
    refresh_token: str | None = strawberry.field(
        description="Opaque; single use: each refresh returns a new one."
    )
    expires_at: datetime | None = strawberry.field(description="When accessToken expires.")
    errors: list[UserError] = strawberry.field(description="Why no session was opened.")


@strawberry.type(description="The result of logOut.")
class LogOutPayload:
    errors: list[UserError] = strawberry.field(description="Always empty: log-out succeeds.")


def _payload(session: identity.Session) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_at=session.expires_at,
        errors=[],
    )


def _client(info: Info[Context, Any]) -> str | None:
    request = info.context.request
    scope = getattr(request, "scope", None)
    return client_address(scope, get_settings().trusted_proxies) if scope else None


# Said once, on both log-ins: the app shows a countdown, never parses text.
_THROTTLED = (
    " Too many failed attempts (per account and address, per account, per address) "
    "answer a UserError RATE_LIMITED with retryAfterSeconds, without checking the "
    "password; a successful log-in clears the account's count."
)


@strawberry.type
class IdentityMutations:
    @strawberry.mutation(description="Create a customer account, its card, and a session.")
    @user_errors
    async def sign_up(self, input: SignUpInput) -> AuthPayload:
        anonymous_id = check_anonymous_id(given(input.anonymous_id))
        acquisition = given(input.acquisition)
        try:
            session = await identity.sign_up(
                email=input.email,
                password=input.password,
                first_name=input.first_name,
                locale=given(input.locale),
                timezone=given(input.timezone),
                marketing_opt_in=given(input.marketing_opt_in),
                issue_card=issue_card,
                birth_date=given(input.birth_date),
                acquisition=None if acquisition is None else identity.Acquisition(
                    acquisition.source, given(acquisition.medium), given(acquisition.campaign)),
            )
        except DomainError as e:
            # An account imported from the previous programme: the answer is
            # the link that claims it, not EMAIL_TAKEN.
            if e.code == ErrorCode.EMAIL_TAKEN and \
                    await account_emails.claim_instead_of_sign_up(normalize_email(input.email)):
                raise claim_error() from None
            raise
        if anonymous_id is not None:
            await merge_anonymous(session.principal.subject_id, anonymous_id)
        return _payload(session)

    @strawberry.mutation(description="Log a customer in." + _THROTTLED)
    @user_errors
    async def log_in(self, input: LogInInput, info: Info[Context, Any]) -> AuthPayload:
        anonymous_id = check_anonymous_id(given(input.anonymous_id))
        session = await identity.log_in(email=input.email, password=input.password,
                                        client=_client(info))
        if anonymous_id is not None:
            await merge_anonymous(session.principal.subject_id, anonymous_id)
        return _payload(session)

    @strawberry.mutation(description="Swap a refresh token for a new session (rotation).")
    @user_errors
    async def refresh_session(self, input: RefreshSessionInput) -> AuthPayload:
        return _payload(await identity.refresh_session(refresh_token=input.refresh_token))

    @strawberry.mutation(description="End the session this refresh token belongs to.")
    async def log_out(self, input: RefreshSessionInput) -> LogOutPayload:
        await identity.log_out(refresh_token=input.refresh_token)
        return LogOutPayload(errors=[])

    @strawberry.mutation(
        description="Log a staff member (cashier, manager, admin) in." + _THROTTLED
    )
    @user_errors
    async def staff_log_in(self, input: LogInInput, info: Info[Context, Any]) -> AuthPayload:
        return _payload(await identity.staff_log_in(
            email=input.email, password=input.password, client=_client(info)))
