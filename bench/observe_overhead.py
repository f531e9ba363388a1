#!/usr/bin/env python
"""What observing a request costs: metrics, the request's log line, the
operation's label, measured in the server's own CPU time.

    python bench/observe_overhead.py [--requests 3000] [--rounds 6]

The real app (production settings, JSON logs to /dev/null) is driven in this
process through its ASGI interface, with no network and no client in the
measurement, on PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/loyalty_bench_observe, dropped and
re-created). Two variants alternate in rounds so that the machine's drift
falls on all: `observed` (as shipped), `metrics` (no request line) and
`bare` (the request edge without its HTTP metrics and line, operations not
counted, no request line). For
the home screen (fast path, 20 history entries), recordPurchase and the
GraphQL floor (a cardLookup refused before any SQL) it prints CPU
microseconds per request, the median over rounds, and the difference.

On a busy machine those figures move by tens of microseconds from run to run;
`--micro` times the added code alone around an app that does nothing, which
is steadier and is what the end-to-end figures should differ by.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import fresh_database  # noqa: E402
from pos_bench import FLOOR, HOME, RECORD_PURCHASE  # noqa: E402
from pos_seed import CREATE_STAFF, CREATE_STORE, ME_CARD, PASSWORD, SIGN_UP, STAFF_LOG_IN  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench_observe"


class Asgi:
    """POSTs GraphQL to an ASGI app in-process, as uvicorn would hand it over."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = None) -> dict[str, Any]:
        body = orjson.dumps({"query": query, **({"variables": variables} if variables else {})})
        headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return orjson.loads(b"".join(chunks))

    async def data(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = None) -> dict[str, Any]:
        result = await self.post(query, variables, token)
        if result.get("errors"):
            raise RuntimeError(result["errors"])
        return result["data"]


SECRET = "kR3v-9QzT_wL8mXb2NcYp5HdJ7fGs1Ae4UoVi6xW"


def settings_for(dsn: str) -> Any:
    from loyalty.platform.config import Settings

    return Settings(database_url=dsn, env="prod", secret_key=SECRET, scrypt_log_n=10,
                    log_format="json")


def _nothing(*_: Any, **__: Any) -> None:
    return None


def make_app(settings: Any) -> Any:
    """The app as `loyalty serve` builds it."""
    import api.app

    return api.app.create_app(settings, migrate=False, manage_db=False)


_shipped: dict[str, Any] = {}


def use(variant: str, settings: Any) -> None:
    """What is looked up per request: the operation counter and the request's logger."""
    import api.app
    import api.guard
    from api import logs, observe

    shipped = _shipped.setdefault("request_done", observe.request_done)
    observe.request_done = shipped if variant != "bare" else _nothing  # type: ignore[assignment]
    if variant in ("observed", "metrics"):
        api.app.record_operation = observe.record_operation
        api.guard.record_operation = observe.record_operation
        logs.configure(settings, open(os.devnull, "w"))  # noqa: SIM115
        if variant == "metrics":
            observe.access_log = None
    else:
        api.app.record_operation = _nothing
        api.guard.record_operation = _nothing
        observe.access_log = None


