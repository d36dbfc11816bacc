"""The console's sign-in, sign-out, CSRF check, session renewal and language, through the Flask
test client on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import StaffRole
from ivr.services import Services
from tests.console.support import form_token, sign_in
from tests.integration.test_replay import PASSWORD, add_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def app(settings: Settings, services: Services, sessions: sessionmaker[Session]) -> Flask:
    add_user(sessions, services.clock(), "ward.agent", StaffRole.AGENT)
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_signing_in_leads_home_and_signing_out_ends_the_session(client: FlaskClient) -> None:
    assert client.get("/console/").status_code == 302  # to the sign-in page
    signed = sign_in(client, "ward.agent")
    assert (signed.status_code, signed.location) == (302, "/console/queue")  # an agent's home
    home = client.get("/console/")
    assert home.status_code == 200 and "ward.agent" in home.get_data(as_text=True)
    assert home.headers["Cache-Control"] == "no-store"
    out = client.post("/console/sign-out", data={"csrf_token": form_token(home)})
    assert out.status_code == 302
    assert client.get("/console/").status_code == 302


def test_a_wrong_password_shows_the_form_again_with_one_message(client: FlaskClient) -> None:
    refused = sign_in(client, "ward.agent", "not the password")
    assert refused.status_code == 401
    assert "用户名或密码错误" in refused.get_data(as_text=True)
    unknown = sign_in(client, "nobody")
    assert unknown.status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    client.get("/console/sign-in")
    missing = client.post("/console/sign-in", data={"username": "ward.agent", "password": "x"})
    assert missing.status_code == 400
    forged = client.post(
        "/console/sign-in",
        data={"username": "ward.agent", "password": "x", "csrf_token": "forged"},
    )
    assert forged.status_code == 400
    sign_in(client, "ward.agent")
    assert client.post("/console/sign-out").status_code == 400  # still signed in
    assert client.get("/console/").status_code == 200


def test_signing_in_starts_a_new_session(client: FlaskClient) -> None:
    """Session fixation: what was in the session before sign-in (a planted value, the anonymous
    CSRF token) does not carry over."""
    before = form_token(client.get("/console/sign-in"))
    with client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
    sign_in(client, "ward.agent")
    with client.session_transaction() as after:
        assert "planted" not in after
    assert form_token(client.get("/console/")) != before


def test_only_a_path_of_the_console_is_followed_after_sign_in(client: FlaskClient) -> None:
    page = client.get("/console/sign-in?next=https://evil.example/")
    assert "evil.example" not in page.get_data(as_text=True)
    token = form_token(page)
    answer = client.post(
        "/console/sign-in",
        data={
            "username": "ward.agent",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/console",
        },
    )
    assert answer.location == "/console/queue"  # the agent's home, not the planted target


def test_the_interface_speaks_chinese_or_english(client: FlaskClient) -> None:
    assert "登录" in client.get("/console/sign-in").get_data(as_text=True)
    english = client.get("/console/sign-in?lang=en").get_data(as_text=True)
    assert "Sign in" in english
    assert "Sign in" in client.get("/console/sign-in").get_data(as_text=True)  # remembered
    fresh = client.application.test_client()
    page = fresh.get("/console/sign-in", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in page.get_data(as_text=True)
