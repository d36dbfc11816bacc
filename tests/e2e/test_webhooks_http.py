"""The webhooks over real HTTP on 127.0.0.1: signatures over the URL as the client requested it."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Answer, Attempt, AttemptStatus, Case, CaseOutcome, CaseStatus
from ivr.services import Services
from tests import factories
from tests.conftest import FakeClock
from tests.webhook_client import signature

pytestmark = pytest.mark.e2e

CALL_SID = "CA" + "e2" * 16


@dataclass(frozen=True)
class Server:
    """The app served on a thread, and the URL Twilio would call it at."""

    base_url: str
    settings: Settings


@pytest.fixture
def server(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> Iterator[Server]:
    """create_app on a werkzeug server at an ephemeral port; public_base_url is that server."""
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # The port is known only once the socket is bound; the app is built right after.
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    apps.append(create_app(public, services=Services(public, sessions, clock=clock)))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Server(public.public_base_url, public)
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()


@pytest.fixture
def attempt_id(sessions: sessionmaker[Session], clock: FakeClock) -> int:
    """An attempt in flight, as the dispatcher leaves it."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, clock.now)
        case = factories.case(session, campaign, clock.now, language="en-US")
        case.status = CaseStatus.IN_CALL
        case.attempts_made = 1
        attempt = Attempt(
            case_id=case.id,
            number=1,
            status=AttemptStatus.QUEUED,
            call_sid=CALL_SID,
            language="en-US",
            created_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        return attempt.id


def post(server: Server, path: str, form: dict[str, str], token: str = "") -> requests.Response:
    """POST form over HTTP, signed over the server's public URL (token "" = the real one)."""
    url = server.base_url + path
    key = token or server.settings.twilio_auth_token
    headers = {"X-Twilio-Signature": signature(url, form, key)}
    return requests.post(url, data=form, headers=headers, timeout=10)


def call_form(**fields: str) -> dict[str, str]:
    """What Twilio sends with each call webhook."""
    return {"CallSid": CALL_SID, "Direction": "outbound-api", "CallStatus": "in-progress", **fields}


def action(response: requests.Response) -> str | None:
    """The Gather action of a TwiML answer."""
    assert 200 == response.status_code
    assert response.headers["Content-Type"].startswith("application/xml")
    found = ET.fromstring(response.text).find("Gather")
    return None if found is None else found.get("action")


def test_voice_gather_status_sequence_over_http(
    server: Server, attempt_id: int, sessions: sessionmaker[Session]
) -> None:
    """A whole answered call over HTTP: each Gather action is the next URL to post to."""
    opening = post(server, f"/twilio/voice?attempt={attempt_id}", call_form())
    redirect = ET.fromstring(opening.text).find("Redirect")  # the neutral opening holds once
    assert redirect is not None and (redirect.text or "").startswith(server.base_url)
    held = (redirect.text or "").removeprefix(server.base_url)
    next_url = action(post(server, held, call_form()))
    for digits in ["1", "2", "1", "4"]:
        assert next_url is not None and next_url.startswith(server.base_url)
        next_url = action(
            post(server, next_url.removeprefix(server.base_url), call_form(Digits=digits))
        )
    assert next_url is None
    done = post(
        server,
        f"/twilio/status?attempt={attempt_id}",
        call_form(CallStatus="completed", SequenceNumber="3", CallDuration="40"),
    )
    assert 204 == done.status_code
    with sessions() as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        assert AttemptStatus.COMPLETED == attempt.status
        answers = session.scalars(select(Answer).where(Answer.attempt_id == attempt_id))
        assert {"recovery": "same", "medication": "yes", "satisfaction": "4"} == {
            a.question: a.value for a in answers
        }
        case = session.get(Case, attempt.case_id)
        assert case is not None and CaseOutcome.COMPLETED == case.outcome


def test_bad_signature_over_http_is_forbidden(server: Server, attempt_id: int) -> None:
    """A request signed with another token gets 403."""
    response = post(server, f"/twilio/voice?attempt={attempt_id}", call_form(), token="wrong")
    assert 403 == response.status_code


def test_signature_over_another_host_is_forbidden(server: Server, attempt_id: int) -> None:
    """Signing for the URL the app would see behind a proxy is not enough."""
    path = f"/twilio/voice?attempt={attempt_id}"
    form = call_form()
    headers = {"X-Twilio-Signature": signature("https://proxy.example" + path, form)}
    response = requests.post(server.base_url + path, data=form, headers=headers, timeout=10)
    assert 403 == response.status_code


def test_oversize_body_over_http_is_refused(
    server: Server, attempt_id: int, sessions: sessionmaker[Session]
) -> None:
    """A body over the limit gets 413 and the attempt is untouched."""
    form = call_form(Padding="x" * (server.settings.max_body_bytes + 1))
    response = post(server, f"/twilio/voice?attempt={attempt_id}", form)
    assert 413 == response.status_code
    with sessions() as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None and attempt.flow_state is None
