"""API tokens: `ivr tokens add | list | revoke`, 401 for every token that does not work, the
last-used mark written at most once a minute, and one round over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from ivr.api.tokens import PREFIX_LENGTH, TokenError, make_token, revoke_token
from ivr.app import create_app
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import ApiToken, AuditEntry, StaffRole, StaffUser
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.api_client import LIST, Api
from tests.integration.test_queue_actions import add_campaign, add_escalation, add_user


@pytest.fixture
def api(settings: Settings, services: Services, clock: FakeClock) -> Api:
    """ann (agent) with a token, and one open escalation."""
    with services.sessions.begin() as session:
        add_user(session, clock.now, "ann")
        add_escalation(session, add_campaign(session, clock.now), clock.now)
        token = make_token(session, services, name="his-sync", username="ann", actor="test")
    return Api(create_app(settings, services=services).test_client(), {"ann": token.secret})


def token_row(services: Services) -> ApiToken:
    with services.sessions() as session:
        return session.scalars(select(ApiToken)).one()


def test_only_the_tokens_hash_and_prefix_are_stored(api: Api, services: Services) -> None:
    """The secret is 'ivr_' and 43 URL-safe characters; the row keeps its SHA-256 and prefix."""
    secret = api.tokens["ann"]
    assert secret.startswith("ivr_") and 47 == len(secret)
    row = token_row(services)
    assert hashlib.sha256(secret.encode()).hexdigest() == row.token_hash
    assert secret[:PREFIX_LENGTH] == row.prefix
    with services.sessions() as session:
        audit = json.dumps([e.detail for e in session.scalars(select(AuditEntry))])
    assert secret not in audit and row.token_hash not in audit


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YW5uOnB3", "Bearer ivr_wrong", "Bearer " + "x" * 5000],
)
def test_a_request_without_a_working_token_is_401_with_a_bearer_challenge(
    api: Api, header: str | None
) -> None:
    """No header, another scheme, an unknown or absurd token: 401 JSON, WWW-Authenticate."""
    headers = {} if header is None else {"Authorization": header}
    answer = api.get(LIST, None, headers=headers)
    assert (401, "unauthorized") == (answer.status_code, answer.json["error"]["code"])
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="ivr"')


def test_a_revoked_token_or_a_disabled_user_stops_working_at_once(
    api: Api, services: Services
) -> None:
    """200 before, 401 after; revoking twice says so."""
    assert 200 == api.get(LIST, "ann").status_code
    with services.sessions.begin() as session:
        assert revoke_token(session, services, name="HIS-sync", actor="test")
        assert not revoke_token(session, services, name="his-sync", actor="test")
    revoked = api.get(LIST, "ann")
    assert 401 == revoked.status_code
    assert 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]
    with services.sessions.begin() as session:
        token = make_token(session, services, name="his-sync-2", username="ann", actor="test")
    assert 200 == api.get(LIST, None, token=token.secret).status_code
    with services.sessions.begin() as session:
        session.scalars(select(StaffUser)).one().active = False
    assert 401 == api.get(LIST, None, token=token.secret).status_code


def test_last_used_is_written_at_most_once_a_minute(
    api: Api, services: Services, clock: FakeClock
) -> None:
    """The first request marks it; requests within the minute do not; a later one does."""
    assert token_row(services).last_used_at is None
    first = clock.now
    api.get(LIST, "ann")
    assert first == token_row(services).last_used_at
    clock.advance(seconds=59)
    api.get(LIST, "ann")
    assert first == token_row(services).last_used_at
    clock.advance(seconds=1)
    api.get(LIST, "ann")
    assert clock.now == token_row(services).last_used_at


def test_token_names_are_unique_and_name_an_active_user(
    services: Services, clock: FakeClock
) -> None:
    """A second token of the same name, an unknown or a disabled user: TokenError."""
    with services.sessions.begin() as session:
        add_user(session, clock.now, "ann")
        add_user(session, clock.now, "old", active=False)
        make_token(session, services, name="his-sync", username="ann", actor="test")
    for name, user, message in [
        ("His-Sync", "ann", "already a token named his-sync"),
        ("crm", "nobody", "no active user named nobody"),
        ("crm", "old", "no active user named old"),
        ("x", "ann", "2-100 characters"),
    ]:
        with pytest.raises(TokenError, match=message), services.sessions.begin() as session:
            make_token(session, services, name=name, username=user, actor="test")


def test_tokens_from_the_command_line(ivr: Any, env: dict[str, str]) -> None:
    """add prints the token once (stdout) with a warning; list shows the prefix; revoke works."""
    assert 0 == ivr("db", "upgrade").exit_code
    engine = make_engine(env["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine).begin() as session:
            add_user(session, FakeClock().now, "sue", StaffRole.SUPERVISOR)
    finally:
        engine.dispose()
    added = ivr("tokens", "add", "crm-bridge", "--user", "SUE")
    assert 0 == added.exit_code, added.output
    secret = added.stdout.strip()
    assert secret.startswith("ivr_") and "not shown again" in added.stderr
    [row] = json.loads(ivr("tokens", "list", "--format", "json").stdout)
    assert ("crm-bridge", "sue", secret[:PREFIX_LENGTH], None, None) == (
        row["name"],
        row["user"],
        row["prefix"],
        row["last_used_at"],
        row["revoked_at"],
    )
    table = ivr("tokens", "list").stdout
    assert "crm-bridge" in table and secret not in table and "never" in table
    again = ivr("tokens", "add", "crm-bridge", "--user", "sue")
    assert 1 == again.exit_code
    assert "already a token named crm-bridge" in again.stderr
    assert "revoked crm-bridge" in ivr("tokens", "revoke", "crm-bridge").stdout
    assert "already revoked" in ivr("tokens", "revoke", "crm-bridge").stdout
    assert 1 == ivr("tokens", "revoke", "nope").exit_code
    [row] = json.loads(ivr("tokens", "list", "--format", "json").stdout)
    assert row["revoked_at"] is not None
    for command in ("add", "list", "revoke"):
        assert "IVR_DATABASE_URL" in ivr("tokens", command, "--help").output


@pytest.fixture
def http_base(api: Api, settings: Settings, services: Services) -> Iterator[str]:
    """create_app on a werkzeug server at an ephemeral port on 127.0.0.1."""
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    apps.append(create_app(settings, services=services))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()


@pytest.mark.e2e
def test_the_api_over_real_http(api: Api, http_base: str) -> None:
    """A token, a list, a claim, the document: as an integration sees them on the wire."""
    auth = {"Authorization": f"Bearer {api.tokens['ann']}"}
    with requests.Session() as client:
        refused = client.get(f"{http_base}/api/v1/escalations", timeout=10)
        assert 401 == refused.status_code
        assert refused.headers["Content-Type"].startswith("application/json")
        page = client.get(f"{http_base}/api/v1/escalations", headers=auth, timeout=10).json()
        [item] = page["items"]
        claimed = client.post(
            f"{http_base}/api/v1/escalations/{item['id']}/claim", headers=auth, timeout=10
        )
        assert (200, "ann") == (claimed.status_code, claimed.json()["holder"])
        spec = client.get(f"{http_base}/api/v1/openapi.json", timeout=10).json()
        assert "/api/v1/escalations/{escalation_id}/claim" in spec["paths"]


def test_a_failure_inside_the_api_is_a_json_500_without_details(
    settings: Settings, services: Services, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A database without the API's tables: the caller gets JSON, the operator the log line."""
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        app = create_app(settings, services=replace(services, sessions=make_sessions(broken)))
        answer = app.test_client().get(LIST, headers={"Authorization": "Bearer ivr_" + "a" * 43})
    finally:
        broken.dispose()
    assert (500, "internal_error") == (answer.status_code, answer.json["error"]["code"])
    assert "api_token" not in answer.get_data(as_text=True)
    [line] = [r for r in caplog.records if getattr(r, "action", None) == "api.error"]
    assert "ivr_" + "a" * 43 not in line.getMessage() + str(line.__dict__)
