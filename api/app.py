"""The ASGI application: /graphql (HTTP and graphql-transport-ws), /healthz, /readyz,
/metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from api import client_audit, fast_home, fast_till, fast_track, graphiql, probes, unsubscribe
from api.auth import BadToken, JWTBackend, may_send_bulk, principal_from_header
from api.context import Context
from api.edge import Edge
from api.errors import ApiCode
from api.limits import BodyLimits
from api.listener import PgListener
from api.metrics_auth import metrics_allowed, refused
from api.observe import count_error, flush_log, record_operation
from api.permissions import require_existing
from api.schema import build_schema
from api.security_headers import SecurityHeaders, page_csp
from api.sockets import SessionSocket, SocketLimits, sockets
from loyalty.identity.accounts import revoked_sessions
from loyalty.identity.tokens import Principal
from loyalty.ledger import reset_caches
from loyalty.platform import db
from loyalty.platform.bus import bus
from loyalty.platform.config import Settings, get_settings, set_settings
from observability import metrics
from observability.sampling import sample_forever, sample_pool


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionSocket

    @property
    def graphql_ide_html(self) -> str:
        # The app's own page and assets (api/graphiql.py), not a CDN's.
        return graphiql.page_html()

    def __init__(self, schema: Any, *, socket_limits: SocketLimits, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.socket_limits = socket_limits
        self.till = fast_till.TillPath(schema, schema.guard_caches)

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

    def _get_stream_transport_from_headers(self, headers: Any) -> None:
        # Subscriptions are served over graphql-transport-ws only, where the
        # socket checks its session (api/sockets.py); no HTTP streaming.
        return None

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
            response = await self._fast_path(request)
            if response is not None:
                return response
        return await super().run(request, context, root_value)

    async def _fast_path(self, request: Request) -> Response | None:
        """The persisted documents the view answers without the generic
        executor (ADR 0009, 0012, 0021): a JSON POST with a valid token only,
        each path trying its own principals; None lets `run` answer."""
        principal = getattr(request.scope.get("user"), "principal", None)
        if principal is None or request.scope.get("auth_error"):
            return None
        headers = request.headers
        accept = headers.get("accept", "")
        if not headers.get("content-type", "").startswith("application/json") \
                or "multipart/" in accept or "event-stream" in accept:
            return None
        # Cheapest test first: the principal, then the body.
        if principal.is_customer:
            response = await self._home_fast_path(request, principal)
            if response is not None:
                return response
        if fast_track.may_track(principal):
            response = await self._track_fast_path(request, principal)
            if response is not None:
                return response
        if fast_till.may_post(principal):
            return await self._till_fast_path(request, principal)
        return None

    async def _track_fast_path(self, request: Request, principal: Principal
                               ) -> Response | None:
        """The persisted trackEvents document straight to its use case
        (api/fast_track.py); None lets `run` answer anything else."""
        body = await request.body()
        # Every other customer request passes here: a substring test first.
        if b"trackEvents" not in body or not fast_track.storable(body):
            return None
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        events = fast_track.events_of(payload)
        if events is None or not await _still_exists(principal):
            return None
        started = time.perf_counter()
        tracked = await fast_track.track_as(principal, events)
        response = Response(self.encode_json({"data": fast_track.data_of(tracked)}),
                            media_type="application/json")
        # Counted, logged and audited as the executor's would be (api/guard.py).
        record_operation(request.scope, "trackEvents", None, "ok",
                         time.perf_counter() - started)
        return response

    async def _till_fast_path(self, request: Request, principal: Principal
                              ) -> Response | None:
        """The till's recordPurchase straight to its resolver's body
        (api/fast_till.py); None lets `run` answer anything else."""
        body = await request.body()
        if len(body) > fast_till.MAX_BODY or b"recordPurchase" not in body \
                or not fast_track.storable(body):
            return None
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        found = self.till.plan(payload)
        if found is None:
            return None
        plan, raw = found
        started = time.perf_counter()
        try:
            given = self.till.coerce(raw)
        except Exception:  # noqa: BLE001 - the executor refuses it with its own error
            return None
        if not await _still_exists(principal):
            return None
        try:
            data = await fast_till.record(plan, principal, given)
        except fast_till.HandOver as over:
            # The use case ran: the executor answers with what it gave (its
            # error, or the payload completed with its errors), not a rerun.
            over.leave_in(request.scope)
            return None
        response = Response(self.encode_json({"data": data}), media_type="application/json")
        # Counted, logged and audited as the executor's would be (api/guard.py).
        record_operation(request.scope, fast_till.FIELD, plan.operation_name, "ok",
                         time.perf_counter() - started)
        return response

    async def _home_fast_path(self, request: Request, principal: Principal
                              ) -> Response | None:
        """The persisted home document without the generic executor (ADR 0009),
        encoded as `run` encodes the executor's result; None lets `run` answer
        anything else, and anything unexpected on the way."""
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
        started = time.perf_counter()
        try:
            data = await fast_home.home_data(principal)
        except Exception:  # noqa: BLE001 - the executor answers, and masks, instead
            return None
        if data is None:
            return None
        response = Response(self.encode_json({"data": data}), media_type="application/json")
        # Counted as the executor would count it (api/guard.py).
        record_operation(request.scope, fast_home.OPERATION, None, "ok",
                         time.perf_counter() - started)
        return response

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


async def _still_exists(principal: Principal) -> bool:
    """require_existing's answer, for a fast path: when it would refuse, the
    executor refuses with its own error."""
    try:
        await require_existing(principal)
    except Exception:  # noqa: BLE001 - the executor refuses it
        return False
    return True


def _error_response(status: int, code: ApiCode, message: str) -> JSONResponse:
    count_error(code.value)
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code.value}}]},
                        status_code=status)


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


def _sample() -> None:
    metrics.SUBSCRIBERS.set(bus.subscriber_count())
    sample_pool()


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, manage_db: bool = True
) -> Starlette:
    """`manage_db=False` leaves the database to the caller (tests that also use it
    directly); the PostgreSQL listener is started either way."""
    settings = settings or get_settings()
    settings.check()
    set_settings(settings)
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
        # With several processes, any of them may answer a scrape: each
        # writes its own gauges on a timer (observability.sampling).
        sampler = (asyncio.create_task(sample_forever(_sample))
                   if metrics.multiprocess_dir() else None)
        try:
            yield
        finally:
            if sampler is not None:
                sampler.cancel()
            metrics.process_exited()
            if listener is not None:
                await listener.stop()
            await client_audit.flush()  # the API clients' last calls' lines
            flush_log()  # and the last requests' lines
            if manage_db:
                await db.close()

    async def metrics_endpoint(request: Request) -> Response:
        if not metrics_allowed(request, settings):
            return refused()
        _sample()
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/healthz", probes.healthz),
            Route("/readyz", probes.readyz_endpoint()),
            Route("/metrics", metrics_endpoint),
            *unsubscribe.routes,
            *(graphiql.routes if view.graphql_ide else []),
        ],
        middleware=[
            Middleware(Edge,
                       headers=SecurityHeaders(
                           hsts=settings.is_prod,
                           page_csp=page_csp(view.graphql_ide_html) if view.graphql_ide else None),
                       limits=BodyLimits(settings.max_body_bytes,
                                         bulk_max_bytes=settings.bulk_max_body_bytes,
                                         bulk=may_send_bulk),
                       backend=JWTBackend()),
        ],
        lifespan=lifespan,
    )
