"""A fake FCM v1 endpoint and OAuth token endpoint on 127.0.0.1, in a thread.

firebase-admin refreshes its OAuth token with blocking `requests`, so the fake
must not share the test's event loop: it is a plain threading HTTP server.
Each FCM request is answered by the next scripted behaviour for its token
(default "ok"); the bearer token must be one the fake OAuth endpoint issued.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
PROJECT = "loyalty-test"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED"),
    "invalid": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "internal": (500, "INTERNAL", "INTERNAL"),
}


@dataclass
class Sent:
    token: str
    title: str | None
    body: str | None
    data: dict[str, str]
    answer: str


@dataclass
class FakeFcm:
    url: str = ""
    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    scripts: dict[str, list[str]] = field(default_factory=dict)
    retry_after: int = 120
    # The next N token fetches are refused (400: google-auth does not retry it in-line).
    oauth_fails: int = 0
    token_requests: int = 0
    tokens_issued: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.sent.clear()
            self.oauth_fails = 0
            self.token_requests = 0
            self.retry_after = 120

    def script(self, token: str, *answers: str) -> None:
        with self.lock:
            self.scripts[token] = list(answers)

    def delivered(self, token: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.answer == "ok" and token in (None, s.token)]

    def service_account(self, folder: Path) -> Path:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "test-key",
                    "private_key": pem,
                    "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        return path

    def fcm_url(self) -> str:
        return f"{self.url}/v1/projects/{{0}}/messages:send"

    # -- the server side, called from the HTTP thread --------------------------

    def issue_token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests += 1
            if self.oauth_fails > 0:
                self.oauth_fails -= 1
                return 400, {"error": "invalid_grant", "error_description": "refused"}
        assertion = form.get("assertion", [""])[0]
        claims = jwt.decode(
            assertion,
            self.private_key.public_key(),
            algorithms=["RS256"],
            audience=GOOGLE_TOKEN_URI,
        )
        assert claims["iss"].endswith(".iam.gserviceaccount.com")
        token = "ya29." + secrets.token_urlsafe(16)
        with self.lock:
            self.tokens_issued.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def send(
        self, authorization: str, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        bearer = authorization.removeprefix("Bearer ")
        if bearer not in self.tokens_issued:
            return (
                401,
                {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad token"}},
                {},
            )
        assert path == f"/v1/projects/{PROJECT}/messages:send", path
        message = body["message"]
        token = message["token"]
        with self.lock:
            script = self.scripts.get(token, [])
            answer = script.pop(0) if script else "ok"
            notification = message.get("notification") or {}
            self.sent.append(
                Sent(
                    token,
                    notification.get("title"),
                    notification.get("body"),
                    message.get("data") or {},
                    answer,
                )
            )
            number = len(self.sent)
        if answer == "ok":
            return 200, {"name": f"projects/{PROJECT}/messages/{number}"}, {}
        status, code, fcm_code = _ERRORS[answer]
        error: dict[str, Any] = {"code": status, "message": answer, "status": code}
        if fcm_code:
            error["details"] = [{"@type": FCM_ERROR, "errorCode": fcm_code}]
        headers = {"Retry-After": str(self.retry_after)} if answer == "quota" else {}
        return status, {"error": error}, headers


def _handler(fake: FakeFcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if self.path == "/token":
                status, body = fake.issue_token(urllib.parse.parse_qs(raw))
                self._answer(status, body, {})
                return
            status, body, headers = fake.send(
                self.headers.get("Authorization", ""), self.path, json.loads(raw)
            )
            self._answer(status, body, headers)

    return Handler


class FakeServer:
    def __init__(self) -> None:
        self.fake = FakeFcm()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.httpd.daemon_threads = True
        self.fake.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeFcm:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
