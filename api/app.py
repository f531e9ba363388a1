"""The ASGI application: /graphql (HTTP and graphql-transport-ws), /healthz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from api import fast_home
from api.auth import BadToken, JWTBackend, may_send_bulk, principal_from_header
from api.context import Context
from api.errors import ApiCode
from api.limits import BodySizeLimit
from api.listener import PgListener
from api.request_id import RequestId
from api.schema import build_schema
from api.security_headers import SecurityHeaders, page_csp
from api.sockets import SessionSocket, SocketLimits, sockets
from loyalty import db
from loyalty.bus import bus
from loyalty.config import Settings, get_settings, set_settings
from loyalty.identity import revoked_sessions
from loyalty.ledger import reset_caches


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionSocket

    def __init__(self, schema: Any, *, socket_limits: SocketLimits, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.socket_limits = socket_limits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as e:
            # JSON with a code, like every other error an app sees.
            response = _error_response(e.status_code, ApiCode.BAD_REQUEST, e.reason)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = json.loads(data)
        except ValueError:  # not JSON, or not UTF-8 at all
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        # A GraphQL request is an object (a list is a batch, refused later as
        # such); `"abc"`, `123` or `null` as the whole body is not one.
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The body must be a JSON object with a `query`.")
        return value

    def encode_json(self, data: object) -> str:
        # orjson: a fifteenth of json.dumps's time on a home-screen response.
        # Text, not bytes: over graphql-transport-ws bytes would go out as
        # binary frames.
        return orjson.dumps(data).decode()

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

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, Request) and request.method == "POST":
            response = await self._home_fast_path(request)
            if response is not None:
                return response
        return await super().run(request, context, root_value)

    async def _home_fast_path(self, request: Request) -> Response | None:
        """The persisted home document without the generic executor (ADR 0009),
        encoded as `run` encodes the executor's result; None lets `run` answer
        anything else, and anything unexpected on the way."""
        principal = getattr(request.scope.get("user"), "principal", None)
        if principal is None or not principal.is_customer or request.scope.get("auth_error"):
            return None
        headers = request.headers
        accept = headers.get("accept", "")
        if (not headers.get("content-type", "").startswith("application/json")
                or "multipart/" in accept or "event-stream" in accept):
            return None
        body = await request.body()  # kept by the request, should `run` need it
        if len(body) > fast_home.MAX_BODY:
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        # Only what the executor would accept as the home document unchanged:
        # any other shape (a non-string query, variables that are not an
        # object, extensions) is left to it, to answer or refuse.
        if not isinstance(payload, dict) or payload.get("extensions", None) not in (None, {}) \
                or not fast_home.matches(payload.get("query"), payload.get("variables"),
                                         payload.get("operationName")):
            return None
        try:
            data = await fast_home.home_data(principal)
        except Exception:  # noqa: BLE001 - the executor answers, and masks, instead
            return None
        if data is None:
            return None
        return Response(self.encode_json({"data": data}), media_type="application/json")

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        value = params.get("authorization") or params.get("Authorization")
        try:
            principal = principal_from_header(value if isinstance(value, str) else None)
        except BadToken as bad:
            raise ConnectionRejectionError({"message": bad.message, "code": bad.code.value}) \
                from None
        if principal is None:
            raise ConnectionRejectionError({"message": "authorization required",
                                            "code": ApiCode.UNAUTHENTICATED.value})
        # The token outlives a log-out (it is not looked up on HTTP), but a
        # socket would outlive it by hours: one query, once per socket.
        if principal.session_id is not None \
                and await revoked_sessions([principal.session_id]):
            raise ConnectionRejectionError({"message": "this session has ended",
                                            "code": ApiCode.UNAUTHENTICATED.value})
        assert context.socket is not None
        sockets.admit(context.socket, principal, self.socket_limits)
        context.principal = principal
        return None


def _error_response(status: int, code: ApiCode, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code.value}}]},
                        status_code=status)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant time: the comparison must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


async def _open_pool() -> None:
    """Open the pool's connections before serving, not under the first burst
    of requests: each costs a backend start and a few round trips, and the
    requests that wait for one make the tail latency."""
    from tortoise import connections

    client = connections.get("default")
    size = int(getattr(client, "pool_maxsize", 0) or 0)
    # Held at once, so that each takes its own connection.
    await asyncio.gather(
        *(client.execute_query("SELECT pg_sleep(0.01)") for _ in range(size))
    )


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
        connection_init_wait_timeout=timedelta(seconds=settings.read_timeout_seconds),
        # SessionSocket caps operations itself, with a coded error.
        max_subscriptions_per_connection=None,
        socket_limits=SocketLimits.of(settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            reset_caches()
            await db.init(settings.database_url, run_migrations=migrate)
            # What exists now (the schema, the modules) lives as long as the
            # process: out of the collector's sight, a full collection no longer
            # walks it mid-request (p99 latency).
            gc.collect()
            gc.freeze()
            if db.is_postgres():
                await _open_pool()
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

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token and not _bearer_matches(request, settings.metrics_token):
            response = _error_response(401, ApiCode.UNAUTHENTICATED,
                                       "Use `Authorization: Bearer <metrics token>`.")
            response.headers["www-authenticate"] = "Bearer"
            return response
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
            Middleware(SecurityHeaders, hsts=settings.is_prod,
                       page_csp=page_csp(view.graphql_ide_html) if view.graphql_ide else None),
            Middleware(RequestId),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       bulk_max_bytes=settings.bulk_max_body_bytes, bulk=may_send_bulk),
            Middleware(AuthenticationMiddleware, backend=JWTBackend()),
        ],
        lifespan=lifespan,
    )
