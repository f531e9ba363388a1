"""Password reset and email verification by emailed link, through a real SMTP
server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tortoise import connections

from loyalty.platform.config import set_settings
from notifications import account_emails
from tests.conftest import DATABASE_URL, PASSWORD, settings_for

REQUEST_RESET = """
mutation($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code } } }"""
RESET = """
mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { errors { code field } } }"""
REQUEST_VERIFY = "mutation { requestEmailVerification { errors { code } } }"
VERIFY = """
mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { errors { code field } } }"""
LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { accessToken errors { code } } }"""
REFRESH = """
mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { errors { code } } }"""
NEW_PASSWORD = "a brand new passphrase"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content,  # type: ignore[arg-type]
                                                 policy=policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == b"s3cret")

    def token(self, index: int = -1) -> str:
        body = self.messages[index].get_content()
        found = re.search(r"token=([A-Za-z0-9_\-]+)", body)
        assert found is not None, body
        return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox(database) -> Iterator[Inbox]:
    box = Inbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate,
                            auth_require_tls=False)
    controller.start()
    set_settings(settings_for(DATABASE_URL, smtp_url=f"smtp://shop%40mail:s3cret@127.0.0.1:{port}",
                              email_from="Loyalty <no-reply@shop.test>",
                              email_link_url="https://app.shop.test/account"))
    account_emails.use_sender(None)
    yield box
    controller.stop()
    account_emails.use_sender(None)


async def test_a_customer_resets_their_password_once_with_the_emailed_link(gql, alice, inbox):
    await gql(REQUEST_RESET, {"input": {"email": alice.email.upper()}})
    await gql(REQUEST_RESET, {"input": {"email": "nobody@example.test"}})
    await gql(REQUEST_RESET, {"input": {"email": alice.email}})  # within a minute: not again
    assert len(inbox.messages) == 1 and inbox.logins == ["shop@mail"]
    mail = inbox.messages[0]
    assert mail["To"] == alice.email and mail["Subject"] == "Réinitialisez votre mot de passe"
    assert "https://app.shop.test/account?purpose=reset&token=" in mail.get_content()
    token = inbox.token()
    # Only the hash is kept.
    _, rows = await connections.get("default").execute_query("SELECT token_hash FROM email_token")
    assert token not in str(rows)

    weak = await gql(RESET, {"input": {"token": token, "password": "short"}})
    assert weak["resetPassword"]["errors"] == [{"code": "INVALID_INPUT", "field": "password"}]
    done = await gql(RESET, {"input": {"token": token, "password": NEW_PASSWORD}})
    assert done["resetPassword"]["errors"] == []
    again = await gql(RESET, {"input": {"token": token, "password": NEW_PASSWORD + "!"}})
    assert again["resetPassword"]["errors"] == [{"code": "INVALID_INPUT", "field": "token"}]
    assert (await gql(LOG_IN, {"input": {"email": alice.email, "password": NEW_PASSWORD}})
            )["logIn"]["errors"] == []
    assert (await gql(LOG_IN, {"input": {"email": alice.email, "password": PASSWORD}})
            )["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    # Every earlier session ended with the reset.
    old = await gql(REFRESH, {"input": {"refreshToken": alice.refresh_token}})
    assert old["refreshSession"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]


async def test_expired_and_forged_links_and_email_verification(gql, alice, bob, inbox):
    await gql(REQUEST_RESET, {"input": {"email": bob.email}})
    await connections.get("default").execute_query(
        "UPDATE email_token SET expires_at = created_at")
    expired = await gql(RESET, {"input": {"token": inbox.token(), "password": NEW_PASSWORD}})
    assert expired["resetPassword"]["errors"] == [{"code": "INVALID_INPUT", "field": "token"}]
    forged = await gql(RESET, {"input": {"token": "x" * 43, "password": NEW_PASSWORD}})
    assert forged["resetPassword"]["errors"] == [{"code": "INVALID_INPUT", "field": "token"}]

    await gql(REQUEST_VERIFY, token=alice.token)
    assert inbox.messages[-1]["Subject"] == "Confirmez votre adresse email"
    token = inbox.token()
    # A verification link does not reset a password.
    crossed = await gql(RESET, {"input": {"token": token, "password": NEW_PASSWORD}})
    assert crossed["resetPassword"]["errors"] == [{"code": "INVALID_INPUT", "field": "token"}]
    assert (await gql(VERIFY, {"input": {"token": token}}))["verifyEmail"]["errors"] == []
    assert (await gql(VERIFY, {"input": {"token": token}}))["verifyEmail"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "token"}]
    _, rows = await connections.get("default").execute_query(
        f"SELECT email_verified_at FROM customer WHERE id = {alice.id}")
    assert rows[0][0] is not None
    anonymous = await gql.raw(REQUEST_VERIFY)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_mail_server_that_is_down_changes_nothing_for_the_caller(gql, alice, inbox):
    set_settings(settings_for(DATABASE_URL, smtp_url=f"smtp://127.0.0.1:{_free_port()}"))
    account_emails.use_sender(None)
    answer = await gql(REQUEST_RESET, {"input": {"email": alice.email}})
    assert answer["requestPasswordReset"]["errors"] == []
    assert inbox.messages == []


async def test_an_imported_customer_claims_the_account_by_signing_up(gql, inbox, tmp_path):
    from tests.conftest import SIGN_UP
    from tests.integration.test_imports import CUSTOMERS, load, write

    await load("customers", write(tmp_path, "c.csv", CUSTOMERS))
    sign_up = (await gql(SIGN_UP, {"input": {"email": "carla@old.test", "password": PASSWORD,
                                             "firstName": "Carla"}}))["signUp"]
    assert sign_up["accessToken"] is None
    assert sign_up["errors"] == [{"code": "CLAIM_LINK_SENT", "field": "email",
                                  "message": sign_up["errors"][0]["message"]}]
    assert inbox.messages[-1]["Subject"] == "Your loyalty account is waiting"
    # Without a password, logging in is refused until the link is used.
    refused = await gql(LOG_IN, {"input": {"email": "carla@old.test", "password": "!"}})
    assert refused["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    claimed = await gql(RESET, {"input": {"token": inbox.token(), "password": NEW_PASSWORD}})
    assert claimed["resetPassword"]["errors"] == []
    session = (await gql(LOG_IN, {"input": {"email": "carla@old.test",
                                            "password": NEW_PASSWORD}}))["logIn"]
    me = await gql("query { me { firstName points { available } } }",
                   token=session["accessToken"])
    assert me["me"] == {"firstName": "Carla", "points": {"available": 35}}
    # Signing up with an email that is a real account still says EMAIL_TAKEN.
    taken = (await gql(SIGN_UP, {"input": {"email": "carla@old.test", "password": PASSWORD,
                                           "firstName": "Carla"}}))["signUp"]
    assert [e["code"] for e in taken["errors"]] == ["EMAIL_TAKEN"]
