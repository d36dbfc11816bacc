"""A customer's outcome webhook endpoint: a real HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A customer's endpoint: answers the scripted codes in turn (then 200), records requests."""

    url: str
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        """What the README tells the customer to do, written independently of ivr's code."""
        timestamp = headers.get("X-IVR-Timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest("sha256=" + expected, headers.get("X-IVR-Signature", ""))


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """Serve until the block ends; the Receiver's url is where to POST."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key: value for key, value in self.headers.items()}
            if state.delay_s:
                time.sleep(state.delay_s)
            with state.lock:
                state.requests.append(Received(headers, body))
                if not state.verify(headers, body):
                    state.bad_signatures += 1
                code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/ivr/outcomes"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
