"""Seeding for the POS bench: an admin, a store, a cashier and customers with
their cards, made through the public API as a real deployment would."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from harness import BenchError, GraphQL, Server, make_http

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@bench.test"
CASHIER_EMAIL = "cashier@bench.test"

STAFF_LOG_IN = """mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code field message } } }"""
CREATE_STORE = """mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id name } errors { code field message } } }"""
CREATE_STAFF = """mutation($input: CreateStaffInput!) {
  createStaff(input: $input) { staff { id } errors { code field message } } }"""
SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken errors { code field message } } }"""
ME_CARD = "query { me { id card { number qrSecret } } }"



@dataclass
class CustomerInfo:
    id: int
    token: str
    card_number: str
    qr_secret: str


@dataclass
class Seed:
    store_id: str
    cashier_token: str
    customers: list[CustomerInfo]


async def seed(server: Server, n_customers: int, http_kind: str) -> Seed:
    done = await asyncio.to_thread(server.cli, "create-admin", "--email", ADMIN_EMAIL,
                                   LOYALTY_ADMIN_PASSWORD=PASSWORD)
    if done.returncode != 0:
        raise BenchError(f"create-admin failed: {done.stdout}{done.stderr}")
    gql = GraphQL(make_http(http_kind, "127.0.0.1", server.port))
    try:
        admin = (await gql.data(STAFF_LOG_IN, {"input": {"email": ADMIN_EMAIL,
                                                         "password": PASSWORD}}))["staffLogIn"]
        store = (await gql.data(CREATE_STORE, {"input": {
            "name": "Bench Opéra", "latitude": 48.87, "longitude": 2.33,
            "timezone": "Europe/Paris"}}, admin["accessToken"]))["createStore"]
        if store["errors"]:
            raise BenchError(f"createStore: {store['errors']}")
        store_id = store["store"]["id"]
        staff = (await gql.data(CREATE_STAFF, {"input": {
            "email": CASHIER_EMAIL, "password": PASSWORD, "role": "CASHIER",
            "storeIds": [store_id]}}, admin["accessToken"]))["createStaff"]
        if staff["errors"]:
            raise BenchError(f"createStaff: {staff['errors']}")
        cashier = (await gql.data(STAFF_LOG_IN, {"input": {"email": CASHIER_EMAIL,
                                                           "password": PASSWORD}}))["staffLogIn"]
        if cashier["errors"] or not cashier["accessToken"]:
            raise BenchError(f"cashier staffLogIn: {cashier['errors']}")
    finally:
        await gql.http.close()

    # signUp hashes the password with scrypt (2**14 in prod): a few at a time.
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_customers):
        queue.put_nowait(i)
    customers: list[CustomerInfo] = []

    async def signer() -> None:
        c = GraphQL(make_http(http_kind, "127.0.0.1", server.port))
        try:
            while not queue.empty():
                i = queue.get_nowait()
                auth = (await c.data(SIGN_UP, {"input": {
                    "email": f"c{i}-{run}@bench.test", "password": PASSWORD,
                    "firstName": f"Client{i}", "locale": "fr-FR",
                    "timezone": "Europe/Paris"}}))["signUp"]
                if auth["errors"]:
                    raise BenchError(f"signUp: {auth['errors']}")
                me = (await c.data(ME_CARD, token=auth["accessToken"]))["me"]
                customers.append(CustomerInfo(int(me["id"]), auth["accessToken"],
                                              me["card"]["number"], me["card"]["qrSecret"]))
        finally:
            await c.http.close()

    await asyncio.wait_for(asyncio.gather(*(signer() for _ in range(8))), 600)
    customers.sort(key=lambda c: c.id)
    return Seed(store_id, cashier["accessToken"], customers)
