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
import time
import urllib.parse
from collections import Counter
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
    # What the phone replaces a shown notification by (apns-collapse-id).
    collapse: str | None = None
    # The service account (client_email's user part) whose token sent it.
    client: str = ""
    # The whole FCM message, as firebase-admin sent it (apns, android, ...).
    message: dict[str, Any] = field(default_factory=dict)


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
    clients: dict[str, str] = field(default_factory=dict)  # access token -> client
    sent: list[Sent] = field(default_factory=list)
    # Seconds each message is held after it is received (and counted as
    # delivered, as FCM would) before the answer: a slow FCM, to kill a
    # worker while its batch is in flight.
    delay: float = 0.0
    in_flight: Counter[str] = field(default_factory=Counter)  # client -> requests held
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.sent.clear()
            self.oauth_fails = 0
            self.token_requests = 0
            self.retry_after = 120
            self.delay = 0.0
            self.in_flight.clear()

    def script(self, token: str, *answers: str) -> None:
        with self.lock:
            self.scripts[token] = list(answers)

    def delivered(self, token: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.answer == "ok" and token in (None, s.token)]

    def per_token(self) -> Counter[str]:
        """Messages FCM accepted, per device token (duplicates included)."""
        return Counter(s.token for s in self.delivered())

    def shown(self) -> Counter[tuple[str, str | None]]:
        """What the phones show: one notification per (token, collapse id)."""
        return Counter((s.token, s.collapse or f"#{i}") for i, s in enumerate(self.delivered()))

    def service_account(self, folder: Path, client: str = "push") -> Path:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = folder / f"service-account-{client}.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "test-key",
                    "private_key": pem,
                    "client_email": f"{client}@{PROJECT}.iam.gserviceaccount.com",
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
            self.clients[token] = claims["iss"].split("@")[0]
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
        client = self.clients.get(bearer, "")
        collapse = ((message.get("apns") or {}).get("headers") or {}).get("apns-collapse-id")
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
                    collapse,
                    client,
                    message,
                )
            )
            number = len(self.sent)
            delay = self.delay
            self.in_flight[client] += 1
        try:
            if delay:
                time.sleep(delay)
        finally:
            with self.lock:
                self.in_flight[client] -= 1
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
        # Headers and body go out in two writes: with Nagle on, the body waits
        # for the client's delayed ACK (40 ms a request).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            try:
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client died waiting (a killed worker)

        def do_GET(self) -> None:
            if self.path != "/stats":
                self._answer(404, {}, {})
                return
            with fake.lock:
                delivered = fake.delivered()
                stats = {
                    "sent": len(fake.sent),
                    "delivered": len(delivered),
                    "tokens": len({s.token for s in delivered}),
                }
            self._answer(200, stats, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if len(raw.encode()) < length:
                self.close_connection = True  # the client died mid-request
                return
            if self.path == "/token":
                status, body = fake.issue_token(urllib.parse.parse_qs(raw))
                self._answer(status, body, {})
                return
            status, body, headers = fake.send(
                self.headers.get("Authorization", ""), self.path, json.loads(raw)
            )
            self._answer(status, body, headers)

    return Handler


class _Server(ThreadingHTTPServer):
    # A batch opens hundreds of connections at once: the default backlog (5)
    # overflows and the kernel resets some of them.
    request_queue_size = 1024


class FakeServer:
    def __init__(self) -> None:
        self.fake = FakeFcm()
        self.httpd = _Server(("127.0.0.1", 0), _handler(self.fake))
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


if __name__ == "__main__":
    # A fake in a process of its own (benches: no GIL shared with the client):
    # prints its FCM URL template and service-account path, serves until killed.
    import sys

    with FakeServer() as served:
        account = served.service_account(Path(sys.argv[1]))
        print(served.fcm_url(), account, flush=True)
        threading.Event().wait()
