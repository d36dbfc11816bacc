"""Signing in over HTTP with the Flask test client, on SQLite and PostgreSQL.

The session cookie, the one answer to every refusal, the lock-out after five wrong passwords
(kept in the row, so another app process sees it) and its end after 15 minutes on a fake clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from ivr.app import create_app
from ivr.audit.log import verify_chain
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import AuditEntry, StaffRole, StaffUser
from ivr.services import Services
from ivr.staff.auth import REFUSED
from tests.conftest import FakeClock
from tests.integration.test_replay import PASSWORD, add_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

NAME = "lead.reviewer"


@pytest.fixture
def app(settings: Settings, services: Services, sessions: sessionmaker[Session]) -> Flask:
    add_user(sessions, services.clock(), NAME, StaffRole.SUPERVISOR)
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, password: str = PASSWORD, name: str = NAME) -> TestResponse:
    return client.post("/auth/login", json={"username": name, "password": password})


def user_row(sessions: sessionmaker[Session]) -> StaffUser:
    with sessions() as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == NAME)).one()


def test_signing_in_sets_an_httponly_lax_secure_session_cookie(client: FlaskClient) -> None:
    """Behind https (the public URL) the cookie is Secure; scripts cannot read it."""
    answer = login(client)
    assert 200 == answer.status_code
    assert {"username": NAME, "role": "supervisor"} == answer.json
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("ivr_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert PASSWORD not in cookie
    assert {"username": NAME, "role": "supervisor"} == client.get("/auth/me").json


def test_the_cookie_is_not_secure_on_a_plain_http_development_url(
    settings: Settings, services: Services, sessions: sessionmaker[Session]
) -> None:
    """Local development over http://127.0.0.1 still signs in."""
    add_user(sessions, services.clock(), NAME, StaffRole.SUPERVISOR)
    local = settings.with_(public_base_url="http://127.0.0.1:8000")
    client = create_app(
        local, services=Services(local, sessions, clock=services.clock)
    ).test_client()
    cookie = login(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie


def test_a_form_post_signs_in_as_well_as_json(client: FlaskClient) -> None:
    """The console's form and a script's JSON take the same route."""
    answer = client.post("/auth/login", data={"username": NAME.upper(), "password": PASSWORD})
    assert (200, NAME) == (answer.status_code, answer.json["username"])


@pytest.mark.parametrize(
    "body", [{}, {"username": NAME}, {"password": PASSWORD}, {"username": 7, "password": "x"}]
)
def test_missing_fields_are_a_400(client: FlaskClient, body: dict[str, object]) -> None:
    """Say what is needed rather than count a failure."""
    assert 400 == client.post("/auth/login", json=body).status_code


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(client: FlaskClient) -> None:
    """The answer does not tell which user names exist."""
    unknown = login(client, name="nobody.here")
    wrong = login(client, password="not-the-password")
    assert (401, {"error": REFUSED}) == (unknown.status_code, unknown.json)
    assert (401, {"error": REFUSED}) == (wrong.status_code, wrong.json)
    assert 401 == client.get("/auth/me").status_code


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    client: FlaskClient,
    clock: FakeClock,
    services: Services,
    sessions: sessionmaker[Session],
) -> None:
    """The sixth try fails even with the right password until 15 minutes have passed."""
    for _ in range(4):
        assert 401 == login(client, password="guess-again-1").status_code
    assert 4 == user_row(sessions).failed_logins
    assert 401 == login(client, password="guess-again-5").status_code
    locked = user_row(sessions)
    assert clock.now + timedelta(minutes=15) == locked.locked_until
    assert 0 == locked.failed_logins  # the lock itself holds the five; after it, five more tries

    refused = login(client)
    assert (401, {"error": REFUSED}) == (refused.status_code, refused.json)  # same answer
    clock.advance(minutes=14, seconds=59)
    assert 401 == login(client).status_code
    clock.advance(seconds=1)
    assert 200 == login(client).status_code
    assert (0, None) == (user_row(sessions).failed_logins, user_row(sessions).locked_until)

    with sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.locked_out")
        ).all()
        assert [(NAME, 5)] == [(e.actor, e.detail["failures"]) for e in entries]
        assert verify_chain(session, services) is None


def test_the_lock_holds_for_another_app_process_on_the_same_database(
    client: FlaskClient, settings: Settings, clock: FakeClock
) -> None:
    """Failures counted by one web worker lock the account for every worker."""
    for _ in range(5):
        login(client, password="guess-again-1")
    engine = make_engine(settings.database_url)  # a second process's own engine and pool
    try:
        other = Services(settings, make_sessions(engine), clock=clock)
        second = create_app(settings, services=other).test_client()
        assert 401 == login(second).status_code
        clock.advance(minutes=15)
        assert 200 == login(second).status_code
    finally:
        engine.dispose()


def test_failures_spread_across_workers_add_up(
    client: FlaskClient, settings: Settings, clock: FakeClock, sessions: sessionmaker[Session]
) -> None:
    """Three wrong here and two wrong there are five: the count lives in the row."""
    engine = make_engine(settings.database_url)
    try:
        second = create_app(
            settings, services=Services(settings, make_sessions(engine), clock=clock)
        ).test_client()
        for worker in [client, second, client, second, client]:
            login(worker, password="guess-again-1")
    finally:
        engine.dispose()
    assert user_row(sessions).locked_until == clock.now + timedelta(minutes=15)


def test_a_successful_sign_in_clears_earlier_failures(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """Four typos and then the right password start the count again."""
    for _ in range(4):
        login(client, password="guess-again-1")
    assert 200 == login(client).status_code
    assert 0 == user_row(sessions).failed_logins
    for _ in range(4):
        login(client, password="guess-again-1")
    assert user_row(sessions).locked_until is None


def test_disabling_a_user_refuses_sign_in_and_ends_the_open_session(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """The session cookie is checked against the row on every request."""
    assert 200 == login(client).status_code
    assert 200 == client.get("/auth/me").status_code
    with sessions.begin() as session:
        session.scalars(select(StaffUser).where(StaffUser.username == NAME)).one().active = False
    assert 401 == client.get("/auth/me").status_code
    assert (401, {"error": REFUSED}) == (login(client).status_code, login(client).json)


def test_a_changed_password_ends_sessions_opened_before(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """The session carries a keyed stamp of the password hash."""
    assert 200 == login(client).status_code
    with sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == NAME)).one()
        user.password_hash = user.password_hash.replace("$", "$x", 1)
    assert 401 == client.get("/auth/me").status_code


def test_a_role_change_takes_effect_on_the_next_request(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """The role is read from the row, not trusted from the cookie."""
    login(client)
    with sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == NAME)).one()
        user.role = StaffRole.AGENT
    assert "agent" == client.get("/auth/me").json["role"]


def test_logout_ends_the_session(client: FlaskClient) -> None:
    """After POST /auth/logout the cookie no longer signs anyone in."""
    login(client)
    assert 204 == client.post("/auth/logout").status_code
    assert 401 == client.get("/auth/me").status_code


def test_a_forged_cookie_is_nobody(client: FlaskClient) -> None:
    """The session is signed with IVR_SECRET_KEY: a hand-made cookie signs no one in."""
    client.set_cookie("ivr_session", '{"staff": {"id": 1, "stamp": "x"}}')
    assert 401 == client.get("/auth/me").status_code
