"""The till: look a card up, earn, spend, refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from strawberry.types import Info

from api.client_permissions import StaffOrPurchasesClient
from api.context import Context
from api.permissions import IsStaff
from api.types.common import Money, MoneyInput, errors_of, given
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
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import Channel
from loyalty.models import ApiScope
from loyalty.money import Money as DomainMoney
from loyalty.money import parse_money
from loyalty.rules import Line
from wallet.cards import CardHolder, resolve_card
from wallet.holders import holder_of


def parse_id(value: str, field: str) -> int:
    try:
        parsed = int(value)
    except (TypeError, ValueError):
        raise invalid("Not a valid id.", field) from None
    if parsed <= 0 or parsed > 2**63 - 1:
        raise invalid("Not a valid id.", field)
    return parsed


def store_in_scope(info: Info[Context, Any], store_id: str) -> int:
    parsed = parse_id(store_id, "storeId")
    principal = info.context.principal
    if principal is None or not principal.may_act_in(parsed):
        raise DomainError(ErrorCode.STORE_NOT_ALLOWED, "You may not act in this store.", "storeId")
    return parsed


def names_customer(card: CardInput) -> bool:
    return given(card.customer_id) is not None or given(card.email) is not None


async def holder_named(info: Info[Context, Any], card: CardInput) -> CardHolder:
    """The holder of a card named by customerId or email: API clients with
    scope CUSTOMERS_READ only, and never beside a card."""
    principal = info.context.principal
    if principal is None or not principal.has_scope(ApiScope.CUSTOMERS_READ.value):
        raise DomainError(ErrorCode.FORBIDDEN, "Naming a customer by id or email needs an "
                          "API key with scope CUSTOMERS_READ.", "card")
    if given(card.qr_payload) is not None or given(card.card_number) is not None:
        raise invalid("Give a card or a customer, not both.", "card")
    raw_id = given(card.customer_id)
    return await holder_of(None if raw_id is None else parse_id(raw_id, "card.customerId"),
                           given(card.email))


def money(value: MoneyInput, field: str) -> DomainMoney:
    return parse_money(value.amount_minor, value.currency, field)


def _lines(input: RecordPurchaseInput, currency: str) -> tuple[Line, ...]:
    lines = []
    for i, line in enumerate(given(input.lines) or []):
        if line.quantity <= 0:
            raise invalid("quantity must be positive.", f"lines.{i}.quantity")
        price = parse_money(
            line.unit_price.amount_minor,
            line.unit_price.currency,
            f"lines.{i}.unitPrice",
            allow_zero=True,
        )
        if price.currency != currency:
            raise invalid("A line's currency must be the total's.", f"lines.{i}.unitPrice")
        lines.append(Line(line.sku, given(line.category), line.quantity, price.amount_minor))
    return tuple(lines)


async def record_one(info: Info[Context, Any], input: RecordPurchaseInput,
                     max_age: timedelta | None = None) -> RecordPurchasePayload:
    """recordPurchase's work, shared with recordPurchases (whose items may be at
    most `max_age` old, except for a retry of one already posted)."""
    try:
        store_id = store_in_scope(info, input.store_id)
        total = money(input.total, "total")
        lines = _lines(input, total.currency)
        # Earning with a code already seen is harmless: a fresh, genuine
        # code is enough, it is not consumed.
        if names_customer(input.card):
            holder = await holder_named(info, input.card)
        else:
            holder = await resolve_card(
                given(input.card.qr_payload),
                given(input.card.card_number),
                allow_expired_qr=True,
                cached=True,
            )
        purchase = dict(
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
        )
        occurred = given(input.occurred_at)
        too_old = (max_age is not None and occurred is not None
                   and occurred.tzinfo is not None
                   and occurred < datetime.now(UTC) - max_age)
        if holder.qr_error is not None or too_old:
            # An expired but genuine code, or an offline purchase past its
            # age: only a retry of what it already posted may go through
            # (same rule as redeemPoints).
            posted = await purchases.replay(**purchase)  # type: ignore[arg-type]
            if posted is None and too_old:
                raise invalid("occurredAt is older than an offline batch may be.",
                              "occurredAt")
            if posted is None:
                raise DomainError(
                    ErrorCode(holder.qr_error or "QR_EXPIRED"),
                    "This QR code has expired; ask for a fresh one.",
                    "card.qrPayload",
                )
        else:
            posted = await purchases.record_purchase(**purchase)  # type: ignore[arg-type]
    except DomainError as e:
        return RecordPurchasePayload(transaction=None, customer=None, errors=errors_of(e))
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
    async def card_lookup(
        self, info: Info[Context, Any], card: CardInput, store_id: strawberry.ID
    ) -> CardLookupPayload:
        try:
            store = store_in_scope(info, store_id)
            if names_customer(card):
                holder = await holder_named(info, card)
            else:
                holder = await resolve_card(given(card.qr_payload), given(card.card_number))
        except DomainError as e:
            return CardLookupPayload(customer=None, errors=errors_of(e))
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
        return await record_one(info, input)

    @strawberry.mutation(
        description="POS: spend points (staff token; needs a QR code not "
        "yet used for a redemption).",
        permission_classes=[IsStaff],
    )
    async def redeem_points(
        self, info: Info[Context, Any], input: RedeemPointsInput
    ) -> RedeemPointsPayload:
        try:
            store_id = store_in_scope(info, input.store_id)
            qr_payload = given(input.card.qr_payload)
            if qr_payload is None:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    "Spending points needs the customer's QR code.",
                    "card.qrPayload",
                )
            # An expired code still names its card (its MAC is checked): a till
            # retrying after the code's window gets its original result back.
            holder = await resolve_card(qr_payload, None, allow_expired_qr=True, cached=True)
            if holder.qr_error is not None:
                replay = await redemptions.replay(
                    idempotency_key=input.idempotency_key,
                    customer_id=holder.customer_id,
                    account_id=holder.account_id,
                    store_id=store_id,
                    points=input.points,
                    receipt_id=given(input.receipt_id),
                )
                if replay is None:
                    raise DomainError(
                        ErrorCode(holder.qr_error),
                        "This QR code has expired; ask for a fresh one.",
                        "card.qrPayload",
                    )
                posted = replay
            else:
                posted = await redemptions.redeem_points(
                    idempotency_key=input.idempotency_key,
                    customer_id=holder.customer_id,
                    account_id=holder.account_id,
                    store_id=store_id,
                    points=input.points,
                    spend_key=holder.spend_key,
                    receipt_id=given(input.receipt_id),
                )
        except DomainError as e:
            return RedeemPointsPayload(transaction=None, customer=None, errors=errors_of(e))
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
    async def refund_purchase(
        self, info: Info[Context, Any], input: RefundPurchaseInput
    ) -> RefundPurchasePayload:
        try:
            store_id = store_in_scope(info, input.store_id)
            given_amount = given(input.amount)
            amount = None if given_amount is None else money(given_amount, "amount")
            txn = await refunds.refund_purchase(
                idempotency_key=input.idempotency_key,
                store_id=store_id,
                receipt_id=input.receipt_id,
                amount=amount,
            )
        except DomainError as e:
            return RefundPurchasePayload(transaction=None, errors=errors_of(e))
        return RefundPurchasePayload(transaction=LedgerTransaction.of(txn), errors=[])
