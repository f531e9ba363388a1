"""A fake SMS provider on 127.0.0.1, in a thread: the HTTP API that
notifications/sms.py speaks (POST JSON {to, body, reference}, basic auth).

Like real providers, it remembers references: a message posted again with a
reference it already accepted is answered as accepted and not delivered a
second time. Each request is answered by the next status scripted for its
recipient (`scripts[to]`, default 200); 0 means "hang" (accept, but answer
only after `hang_seconds`: a client's timeout)."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

USER, KEY = "shop", "k3y/with:odd@chars"
PATH = "/v1/messages"


@dataclass
class Received:
    to: str
    body: str
    reference: str
    status: int
    user: str | None


@dataclass
class FakeSmsProvider:
    url: str = ""
    scripts: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # reference -> message id
    hang_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Received]:
        """The messages that reached a phone: one per accepted reference."""
        seen: set[str] = set()
        out = []
        for r in self.requests:
            if r.status == 200 and r.reference not in seen:
                seen.add(r.reference)
                out.append(r)
        return out

    def reset(self) -> None:
        with self.lock:
            self.scripts.clear()
            self.requests.clear()
            self.accepted.clear()
            self.hang_seconds = 0.0

    def next_status(self, to: str) -> int:
        with self.lock:
            script = self.scripts.get(to)
            return script.pop(0) if script else 200

    def answer(self, payload: dict[str, Any], user: str | None,
               status: int) -> tuple[int, dict[str, Any]]:
        with self.lock:
            reference = str(payload.get("reference", ""))
            self.requests.append(Received(str(payload.get("to")), str(payload.get("body")),
                                          reference, status or 200, user))
            if status in (0, 200):  # a repeated reference: accepted, not delivered again
                message_id = self.accepted.setdefault(reference, f"m{len(self.accepted) + 1}")
                return 200, {"id": message_id}
            return status, {"error": "invalid number" if status < 500 else "upstream down"}


class _Handler(BaseHTTPRequestHandler):
    provider: FakeSmsProvider

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        return None

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            pass  # a client that timed out before the answer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("content-length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        user = None
        auth = self.headers.get("authorization", "")
        if auth.startswith("Basic "):
            login, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            user = login if password == KEY else None
        if self.path != PATH or user != USER:
            self._reply(401 if user != USER else 404, {"error": "who are you"})
            return
        status = self.provider.next_status(str(payload.get("to")))
        answer, body = self.provider.answer(payload, user, status)
        if status == 0:
            time.sleep(self.provider.hang_seconds)
        status = answer
        self._reply(status, body)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SmsServer:
    """`with SmsServer() as provider:` serves until the block ends."""

    def __init__(self) -> None:
        self.provider = FakeSmsProvider()
        handler = type("Handler", (_Handler,), {"provider": self.provider})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        port = self.httpd.server_address[1]
        self.provider.url = f"http://{USER}:k3y%2Fwith%3Aodd%40chars@127.0.0.1:{port}{PATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeSmsProvider:
        self.thread.start()
        return self.provider

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
