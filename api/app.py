"""The ASGI application: /graphql (HTTP and graphql-transport-ws), /healthz, /metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.auth import BadToken, JWTBackend, principal_from_header
from api.context import Context
from api.limits import BodySizeLimit
from api.listener import PgListener
from api.schema import build_schema
from loyalty import db
from loyalty.bus import bus
from loyalty.config import Settings, get_settings, set_settings
from loyalty.ledger import reset_caches


class GraphQLView(GraphQL):  # type: ignore[type-arg]
    async def get_context(self, request: Any, response: Any) -> Context:
        if isinstance(request, WebSocket):
            return Context(request=request, response=response)
        user = request.scope.get("user")
        principal = getattr(user, "principal", None)
        return Context(
            request=request,
            response=response,
            principal=principal,
            auth_error=request.scope.get("auth_error"),
        )

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        value = params.get("authorization") or params.get("Authorization")
        try:
            principal = principal_from_header(value if isinstance(value, str) else None)
        except BadToken:
            raise ConnectionRejectionError({"message": "invalid token"}) from None
        if principal is None:
            raise ConnectionRejectionError({"message": "authorization required"})
        context.principal = principal
        return None


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, manage_db: bool = True
) -> Starlette:
    """`manage_db=False` leaves the database to the caller (tests that also use it
    directly); the PostgreSQL listener is started either way."""
    settings = settings or get_settings()
    settings.check()
    set_settings(settings)
    started = time.time()
    schema = build_schema(settings)
    view = GraphQLView(
        schema,
        graphql_ide="graphiql" if not settings.is_prod else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        allow_queries_via_get=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            reset_caches()
            await db.init(settings.database_url, run_migrations=migrate)
        listener = None
        if db.is_postgres():
            listener = PgListener(settings.database_url)
            await listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            if manage_db:
                await db.close()

    async def healthz(request: Request) -> JSONResponse:
        from tortoise import connections

        await connections.get("default").execute_query("SELECT 1")
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(request: Request) -> PlainTextResponse:
        lines = [
            "# TYPE loyalty_uptime_seconds gauge",
            f"loyalty_uptime_seconds {time.time() - started:.0f}",
            "# TYPE loyalty_subscribers gauge",
            f"loyalty_subscribers {bus.subscriber_count()}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n")

    return Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
        ],
        middleware=[
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            Middleware(AuthenticationMiddleware, backend=JWTBackend()),
        ],
        lifespan=lifespan,
    )
