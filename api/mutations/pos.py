"""The till: look a card up, earn, spend, refund."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import strawberry
from strawberry.types import Info

from api.client_permissions import StaffOrPurchasesClient
from api.context import Context
from api.convert import money, parse_id, purchase_lines, store_for, store_in_scope
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
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity.tokens import Principal
from loyalty.ledger import Channel
from loyalty.models import ApiScope
from loyalty.points import purchases, redemptions, refunds
from loyalty.points.purchases import RecordPurchase
from wallet.cards import CardHolder, resolve_card
from wallet.holders import holder_of

# Where the till's fast path (api/fast_till.py) leaves, for the executor, what
# recordPurchase's use case gave in this request when it could not answer
# itself: (idempotency key, payload or exception).
TILL_OUTCOME = "loyalty.till_outcome"


def _expired(qr_error: str | None) -> ErrorCode | None:
    return None if qr_error is None else ErrorCode(qr_error)


def names_customer(card: CardInput) -> bool:
    return given(card.customer_id) is not None or given(card.email) is not None


async def holder_named(principal: Principal | None, card: CardInput) -> CardHolder:
    """The holder of a card named by customerId or email: API clients with
    scope CUSTOMERS_READ only, and never beside a card."""
    if principal is None or not principal.has_scope(ApiScope.CUSTOMERS_READ.value):
        raise DomainError(ErrorCode.FORBIDDEN, "Naming a customer by id or email needs an "
                          "API key with scope CUSTOMERS_READ.", "card")
    if given(card.qr_payload) is not None or given(card.card_number) is not None:
        raise invalid("Give a card or a customer, not both.", "card")
    raw_id = given(card.customer_id)
    return await holder_of(None if raw_id is None else parse_id(raw_id, "card.customerId"),
                           given(card.email))


@user_errors
async def record_one(principal: Principal | None, input: RecordPurchaseInput,
                     max_age: timedelta | None = None) -> RecordPurchasePayload:
    """recordPurchase's work for `principal`, shared with recordPurchases
    (whose items may be at most `max_age` old, except for a retry of one
    already posted) and the till's fast path (api/fast_till.py)."""
    store_id = store_for(principal, input.store_id)
    total = money(input.total, "total")
    lines = purchase_lines(input.lines, total.currency)
    # Earning with a code already seen is harmless: a fresh, genuine code is
    # enough, it is not consumed; an expired one only replays.
    if names_customer(input.card):
        holder = await holder_named(principal, input.card)
    else:
        holder = await resolve_card(given(input.card.qr_payload),
                                    given(input.card.card_number),
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
        max_age=max_age,
    ))
    return RecordPurchasePayload(
        transaction=LedgerTransaction.of(posted.transaction),
        customer=CashierCustomerView.of(holder, store_id, posted.available),
        errors=[],
        applied=[AppliedBenefit.of(a, total.currency) for a in posted.applied],
        discount=Money(amount_minor=posted.discount_minor, currency=total.currency),
    )


@strawberry.type
class PosQueries:
    @strawberry.field(
        description="What a cashier sees after scanning a card (staff token, store in scope; "
        "or an API key with scope PURCHASES, store among its stores).",
        permission_classes=[StaffOrPurchasesClient],
    )
    @user_errors
    async def card_lookup(
        self, info: Info[Context, Any], card: CardInput, store_id: strawberry.ID
    ) -> CardLookupPayload:
        store = store_in_scope(info, store_id)
        if names_customer(card):
            holder = await holder_named(info.context.principal, card)
        else:
            holder = await resolve_card(given(card.qr_payload), given(card.card_number))
        return CardLookupPayload(customer=CashierCustomerView.of(holder, store), errors=[])


@strawberry.type
class PosMutations:
    @strawberry.mutation(
        description="POS: earn points for a purchase (staff token, or an API key with scope "
        "PURCHASES in its stores; with CUSTOMERS_READ too, the card may name the customer).",
        permission_classes=[StaffOrPurchasesClient],
    )
    async def record_purchase(
        self, info: Info[Context, Any], input: RecordPurchaseInput
    ) -> RecordPurchasePayload:
        scope = getattr(info.context.request, "scope", None)
        ran = scope.pop(TILL_OUTCOME, None) if scope is not None else None
        if ran is not None and ran[0] == input.idempotency_key:
            # The fast path ran the use case already: its outcome, not a rerun.
            if isinstance(ran[1], BaseException):
                raise ran[1]
            return cast(RecordPurchasePayload, ran[1])
        return await record_one(info.context.principal, input)

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
        description="POS: return goods; the points they earned come back out of the account "
        "(staff token, or an API key with scope PURCHASES in its stores).",
        permission_classes=[StaffOrPurchasesClient],
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
