"""A fake of Twilio's REST API just big enough for `ivr dial`: create, fetch and list calls.

It runs on a thread on 127.0.0.1 (a free port), answers each create after `delay` seconds, and
logs every create with the moment it arrived, so a benchmark or a test can count calls per second
and check that no attempt was dialled twice. It sends no callbacks: placed calls stay in flight.

    with FakeProvider(delay=0.2) as provider:
        env["TWILIO_API_BASE_URL"] = provider.base_url
        ...                                  # run `ivr dial`
        moments = [create.at for create in provider.creates]

`.creates` is a snapshot list of `Create(at, to, attempt_id, call_sid)`; `at` is time.monotonic()
when the request arrived (before the delay), `attempt_id` the `attempt` query parameter of the
call's voice Url, or None when it has none. Fetched or listed later (GET .../Calls/{sid}.json,
GET .../Calls.json?To=&From=&Status=&StartTime>=), every call shows as completed, 0 s long.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.datastructures import MultiDict

from ivr.telephony.sim_calls import SimCall
from ivr.telephony.sim_list import ListQueryError, call_resource, page_of, select_calls

API_VERSION = "2010-04-01"
_CREATE = re.compile(rf"/{API_VERSION}/Accounts/(AC[0-9a-zA-Z]+)/Calls\.json")
_FETCH = re.compile(rf"/{API_VERSION}/Accounts/(AC[0-9a-zA-Z]+)/Calls/(CA[0-9a-f]{{32}})\.json")


@dataclass(frozen=True)
class Create:
    """One call create as it reached the fake."""

    at: float  # time.monotonic() on arrival
    to: str
    attempt_id: int | None
    call_sid: str


class FakeProvider:
    """Twilio's call create and fetch on 127.0.0.1; see the module docstring."""

    def __init__(self, *, delay: float = 0.0, account_sid: str | None = None) -> None:
        if delay < 0:
            raise ValueError("delay must not be negative")
        self.delay = delay  # seconds before each create is answered; may be changed while running
        self.account_sid = account_sid  # when set, other accounts get 404 as on Twilio
        self._lock = threading.Lock()
        self._creates: list[Create] = []
        self._calls: dict[str, SimCall] = {}
        self._sids = (f"CA{n:032x}" for n in itertools.count(1))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What TWILIO_API_BASE_URL should be: http://127.0.0.1:<port>."""
        if self._server is None:
            raise RuntimeError("the fake provider is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def creates(self) -> list[Create]:
        """Every create so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._creates)

    def start(self) -> FakeProvider:
        """Listen on a free port of 127.0.0.1 and serve on a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the fake provider is already started")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.provider = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; requests in their delay finish on their own."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def create_call(self, account_sid: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Log a create and return (status, body) as Twilio would, after the delay."""
        arrived = time.monotonic()
        if not form.get("To") or not form.get("From") or not form.get("Url"):
            return 400, _error(400, 21201, "To, From and Url are required")
        attempt = parse_qs(urlsplit(form["Url"]).query).get("attempt", [""])[0]
        with self._lock:
            sid = next(self._sids)
            call = SimCall(sid, form["To"], form["From"], MultiDict(form), datetime.now(UTC))
            resource = call_resource(account_sid, call)  # queued, as the create answers
            # The fake never calls anyone: fetched or listed later, the call is over, 0 s long.
            call.status = "completed"
            call.started_at = call.ended_at = call.created_at
            call.done.set()
            self._calls[sid] = call
            self._creates.append(
                Create(arrived, form["To"], int(attempt) if attempt.isdigit() else None, sid)
            )
        if self.delay:
            time.sleep(self.delay)
        return 201, resource

    def fetch_call(self, account_sid: str, sid: str) -> tuple[int, dict[str, Any]]:
        """A created call, shown as completed (the fake never calls anyone)."""
        with self._lock:
            call = self._calls.get(sid)
        if call is None:
            return 404, _error(
                404, 20404, f"The requested resource /Calls/{sid}.json was not found"
            )
        return 200, call_resource(account_sid, call)

    def list_calls(self, account_sid: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One page of the calls, filtered and paged as the simulator (and Twilio) does."""
        with self._lock:
            calls = list(self._calls.values())
        try:
            return 200, page_of(account_sid, select_calls(calls, query), query)
        except ListQueryError as exc:
            return 400, _error(400, 20001, str(exc))

    def _account_ok(self, account_sid: str) -> bool:
        return self.account_sid is None or account_sid == self.account_sid


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Twilio client's session expects

    def do_POST(self) -> None:
        provider: FakeProvider = self.server.provider  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        match = _CREATE.fullmatch(urlsplit(self.path).path)
        if match is None or not provider._account_ok(match.group(1)):
            self._send(404, _error(404, 20404, "The requested resource was not found"))
            return
        form = {key: values[0] for key, values in parse_qs(body).items()}
        self._send(*provider.create_call(match.group(1), form))

    def do_GET(self) -> None:
        provider: FakeProvider = self.server.provider  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        listing = _CREATE.fullmatch(url.path)  # GET on the create path lists calls
        match = listing or _FETCH.fullmatch(url.path)
        if match is None or not provider._account_ok(match.group(1)):
            self._send(404, _error(404, 20404, "The requested resource was not found"))
        elif listing is not None:
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            self._send(*provider.list_calls(match.group(1), query))
        else:
            self._send(*provider.fetch_call(match.group(1), match.group(2)))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark's output is its table."""


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
