"""Shared fixtures: a database built from the migrations, the real ASGI app
served over HTTP and WebSocket on 127.0.0.1, and client helpers.

The database is chosen by TEST_DATABASE_URL: unset means a fresh SQLite file;
`postgres://...` means PostgreSQL (a fresh database is created per run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from api.app import create_app
from audience.config import AudienceSettings, set_audience_settings
from geofence import nearby
from loyalty.identity import api_clients as api_clients_module
from loyalty.ledger import reset_caches
from loyalty.platform import db
from loyalty.platform.config import Settings, set_settings
from loyalty.programme import earn_rules as earn_rules_module
from loyalty.programme import settings as programme_module
from loyalty.programme import stores as stores_module
from loyalty.programme import tiers as tiers_module

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
PASSWORD = "correct horse battery"


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    # Remembered in the environment: test modules import this file again as
    # `tests.conftest`, and both imports must name the same database.
    if "LOYALTY_TEST_SQLITE_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="loyalty-test-")
        os.environ["LOYALTY_TEST_SQLITE_URL"] = f"sqlite://{folder}/test.sqlite3"
    return os.environ["LOYALTY_TEST_SQLITE_URL"]


DATABASE_URL = _database_url()
IS_PG = DATABASE_URL.startswith(("postgres://", "postgresql://"))


def settings_for(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(database_url=url, secret_key=TEST_SECRET, env="test",
                                  scrypt_log_n=10)
    values.update(overrides)
    return Settings(**values)


async def _fresh_pg_database(url: str) -> None:
    from api.listener import plain_dsn

    dsn = plain_dsn(url)
    name = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def database_url() -> str:
    return DATABASE_URL


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[str]:
    if IS_PG:
        await _fresh_pg_database(database_url)
    set_settings(settings_for(database_url))
    reset_caches()
    await db.init(database_url)  # from the migrations, never generated schemas
    yield database_url
    await db.close()


_TABLES = ["customer_event", "event_message", "anonymous_identity", "segment_touch",
           "audience_cursor", "segment_member", "segment", "customer_score", "audience_job",
           "staff_audit", "acquisition_cost", "value_model_fit",
           "journey_message", "journey_run", "journey_version", "journey",
           "applied_benefit", "coupon", "offer_activation", "offer_target", "offer",
           "reward", "tier_change", "customer_tier", "tier", "survey_response", "earn_rule_change",
           "earn_rule", "programme_settings", "check_in", "visit", "beacon",
           "delivery", "notification", "device", "spent_code", "purchase", "lot",
           "ledger_entry", "outbox_event", "ledger_transaction WHERE reverses_id IS NOT NULL",
           "ledger_transaction", "card", "refresh_token", "staff_store", "staff", "geofence",
           "login_throttle", "audit_log", "webhook_delivery", "webhook", "api_client",
           "consent_change", "email_token", "import_row", "import_run"]


async def _truncate_pg(conn: Any) -> None:
    """Empty the tables; a session that holds a lock on them for more than a
    few seconds (a bug: a connection left mid-answer or in a transaction) is
    ended and named, rather than hanging the whole run."""
    script = (f"SET lock_timeout = '10s'; "
              f"TRUNCATE {', '.join(t for t in _TABLES if ' ' not in t)} RESTART IDENTITY "
              "CASCADE; DELETE FROM account WHERE kind = 'customer'; DELETE FROM customer; "
              "DELETE FROM store; DELETE FROM franchise; SET lock_timeout = 0;")
    try:
        await conn.execute_script(script)
        return
    except Exception:  # noqa: BLE001 - asyncpg's LockNotAvailableError, untranslated
        pass
    from api.listener import plain_dsn

    admin = await asyncpg.connect(plain_dsn(DATABASE_URL))
    try:
        stuck = await admin.fetch(
            "SELECT pid, state, left(query, 120) AS query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND xact_start < now() - interval '5 seconds'")
        for row in stuck:
            await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
    finally:
        await admin.close()
    import logging

    # Logged, not failed here (the test that left it is over): the class is
    # tested by sessions_left_busy() in the cancellation and fuzz tests.
    logging.getLogger("tests").error("ended sessions holding the test tables: %s",
                                     [dict(r) for r in stuck])
    await conn.execute_script(script)


async def sessions_left_busy() -> list[str]:
    """PostgreSQL: the database's sessions still inside a transaction or in
    the middle of a statement once everything has had a moment to settle.
    Idle in a transaction, or "active, ClientRead" (a statement whose first
    half was sent and never followed by its Sync): each holds its locks and
    its snapshot until the connection is used again, maybe never. Asked on a
    connection of its own, before the pool is used again (using a stuck
    connection ends what it was stuck in)."""
    if not IS_PG:
        return []
    from api.listener import plain_dsn

    probe = await asyncpg.connect(plain_dsn(DATABASE_URL))
    try:
        for _ in range(30):
            rows = await probe.fetch(
                "SELECT state, wait_event, left(query, 80) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' "
                "AND (state <> 'idle' OR xact_start IS NOT NULL)")
            if not rows:
                return []
            await asyncio.sleep(0.1)
    finally:
        await probe.close()
    return [f"{r[0]} ({r[1]}): {r[2]}" for r in rows]


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts from an empty programme (system accounts at zero)."""
    if "database" not in request.fixturenames:
        yield
        return
    from tortoise import connections

    conn = connections.get("default")
    # The last test's API-key calls are audited a moment after their answers:
    # written now, before the tables are emptied, not into this test's.
    from api import client_audit

    await client_audit.flush()
    if IS_PG:
        await _truncate_pg(conn)
    else:
        for table in [*_TABLES, "account WHERE kind = 'customer'", "customer", "store",
                      "franchise"]:
            await conn.execute_script(f"DELETE FROM {table}")
    stores_module._names.clear()
    nearby.invalidate()
    tiers_module.invalidate()
    earn_rules_module.invalidate_rules()
    programme_module.invalidate()
    api_clients_module.forget_cached()
    set_settings(settings_for(DATABASE_URL))
    set_audience_settings(AudienceSettings())
    yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    ws_url: str


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Server]:
    """The app made with `settings`, served by uvicorn in this process (on the
    database the tests use, which they manage)."""
    port = _free_port()
    app = create_app(settings, manage_db=False)
    # No proxy headers, as `loyalty serve` runs it: the client address is the
    # peer unless LOYALTY_TRUSTED_PROXIES says otherwise.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", ws="websockets-sansio", proxy_headers=False)
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql")
    finally:
        srv.should_exit = True
        await task


