"""The till: look a card up, earn, spend, refund."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import money, purchase_lines, store_in_scope
from api.mutations.base import user_errors
from api.permissions import IsStaff
from api.types.common import Money, given
from api.types.pos import (
    AppliedBenefit,
    CardInput,
    CardLookupPayload,
    CashierCustomerView,
    LedgerTransaction,
    RecordPurchaseInput,
    RecordPurchasePayload,
    RedeemPointsInput,
    RedeemPointsPayload,
    RefundPurchaseInput,
    RefundPurchasePayload,
)
from loyalty import purchases, redemptions, refunds
from loyalty.errors import ErrorCode, invalid
from loyalty.ledger import Channel
from loyalty.purchases import RecordPurchase
from wallet.cards import resolve_card


def _expired(qr_error: str | None) -> ErrorCode | None:
    return None if qr_error is None else ErrorCode(qr_error)


@strawberry.type
class PosQueries:
    @strawberry.field(
        description="What a cashier sees after scanning a card (staff token, store in scope).",
        permission_classes=[IsStaff],
    )
    @user_errors
    async def card_lookup(
        self, info: Info[Context, Any], card: CardInput, store_id: strawberry.ID
    ) -> CardLookupPayload:
        store = store_in_scope(info, store_id)
        holder = await resolve_card(given(card.qr_payload), given(card.card_number))
        return CardLookupPayload(customer=CashierCustomerView.of(holder, store), errors=[])


@strawberry.type
class PosMutations:
    @strawberry.mutation(
        description="POS: earn points for a purchase (staff token).", permission_classes=[IsStaff]
    )
    @user_errors
    async def record_purchase(
        self, info: Info[Context, Any], input: RecordPurchaseInput
    ) -> RecordPurchasePayload:
        store_id = store_in_scope(info, input.store_id)
        total = money(input.total, "total")
        lines = purchase_lines(input.lines, total.currency)
        # Earning with a code already seen is harmless: a fresh, genuine code
        # is enough, it is not consumed; an expired one only replays.
        holder = await resolve_card(given(input.card.qr_payload), given(input.card.card_number),
                                    allow_expired_qr=True, cached=True)
        posted = await purchases.record_purchase(RecordPurchase(
            idempotency_key=input.idempotency_key,
            customer_id=holder.customer_id,
            account_id=holder.account_id,
            store_id=store_id,
            receipt_id=input.receipt_id,
            total=total,
            channel=Channel(input.channel or Channel.STORE),
            occurred_at=given(input.occurred_at),
            lines=lines,
            coupon_code=given(input.coupon_code),
            qr_expired=_expired(holder.qr_error),
        ))
        return RecordPurchasePayload(
            transaction=LedgerTransaction.of(posted.transaction),
            customer=CashierCustomerView.of(holder, store_id, posted.available),
            errors=[],
            applied=[AppliedBenefit.of(a, total.currency) for a in posted.applied],
            discount=Money(amount_minor=posted.discount_minor, currency=total.currency),
        )

    @strawberry.mutation(
        description="POS: spend points (staff token; needs a QR code not "
        "yet used for a redemption).",
        permission_classes=[IsStaff],
    )
    @user_errors
    async def redeem_points(
        self, info: Info[Context, Any], input: RedeemPointsInput
    ) -> RedeemPointsPayload:
        store_id = store_in_scope(info, input.store_id)
        qr_payload = given(input.card.qr_payload)
        if qr_payload is None:
            raise invalid("Spending points needs the customer's QR code.", "card.qrPayload")
        # An expired code still names its card (its MAC is checked): a till
        # retrying after the code's window gets its original result back.
        holder = await resolve_card(qr_payload, None, allow_expired_qr=True, cached=True)
        posted = await redemptions.redeem_points(
            idempotency_key=input.idempotency_key,
            customer_id=holder.customer_id,
            account_id=holder.account_id,
            store_id=store_id,
            points=input.points,
            spend_key=holder.spend_key,
            receipt_id=given(input.receipt_id),
            qr_expired=_expired(holder.qr_error),
        )
        return RedeemPointsPayload(
            transaction=LedgerTransaction.of(posted.transaction),
            customer=CashierCustomerView.of(holder, store_id, posted.available),
            errors=[],
        )

    @strawberry.mutation(
        description="POS: return goods; the points they earned come back out of the account.",
        permission_classes=[IsStaff],
    )
    @user_errors
    async def refund_purchase(
        self, info: Info[Context, Any], input: RefundPurchaseInput
    ) -> RefundPurchasePayload:
        store_id = store_in_scope(info, input.store_id)
        given_amount = given(input.amount)
        txn = await refunds.refund_purchase(
            idempotency_key=input.idempotency_key,
            store_id=store_id,
            receipt_id=input.receipt_id,
            amount=None if given_amount is None else money(given_amount, "amount"),
        )
        return RefundPurchasePayload(transaction=LedgerTransaction.of(txn), errors=[])
