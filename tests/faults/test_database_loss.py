"""PostgreSQL dropping the app's connections between and during webhook requests.

The test database's backends are terminated from a separate admin connection (the server keeps
running: others use it). A request that loses its connection may fail (Twilio retries a 5xx)
but must leave nothing half-written; the next request must get a fresh connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Attempt
from tests.conftest import FakeClock
from tests.faults.support import Call, call_form, call_state, make_call
from tests.webhook_client import signed_post

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

TERMINATE = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = :name AND pid <> pg_backend_pid()"
)


@pytest.fixture
def admin(database_url: str) -> Iterator[Engine]:
    """A connection of our own to the test database, to terminate everyone else's from."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=None)
    yield engine
    engine.dispose()


def terminate(admin: Engine, engine: Engine) -> int:
    with admin.connect() as conn:
        return int(conn.execute(TERMINATE, {"name": engine.url.database}).scalar_one())


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> Call:
    return make_call(sessions, clock.now)


def voice(client: FlaskClient, call: Call) -> None:
    body = call_form(call, CallStatus="in-progress")
    assert (
        200
        == signed_post(client, f"/twilio/voice?attempt={call.attempt_id}&held=1", body).status_code
    )


def gather(client: FlaskClient, call: Call, step: int, digits: str) -> int:
    path = f"/twilio/gather?attempt={call.attempt_id}&step={step}"
    body = call_form(call, CallStatus="in-progress", Digits=digits)
    return signed_post(client, path, body).status_code


def test_connections_killed_between_two_requests_are_replaced(
    client: FlaskClient, call: Call, engine: Engine, admin: Engine, sessions: sessionmaker[Session]
) -> None:
    """The pool's idle connection is dead; pre-ping replaces it and the request succeeds."""
    voice(client, call)
    assert terminate(admin, engine) >= 1
    assert 200 == gather(client, call, 1, "1")
    with sessions() as session:
        assert 2 == session.get_one(Attempt, call.attempt_id).flow_step


def test_a_connection_killed_mid_request_fails_cleanly_and_the_retry_applies_once(
    client: FlaskClient, call: Call, engine: Engine, admin: Engine, sessions: sessionmaker[Session]
) -> None:
    """Killed as the answer is inserted (after the step moved): 500, nothing kept; retry: once."""
    voice(client, call)
    assert 200 == gather(client, call, 1, "1")
    with sessions() as session:
        before = call_state(session, call)
    killed: list[int] = []

    def kill_at_the_answer(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO answer") and not killed:
            killed.append(terminate(admin, engine))

    event.listen(engine, "before_cursor_execute", kill_at_the_answer)
    try:
        assert 500 == gather(client, call, 2, "3")
    finally:
        event.remove(engine, "before_cursor_execute", kill_at_the_answer)
    assert killed and killed[0] >= 1
    with sessions() as session:
        assert before == call_state(session, call)  # the step did not move, no answer, no alarm
    assert 200 == gather(client, call, 2, "3")  # Twilio's retry
    with sessions() as session:
        after = call_state(session, call)
    assert [("recovery", "worse")] == after["answers"]
    assert [("clinical_concern", 1, 1)] == after["escalations"]
    assert 3 == after["attempt"][6]
