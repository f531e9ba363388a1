"""Privacy: a customer deletes their account; support erases a customer."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.client_permissions import IsSupport
from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsCustomer, forget_principal
from api.types.common import OkPayload
from geofence import privacy as geofence_privacy
from loyalty.errors import DomainError, ErrorCode
from loyalty.identity import passwords
from loyalty.identity.privacy import erase_customer
from loyalty.identity.tokens import Principal
from loyalty.models import Customer
from notifications import privacy as notifications_privacy
from wallet import privacy as wallet_privacy

# Each package erases its own rows, in the erasure's transaction.
ERASERS = (wallet_privacy.erase, notifications_privacy.erase, geofence_privacy.erase)


async def erase(actor: Principal, customer_id: int, source: str) -> None:
    await erase_customer(actor, customer_id, source=source, erasers=ERASERS)
    # This process refuses the customer's tokens at once; others within
    # their existence cache (api/permissions.py) and the sockets close now.
    forget_principal("customer", customer_id)


@strawberry.input(description="Deleting one's own account.")
class DeleteMyAccountInput:
    password: str = strawberry.field(description="The account's password, to confirm.")


@strawberry.input(description="A customer to erase.")
class EraseCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        description="Delete the signed-in customer's account (customer token, password "
        "required): personal data erased, sessions and devices revoked, open sockets closed, "
        "the points left closed through the ledger. Irreversible.",
        permission_classes=[IsCustomer])
    @user_errors
    async def delete_my_account(self, info: Info[Context, Any],
                                input: DeleteMyAccountInput) -> OkPayload:
        principal = info.context.principal
        assert principal is not None
        customer = await Customer.get_or_none(id=principal.subject_id)
        if customer is None or not await passwords.verify_password_async(
                input.password, customer.password_hash):
            raise DomainError(ErrorCode.INVALID_CREDENTIALS, "Wrong password.", "password")
        await erase(principal, principal.subject_id, "customer")
        return OkPayload(errors=[])

    @strawberry.mutation(
        description="Customer service: erase a customer (SUPPORT or ADMIN), as "
        "deleteMyAccount does; audited.", permission_classes=[IsSupport])
    @user_errors
    async def erase_customer(self, info: Info[Context, Any],
                             input: EraseCustomerInput) -> OkPayload:
        assert info.context.principal is not None
        await erase(info.context.principal, parse_id(input.customer_id, "customerId"),
                    "support")
        return OkPayload(errors=[])
