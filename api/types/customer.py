"""The customer's side: the card, the balance, the history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

import wallet.qr as qr_module
from api.context import Context
from api.types.checkins import Visit, VisitConnection, VisitEdge
from api.types.common import (
    Channel,
    LedgerKind,
    PageInfo,
    clamp_first,
    decode_cursor,
    encode_cursor,
    given,
)
from api.types.notifications import NotificationStatus
from api.types.programme import Coupon
from geofence.visits import list_visits
from loyalty.ledger.balances import Balance, history
from loyalty.programme.coupons import list_coupons
from loyalty.programme.offers import OfferView, offers_for
from notifications.inbox import list_inbox
from wallet.qr import make_qr
from wallet.render import qr_svg


@strawberry.type(description="One QR code to show at the till; single-use for redemptions.")
class QrCode:
    payload: str = strawberry.field(description="The text encoded in the QR code.")
    expires_at: datetime = strawberry.field(
        description="The first instant the server refuses this code (QR_EXPIRED)."
    )

    @strawberry.field(description="The code drawn as an SVG document (quiet zone included).")
    def svg(self) -> str:
        return qr_svg(self.payload)


@strawberry.type(description="The customer's loyalty card.\n\n" + (qr_module.__doc__ or ""))
class LoyaltyCard:
    number: str = strawberry.field(
        description="The printed card number: 12 digits, the last a Luhn check digit."
    )
    qr_secret: str = strawberry.field(
        description="Lets the app compute rotating codes offline (see the type description)."
    )
    qr_period_seconds: int = strawberry.field(
        description="How often the app should draw a new code, in seconds."
    )

    @strawberry.field(description="A fresh code: each fetch gives a new one.")
    def qr(self) -> QrCode:
        code = make_qr(self.number, self.qr_secret)
        return QrCode(payload=code.payload, expires_at=code.expires_at)


@strawberry.type(description="Points about to expire.")
class PointsExpiry:
    points: int = strawberry.field(description="Points that expire at `expiresAt`.")
    expires_at: datetime = strawberry.field(description="When they expire.")


@strawberry.type(description="A customer's points.")
class PointsBalance:
    available: int = strawberry.field(
        description="Points usable now. Negative after a refund of points already spent; "
        "later earnings repay it first."
    )
    pending: int = strawberry.field(description="Earned, not yet usable (return window).")
    lifetime_earned: int = strawberry.field(description="All points ever earned, net of refunds.")
    next_expiry: PointsExpiry | None = strawberry.field(
        description="The next points to expire, if any."
    )

    @staticmethod
    def of(balance: Balance | None) -> PointsBalance:
        if balance is None:
            return PointsBalance(available=0, pending=0, lifetime_earned=0, next_expiry=None)
        expiry = None
        if balance.next_expiry_at is not None and balance.next_expiry_points:
            expiry = PointsExpiry(
                points=balance.next_expiry_points, expires_at=balance.next_expiry_at
            )
        return PointsBalance(
            available=balance.available,
            pending=balance.pending,
            lifetime_earned=balance.lifetime_earned,
            next_expiry=expiry,
        )


@strawberry.type(description="The customer's tier.")
class TierStatus:
    name: str = strawberry.field(description="The tier's name.")
    points_to_next_tier: int | None = strawberry.field(
        description="Points still to earn in the current qualification period for the next "
        "tier (minor units of spend when tiers qualify on spend), never below 0; null at the top."
    )
    next_tier: str | None = strawberry.field(description="The next tier's name.")


@strawberry.type(description="One line of the customer's points history.")
class LedgerEntry:
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    kind: LedgerKind = strawberry.field(description="What happened.")
    points: int = strawberry.field(description="Signed, from this customer's point of view.")
    balance_after: int = strawberry.field(description="Available + pending right after.")
    channel: Channel = strawberry.field(description="Where it happened.")
    store_name: str | None = strawberry.field(description="The store, when there is one.")
    description: str = strawberry.field(description="Human-readable why.")


@strawberry.type(description="An edge of the history.")
class LedgerEntryEdge:
    cursor: str = strawberry.field(description="Opaque position of this entry.")
    node: LedgerEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of history, newest first.")
class LedgerEntryConnection:
    edges: list[LedgerEntryEdge] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


async def history_connection(customer_id: int, first: int | None,
                             after: str | None) -> LedgerEntryConnection:
    """A page of a customer's history, newest first (the app's `me.history`
    and the staff 360 view's)."""
    size = clamp_first(first)
    before_id = decode_cursor("entry", after)
    items = await history(customer_id, size + 1, before_id)
    edges = [
        LedgerEntryEdge(
            cursor=encode_cursor("entry", i.id),
            node=LedgerEntry(
                id=strawberry.ID(str(i.id)),
                occurred_at=i.occurred_at,
                kind=LedgerKind(i.kind),
                points=i.points,
                balance_after=i.balance_after,
                channel=Channel(i.channel),
                store_name=i.store_name,
                description=i.description,
            ),
        )
        for i in items[:size]
    ]
    return LedgerEntryConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None
        ),
    )