@pytest.fixture(scope="session")
async def server(database: str) -> AsyncIterator[Server]:
    async with serving(settings_for(database)) as running:
        yield running


class GraphQLClient:
    """Posts GraphQL documents to the running server, as the app or a till would."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    def as_(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, token)

    async def raw(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> dict[str, Any]:
        headers = {}
        bearer = token if token is not None else self.token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        response = await self.http.post("/graphql", json={"query": query,
                                                          "variables": variables or {}},
                                        headers=headers)
        assert response.status_code in (200, 400), response.text
        return response.json()

    async def __call__(self, query: str, variables: dict[str, Any] | None = None,
                       token: str | None = None) -> dict[str, Any]:
        """The `data` of a response that must have no top-level errors."""
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body
        return body["data"]


@pytest.fixture
async def gql(server: Server) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield GraphQLClient(http)


SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken refreshToken expiresAt errors { code field message } }
}"""
STAFF_LOG_IN = """
mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken refreshToken errors { code field message } }
}"""
CREATE_STORE = """
mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id name } errors { code field message } }
}"""
CREATE_STAFF = """
mutation($input: CreateStaffInput!) {
  createStaff(input: $input) { staff { id email role storeIds } errors { code field message } }
}"""
ME_CARD = "query { me { id card { number qrSecret qrPeriodSeconds qr { payload } } } }"


@dataclass
class CustomerHandle:
    id: int
    token: str
    refresh_token: str
    email: str
    card_number: str
    qr_secret: str

    def qr(self) -> str:
        from wallet.qr import make_qr

        return make_qr(self.card_number, self.qr_secret).payload


@dataclass
class Shop:
    admin_token: str
    store_id: str
    other_store_id: str
    cashier_token: str


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    """An admin (made as the CLI makes it), two stores and a cashier of the first."""
    from loyalty.identity.accounts import create_admin

    await create_admin("admin@shop.test", PASSWORD)
    admin = (await gql(STAFF_LOG_IN, {"input": {"email": "admin@shop.test",
                                                  "password": PASSWORD}}))["staffLogIn"]
    store_ids = []
    for name in ("Opéra", "Bastille"):
        data = await gql(CREATE_STORE, {"input": {"name": name, "latitude": 48.87,
                                                  "longitude": 2.33,
                                                  "timezone": "Europe/Paris"}},
                         token=admin["accessToken"])
        store_ids.append(data["createStore"]["store"]["id"])
    await gql(CREATE_STAFF, {"input": {"email": "cashier@shop.test", "password": PASSWORD,
                                       "role": "CASHIER", "storeIds": [store_ids[0]]}},
              token=admin["accessToken"])
    cashier = (await gql(STAFF_LOG_IN, {"input": {"email": "cashier@shop.test",
                                                    "password": PASSWORD}}))["staffLogIn"]
    return Shop(admin["accessToken"], store_ids[0], store_ids[1], cashier["accessToken"])


async def sign_up(gql: GraphQLClient, first_name: str = "Alice",
                  email: str | None = None) -> CustomerHandle:
    email = email or f"{first_name.lower()}-{uuid.uuid4().hex[:8]}@example.test"
    auth = (await gql(SIGN_UP, {"input": {"email": email, "password": PASSWORD,
                                          "firstName": first_name, "locale": "fr-FR",
                                          "timezone": "Europe/Paris"}}))["signUp"]
    assert auth["errors"] == []
    me = (await gql(ME_CARD, token=auth["accessToken"]))["me"]
    return CustomerHandle(int(me["id"]), auth["accessToken"], auth["refreshToken"], email,
                          me["card"]["number"], me["card"]["qrSecret"])


@pytest.fixture
async def alice(gql: GraphQLClient) -> CustomerHandle:
    return await sign_up(gql, "Alice")


@pytest.fixture
async def bob(gql: GraphQLClient) -> CustomerHandle:
    return await sign_up(gql, "Bob")
