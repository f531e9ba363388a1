"""The typed per-request context: who is asking, and the request's dataloaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from api.auth import BadToken
from api.loaders import AudienceLoaders
from audience.scope import CustomerScope, customer_scope
from loyalty.identity.tokens import Principal
from loyalty.ledger.balances import Balance, balances_for

if TYPE_CHECKING:
    from api.sockets import LiveSocket


async def _load_balances(ids: list[int]) -> list[Balance | None]:
    found = await balances_for(list(ids))
    return [found.get(i) for i in ids]


@dataclass
class Context:
    request: Any
    response: Any
    principal: Principal | None = None
    auth_error: BadToken | None = None
    connection_params: dict[str, Any] | None = None
    # A WebSocket's: the socket, which lives no longer than its session.
    socket: LiveSocket | None = None
    balances: DataLoader[int, Balance | None] = field(
        default_factory=lambda: DataLoader(load_fn=_load_balances)
    )
    # The 360 view's and the segments' (api/loaders.py).
    audience: AudienceLoaders = field(default_factory=AudienceLoaders)
    # Which customers the caller may be shown (customer_scope), read once.
    _customer_scope: CustomerScope | None = None

    async def customer_scope(self) -> CustomerScope:
        """The customers the signed-in staff member may be shown: every 360
        view read (audience.profiles) is made within it."""
        if self._customer_scope is None:
            assert self.principal is not None, "checked by the field's permission"
            self._customer_scope = await customer_scope(self.principal)
        return self._customer_scope
