"""Domain errors with stable codes that clients branch on."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    QR_EXPIRED = "QR_EXPIRED"
    QR_ALREADY_USED = "QR_ALREADY_USED"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    DUPLICATE_RECEIPT = "DUPLICATE_RECEIPT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    REFUND_EXCEEDS_PURCHASE = "REFUND_EXCEEDS_PURCHASE"
    STORE_NOT_ALLOWED = "STORE_NOT_ALLOWED"
    OFFER_NOT_AVAILABLE = "OFFER_NOT_AVAILABLE"
    CHECKIN_REJECTED = "CHECKIN_REJECTED"
    RATE_LIMITED = "RATE_LIMITED"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    COUPON_EXPIRED = "COUPON_EXPIRED"
    COUPON_ALREADY_USED = "COUPON_ALREADY_USED"
    # A coupon limited to other channels (STORE, WEB, PHONE) than this store's,
    # or an amount off in another currency than the purchase's.
    COUPON_NOT_VALID_HERE = "COUPON_NOT_VALID_HERE"
    REWARD_NOT_AVAILABLE = "REWARD_NOT_AVAILABLE"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    SURVEY_ALREADY_ANSWERED = "SURVEY_ALREADY_ANSWERED"
    SURVEY_NOT_ELIGIBLE = "SURVEY_NOT_ELIGIBLE"
    # A valid token that may not do this one thing (another customer's data, an
    # API client without the scope, a role over its adjustment ceiling).
    FORBIDDEN = "FORBIDDEN"
    # A segment (or journey) definition that does not validate; `field` is its path.
    INVALID_DEFINITION = "INVALID_DEFINITION"
    # A journey that can no longer change (archived): create a new one.
    JOURNEY_NOT_EDITABLE = "JOURNEY_NOT_EDITABLE"
    # signUp with the email of an imported account that has no password yet:
    # a link to claim it was emailed instead (loyalty/identity/email_tokens.py).
    CLAIM_LINK_SENT = "CLAIM_LINK_SENT"


class DomainError(Exception):
    """A refusal the caller can act on; `field` names the input at fault."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code}, {self.message!r}, field={self.field!r})"


class DomainErrors(DomainError):
    """Several refusals at once (every fault of a definition, each with its
    path), so that an editor shows them all; the first stands for the rest."""

    def __init__(self, errors: list[DomainError]) -> None:
        assert errors, "DomainErrors needs at least one error"
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = list(errors)


class RateLimited(DomainError):
    """Too many attempts: RATE_LIMITED, and when the caller may try again."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after_seconds = max(1, retry_after_seconds)


def invalid(message: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)