@strawberry.type(description="An offer the customer may use.")
class Offer:
    id: strawberry.ID = strawberry.field(description="The offer's id.")
    title: str = strawberry.field(description="Short title.")
    description: str = strawberry.field(description="What the offer gives.")
    activated: bool = strawberry.field(description="Whether it is clipped to the card.")
    expires_at: datetime | None = strawberry.field(description="When it ends.")

    @staticmethod
    def of(view: OfferView) -> Offer:
        return Offer(
            id=strawberry.ID(str(view.id)),
            title=view.title,
            description=view.description,
            activated=view.activated,
            expires_at=view.expires_at,
        )


@strawberry.type(description="An in-app inbox message.")
class Notification:
    id: strawberry.ID = strawberry.field(description="The message's id.")
    title: str = strawberry.field(description="Title.")
    body: str = strawberry.field(description="Body.")
    sent_at: datetime = strawberry.field(description="When it was sent.")
    read_at: datetime | None = strawberry.field(description="When it was read.")
    status: NotificationStatus = strawberry.field(
        description="Where its push stands (pending, sent, inbox only, failed)."
    )
    status_reason: str | None = strawberry.field(
        description="Why it is inbox only, failed or being retried (push opt-out, no device, "
        "UNREGISTERED...); null when there is nothing to explain."
    )


@strawberry.type(description="An edge of the inbox.")
class NotificationEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: Notification = strawberry.field(description="The message.")


@strawberry.type(description="A page of the inbox, newest first.")
class NotificationConnection:
    edges: list[NotificationEdge] = strawberry.field(description="The messages.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="The signed-in customer.")
class Customer:
    id: strawberry.ID = strawberry.field(description="The customer's id.")
    first_name: str = strawberry.field(description="First name.")
    email: str = strawberry.field(description="Email, normalised to lower case.")
    card: LoyaltyCard = strawberry.field(description="The loyalty card.")

    @strawberry.field(description="The points balance.")
    async def points(self, info: Info[Context, Any]) -> PointsBalance:
        return PointsBalance.of(await info.context.balances.load(int(self.id)))

    @strawberry.field(
        description="The customer's own data, everything the programme holds on them (GDPR "
        "access), table by table as JSON; credentials and keys left out."
    )
    async def export_data(self) -> JSON:
        from loyalty.identity.privacy import export_data

        return cast(JSON, await export_data(int(self.id)))

    @strawberry.field(
        description="Tier status; null while the programme has no tiers. A customer who has "
        "not reached the first tier yet gets an empty `name`, with `nextTier` and "
        "`pointsToNextTier` naming the first tier and what it still takes."
    )
    async def tier(self) -> TierStatus | None:
        from datetime import UTC

        from tortoise import connections

        from loyalty.programme.tiers import tier_status

        status = await tier_status(connections.get("default"), int(self.id), datetime.now(UTC))
        if status is None:
            return None
        return TierStatus(
            name=status.name,
            points_to_next_tier=status.points_to_next_tier,
            next_tier=None if status.next_tier is None else status.next_tier.name,
        )

    @strawberry.field(description="Points history, newest first, cursor-paginated.")
    async def history(
        self,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="A cursor.")
        ] = strawberry.UNSET,
    ) -> LedgerEntryConnection:
        return await history_connection(int(self.id), first, given(after))

    @strawberry.field(
        description="Offers the customer may use now (those of every store included); "
        "`activateOffer` clips one to the card."
    )
    async def offers(self) -> list[Offer]:
        from tortoise import connections

        now = datetime.now(UTC)
        found = await offers_for(connections.get("default"), int(self.id), None, now)
        return [Offer.of(v) for v in found]

    @strawberry.field(
        description="The customer's coupons: usable ones first (soonest to expire first), "
        "then used or expired ones."
    )
    async def coupons(self) -> list[Coupon]:
        from tortoise import connections

        now = datetime.now(UTC)
        return [Coupon.of(c) for c in await list_coupons(connections.get("default"),
                                                         int(self.id), now)]

    @strawberry.field(description="The in-app inbox, newest first, cursor-paginated.")
    async def notifications(
        self,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="A cursor.")
        ] = strawberry.UNSET,
    ) -> NotificationConnection:
        size = clamp_first(first)
        before_id = decode_cursor("notification", given(after))
        items = await list_inbox(int(self.id), size + 1, before_id)
        edges = [
            NotificationEdge(
                cursor=encode_cursor("notification", i.id),
                node=Notification(
                    id=strawberry.ID(str(i.id)),
                    title=i.title,
                    body=i.body,
                    sent_at=i.sent_at or i.created_at,
                    read_at=i.read_at,
                    status=NotificationStatus.of(i.status),
                    status_reason=i.reason,
                ),
            )
            for i in items[:size]
        ]
        return NotificationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(description="Store visits from check-ins, newest first, cursor-paginated.")
    async def visits(
        self,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="A cursor.")
        ] = strawberry.UNSET,
    ) -> VisitConnection:
        size = clamp_first(first)
        before_id = decode_cursor("visit", given(after))
        items = await list_visits(int(self.id), size + 1, before_id)
        edges = [VisitEdge(cursor=encode_cursor("visit", v.id), node=Visit.of(v))
                 for v in items[:size]]
        return VisitConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None
            ),
        )
