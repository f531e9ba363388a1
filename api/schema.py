"""The schema: the contract's Query, Mutation and Subscription, and its limits."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info
from strawberry.types.graphql import OperationType
from tortoise import connections

from api.admin_lists import AdminListQueries
from api.context import Context
from api.cost import max_query_cost_rule
from api.errors import from_domain, log_errors
from api.guard import GuardCaches, RequestGuard
from api.inputs import install as install_input_plans
from api.mutations.account_email import AccountEmailMutations
from api.mutations.adjustments import AdjustmentMutations
from api.mutations.admin import AdminMutations
from api.mutations.analytics import (
    AnalyticsMutations,
    AnalyticsQueries,
    ValueMutations,
    ValueQueries,
)
from api.mutations.api_clients import ApiClientMutations, ApiClientQueries
from api.mutations.checkins import CheckInMutations
from api.mutations.earn_rules import EarnRuleMutations, EarnRuleQueries
from api.mutations.events import EventMutations
from api.mutations.franchises import FranchiseMutations, FranchiseQueries
from api.mutations.geofences import GeofenceAdminMutations
from api.mutations.identity import IdentityMutations
from api.mutations.journeys import JourneyMutations, JourneyQueries
from api.mutations.notifications import NotificationMutations, NotificationQueries
from api.mutations.offers import OfferMutations
from api.mutations.offline import OfflineMutations
from api.mutations.pos import PosMutations, PosQueries
from api.mutations.privacy import PrivacyMutations
from api.mutations.profiles import ProfileQueries
from api.mutations.rewards import RewardMutations, RewardQueries
from api.mutations.segments import SegmentMutations, SegmentQueries
from api.mutations.surveys import SurveyMutations
from api.mutations.tiers import TierMutations, TierQueries
from api.mutations.webhooks import WebhookMutations, WebhookQueries
from api.permissions import IsCustomer
from api.scalars import SCALAR_MAP
from api.storable import StorableStringLiterals
from api.types.checkins import Geofence, geofence_of
from api.types.common import Money, UserError
from api.types.customer import Customer, LoyaltyCard, PointsBalance
from geofence.nearby import nearest
from loyalty.errors import DomainError
from loyalty.platform.bus import bus
from loyalty.platform.config import Settings
from loyalty.platform.sql import fetchrow
from wallet.qr import QR_PERIOD_SECONDS


async def load_me(customer_id: int) -> Customer | None:
    row = await fetchrow(
        connections.get("default"),
        "SELECT u.id, u.first_name, u.email, c.number, c.qr_secret FROM customer u "
        "JOIN card c ON c.customer_id = u.id WHERE u.id = $1",
        customer_id,
    )
    if row is None:
        return None
    return Customer(
        id=strawberry.ID(str(row[0])),
        first_name=row[1],
        email=row[2],
        card=LoyaltyCard(number=row[3], qr_secret=row[4], qr_period_seconds=QR_PERIOD_SECONDS),
    )


@strawberry.type
class CustomerQueries:
    @strawberry.field(
        description="The signed-in customer (customer token).", permission_classes=[IsCustomer]
    )
    async def me(self, info: Info[Context, Any]) -> Customer | None:
        assert info.context.principal is not None
        return await load_me(info.context.principal.subject_id)

    @strawberry.field(
        description="Geofences nearest to a point, for the phone to monitor (customer token).",
        permission_classes=[IsCustomer],
    )
    async def nearby_geofences(
        self,
        latitude: float,
        longitude: float,
        limit: Annotated[int | None, strawberry.argument(description="1 to 100.")] = 20,
    ) -> list[Geofence]:
        try:
            fences = await nearest(latitude, longitude, 20 if limit is None else limit)
        except DomainError as e:
            raise from_domain(e) from None
        return [geofence_of(f) for f in fences]


Query = merge_types(
    "Query", (CustomerQueries, PosQueries, NotificationQueries, TierQueries, RewardQueries,
              EarnRuleQueries, AdminListQueries, SegmentQueries, AnalyticsQueries,
              ProfileQueries, ValueQueries, ApiClientQueries, FranchiseQueries,
              WebhookQueries, JourneyQueries)
)
Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "What the app and the till can read."
)
Mutation = merge_types(
    "Mutation",
    (IdentityMutations, PosMutations, AdminMutations, NotificationMutations, CheckInMutations,
     GeofenceAdminMutations, TierMutations, OfferMutations, RewardMutations,
     EarnRuleMutations, SurveyMutations, EventMutations, SegmentMutations,
     AnalyticsMutations, ValueMutations, ApiClientMutations,
     FranchiseMutations, AdjustmentMutations, OfflineMutations,
     WebhookMutations, PrivacyMutations, AccountEmailMutations, JourneyMutations),
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Every write takes one `input` and returns a payload with `errors: [UserError!]!`."
)


@strawberry.type(description="Live updates over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description="The signed-in customer's balance, pushed the moment any channel changes it.",
        permission_classes=[IsCustomer],
    )
    async def points_changed(self, info: Info[Context, Any]) -> AsyncGenerator[PointsBalance]:
        from loyalty.ledger.balances import balances_for

        assert info.context.principal is not None
        customer_id = info.context.principal.subject_id
        # It ends with its socket's session (api/sockets.py): at the token's
        # expiry or a log-out, the app reconnects with a fresh token.
        async with bus.subscribe(customer_id) as queue:
            while True:
                await queue.get()
                found = await balances_for([customer_id])
                yield PointsBalance.of(found.get(customer_id))


class LoyaltySchema(strawberry.Schema):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        # Only the HTTP view executes through here (sockets subscribe): live
        # updates are served over graphql-transport-ws only, where the socket
        # checks its session; over HTTP a subscription is a 400.
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(*args, **kwargs)

    hide_suggestions = False
    guard_caches: GuardCaches

    def _get_execute_function(self) -> Callable[..., Any]:
        # Coercing variables suggests names too ("Did you mean the enum value
        # ...?"): hidden with the validation's (api/guard.py).
        execute = super()._get_execute_function()
        return partial(execute, hide_suggestions=True) if self.hide_suggestions else execute

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        # Strawberry's default logs each error with the query's text around
        # it, literals and all (a password, a refresh token): never that.
        log_errors(errors, execution_context.operation_name if execution_context else None)


def build_schema(settings: Settings) -> strawberry.Schema:
    # The depth, alias and cost rules, the token limit, the parse and validation
    # caches and masking run as one extension (api/guard.py): hooks cost per
    # request. Its caches are built once per schema and shared by requests.
    # Without introspection, the suggestions that would name the same fields
    # and values go too.
    closed = not settings.introspection_enabled
    caches = GuardCaches(
        max_tokens=settings.max_query_tokens,
        rules=[
            *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
            StorableStringLiterals,
            *([NoSchemaIntrospectionCustomRule] if closed else []),
            max_query_cost_rule(settings.max_query_cost),
        ],
        maxsize=512,
        hide_suggestions=closed,
    )
    extensions: list[Any] = [lambda: RequestGuard(caches, settings.is_prod)]
    schema = LoyaltySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=[UserError, Money],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
    schema.hide_suggestions = closed
    schema.guard_caches = caches  # the till's fast path plans with them (api/fast_till.py)
    install_input_plans(schema)
    return schema
