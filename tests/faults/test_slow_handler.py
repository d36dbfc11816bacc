"""A webhook that stalls past Twilio's 15 s read timeout while Twilio sends it again.

A real server on 127.0.0.1 and a client with a 0.3 s read timeout stand in for Twilio; the
stall is the attempt's row held by another transaction (PostgreSQL) or the database's write lock
(SQLite), so both copies of the gather wait inside the app, then run. One answer, one escalation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.models import Attempt
from tests.conftest import PUBLIC_BASE_URL, FakeClock
from tests.faults.support import Call, call_form, call_state, make_call
from tests.webhook_client import signature

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

TWILIO_READ_TIMEOUT_S = 0.3  # Twilio's is 15 s; what matters is that the handler outlives it


class Server:
    """The app on a thread; counts requests the app has finished answering."""

    def __init__(self, app: Flask) -> None:
        self.finished = 0
        self._lock = threading.Lock()

        def counted(environ, start_response):  # type: ignore[no-untyped-def]
            try:
                return app(environ, start_response)
            finally:
                with self._lock:
                    self.finished += 1

        self.http = make_server("127.0.0.1", 0, counted, threaded=True)
        self.base = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while self.finished < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.finished >= count, f"only {self.finished} of {count} requests finished"


@pytest.fixture
def server(app: Flask) -> Iterator[Server]:
    running = Server(app)
    running.thread.start()
    yield running
    running.http.shutdown()
    running.thread.join(5)


def twilio_post(server: Server, path: str, form: dict[str, str], timeout: float = 10) -> int:
    """POST as Twilio would: signed over the public URL, with a read timeout."""
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, form)}
    return requests.post(
        server.base + path, data=form, headers=headers, timeout=timeout
    ).status_code


def test_a_gather_retried_while_the_first_copy_stalls_applies_once(
    server: Server, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Both copies time out at Twilio; when the stall ends one answer and one escalation exist."""
    call: Call = make_call(sessions, clock.now)
    started = call_form(call, CallStatus="in-progress")
    assert 200 == twilio_post(server, f"/twilio/voice?attempt={call.attempt_id}&held=1", started)
    gather_1 = f"/twilio/gather?attempt={call.attempt_id}&step=1"
    assert 200 == twilio_post(server, gather_1, {**started, "Digits": "1"})
    done = server.finished
    path = f"/twilio/gather?attempt={call.attempt_id}&step=2"
    worse = {**started, "Digits": "3"}
    timeouts = 0
    with sessions.begin() as holder:
        holder.execute(select(Attempt).where(Attempt.id == call.attempt_id).with_for_update())
        for _ in range(2):  # the request, and Twilio's retry of it
            try:
                twilio_post(server, path, worse, timeout=TWILIO_READ_TIMEOUT_S)
            except requests.ReadTimeout:
                timeouts += 1
        assert done == server.finished  # both copies are stalled inside the app
    server.wait_for(done + 2)
    assert 2 == timeouts
    with sessions() as session:
        state = call_state(session, call)
    assert [("recovery", "worse")] == state["answers"]
    assert [("clinical_concern", 1, 1)] == state["escalations"]
    assert 3 == state["attempt"][6]