async def seed(gql: Asgi) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(store id, cashier token, customers as (token, card number, qr secret))."""
    from loyalty.identity.accounts import create_admin

    await create_admin("admin@bench.test", PASSWORD)
    admin = (await gql.data(STAFF_LOG_IN, {"input": {"email": "admin@bench.test",
                                                     "password": PASSWORD}}))["staffLogIn"]
    store = (await gql.data(CREATE_STORE, {"input": {
        "name": "Bench", "latitude": 48.87, "longitude": 2.33, "timezone": "Europe/Paris"}},
        admin["accessToken"]))["createStore"]["store"]["id"]
    await gql.data(CREATE_STAFF, {"input": {"email": "cashier@bench.test", "password": PASSWORD,
                                            "role": "CASHIER", "storeIds": [store]}},
                   admin["accessToken"])
    cashier = (await gql.data(STAFF_LOG_IN, {"input": {"email": "cashier@bench.test",
                                                       "password": PASSWORD}}))["staffLogIn"]
    customers = []
    for i in range(5):
        auth = (await gql.data(SIGN_UP, {"input": {
            "email": f"c{i}@bench.test", "password": PASSWORD, "firstName": f"C{i}"}}))["signUp"]
        me = (await gql.data(ME_CARD, token=auth["accessToken"]))["me"]
        customers.append((auth["accessToken"], me["card"]["number"], me["card"]["qrSecret"]))
    return store, cashier["accessToken"], customers


def purchase_args(store: str, card: str, secret: str) -> dict[str, Any]:
    from wallet.qr import make_qr

    key = uuid.uuid4().hex
    return {"input": {"idempotencyKey": key, "receiptId": "r" + key,
                      "card": {"qrPayload": make_qr(card, secret).payload}, "storeId": store,
                      "total": {"amountMinor": 1234, "currency": "EUR"}}}


async def measure(gql: Asgi, kind: str, n: int, store: str, cashier: str,
                  customers: list[tuple[str, str, str]]) -> float:
    """CPU microseconds per request of this process."""
    started = time.process_time()
    for i in range(n):
        token, card, secret = customers[i % len(customers)]
        if kind == "home":
            body = await gql.post(HOME, token=token)
        elif kind == "purchase":
            body = await gql.post(RECORD_PURCHASE, purchase_args(store, card, secret), cashier)
        else:
            body = await gql.post(FLOOR, {"store": store}, cashier)
        if body.get("errors"):
            raise RuntimeError(body["errors"])
    return (time.process_time() - started) / n * 1e6


async def amain(args: argparse.Namespace) -> int:
    from loyalty.platform import db

    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    await fresh_database(dsn)
    await db.init(dsn)
    try:
        settings = settings_for(dsn)
        app = Asgi(make_app(settings))
        gql = {"observed": app, "metrics": app, "bare": app}
        use("bare", settings)
        store, cashier, customers = await seed(gql["bare"])
        for _token, card, secret in customers:  # 21+ entries: a full history page
            for _ in range(21):
                await gql["bare"].data(RECORD_PURCHASE, purchase_args(store, card, secret),
                                       cashier)
        # As the app's lifespan does in `loyalty serve`: what exists now lives
        # as long as the process, out of the collector's sight.
        gc.collect()
        gc.freeze()
        kinds = {"home": args.requests, "purchase": args.requests // 4,
                 "floor": args.requests}
        results: dict[tuple[str, str], list[float]] = {}
        for round_no in range(args.rounds):
            order = ["observed", "metrics", "bare"]
            if round_no % 2:
                order.reverse()
            for kind, n in kinds.items():
                for name in order:
                    use(name, settings)
                    results.setdefault((kind, name), []).append(
                        await measure(gql[name], kind, n, store, cashier, customers))
        print(f"CPU us/request of the server process, median of {args.rounds} rounds "
              f"({args.requests} home and floor requests, {args.requests // 4} purchases "
              "per round and variant)")
        print(f"{'request':<12}{'bare':>10}{'metrics':>10}{'observed':>10}{'diff':>10}"
              f"{'ratio':>8}")
        for kind in kinds:
            bare, counted, seen = (statistics.median(results[(kind, v)])
                                   for v in ("bare", "metrics", "observed"))
            print(f"{kind:<12}{bare:>10.1f}{counted:>10.1f}{seen:>10.1f}{seen - bare:>+10.1f}"
                  f"{seen / bare:>8.3f}")
    finally:
        await db.close()
    return 0


async def micro(n: int = 200_000) -> int:
    """The added code alone, around an app that does nothing: steadier than the
    end-to-end figures on a busy machine, and what they should differ by."""
    from graphql import parse

    from api import logs, observe
    from api.auth import JWTBackend
    from api.edge import Edge
    from api.limits import BodyLimits
    from api.security_headers import SecurityHeaders

    def edge() -> Edge:
        return Edge(nothing_app, headers=SecurityHeaders(hsts=False),
                    limits=BodyLimits(1 << 20), backend=JWTBackend())

    async def nothing_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {}

    async def per_request(app: Any, extra: Any = None) -> float:
        scope = {"type": "http", "path": "/graphql", "method": "POST", "headers": []}
        started = time.process_time()
        for _ in range(n):
            request = dict(scope)
            if extra is not None:
                extra(request)
            await app(request, receive, send)
        return (time.process_time() - started) / n * 1e6

    document = parse(HOME)

    def operation(scope: Any) -> None:
        label, _ = observe.describe_operation(HOME, document, None, True)
        observe.record_operation(scope, label, None, "ok", 0.0004)

    observe.access_log = None
    bare = await per_request(nothing_app)
    middleware = await per_request(edge())
    counted = await per_request(edge(), operation)
    logs.configure(settings_for("sqlite://:memory:"), open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
    logged = await per_request(edge(), operation)
    print(f"CPU us per request, {n} requests, added to an app that does nothing:")
    print(f"  the request edge and HTTP metrics    {middleware - bare:6.2f}")
    print(f"  + the operation's label and metrics  {counted - middleware:6.2f}")
    print(f"  + the JSON request line (/dev/null)  {logged - counted:6.2f}")
    print(f"  total                                {logged - bare:6.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro", action="store_true",
                        help="only the added code, around an app that does nothing (no database)")
    parser.add_argument("--requests", type=int, default=3000, help="home and floor requests "
                        "per round and variant (purchases: a quarter)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    args = parser.parse_args()
    return asyncio.run(micro() if args.micro else amain(args))


if __name__ == "__main__":
    sys.exit(main())
