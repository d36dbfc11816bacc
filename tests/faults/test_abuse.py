"""Forged, replayed, oversized and oddly encoded requests to the provider routes.

Whatever arrives, the answer is a clean 4xx (or the 2xx that tells Twilio to stop), never a 500,
and no row changes. Unknown calls on voice, gather and status, and the 64 KiB Content-Length
refusal on status, are in tests/integration/test_webhooks.py.
"""

from __future__ import annotations

import io

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import Case
from tests.conftest import PUBLIC_BASE_URL, FakeClock
from tests.faults.support import Call, Statements, call_form, make_call, new_call, table_counts
from tests.webhook_client import signature, signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

ROUTES = ["voice", "gather", "status", "recording", "amd"]


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> Call:
    return make_call(sessions, clock.now)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return table_counts(session)


def recording_fields(sid: str = "RE" + "a" * 32) -> dict[str, str]:
    return {"RecordingSid": sid, "RecordingUrl": "https://api.twilio.com/x/" + sid}


@pytest.mark.parametrize("route", ["recording", "amd"])
def test_signed_callbacks_for_an_unknown_attempt_or_call_change_nothing(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], route: str
) -> None:
    """An attempt we never made, or another call's CallSid: 204 so Twilio stops, no row."""
    before = counts(sessions)
    fields = {**recording_fields(), "AnsweredBy": "machine_start"}
    ghost = Call(call.attempt_id + 1000, call.case_id, call.call_sid)
    other = Call(call.attempt_id, call.case_id, "CA" + "9" * 32)
    for target, body_call in ((ghost, ghost), (call, other)):
        path = f"/twilio/{route}?attempt={target.attempt_id}"
        assert 204 == signed_post(client, path, call_form(body_call, **fields)).status_code
    after = counts(sessions)
    if route == "recording":  # kept for the fetch job, but bound to no attempt of ours
        assert {**before, "recording": before["recording"] + 1} == after
    else:
        assert before == after


def test_a_captured_signed_request_replayed_at_another_attempt_is_refused(
    client: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock, engine: Engine
) -> None:
    """Twilio's signature for attempt A's URL, sent to attempt B's: 403, nothing read."""
    a = make_call(sessions, clock.now)
    with sessions.begin() as session:
        campaign_id = session.get_one(Case, a.case_id).campaign_id
        b = new_call(session, campaign_id, clock.now, serial=2)
    body = call_form(a, CallStatus="completed", SequenceNumber="3")
    captured = signature(f"{PUBLIC_BASE_URL}/twilio/status?attempt={a.attempt_id}", body)
    with Statements(engine) as statements:
        for replay in (body, call_form(b, CallStatus="completed", SequenceNumber="3")):
            answer = client.post(
                f"/twilio/status?attempt={b.attempt_id}",
                data=replay,
                headers={"X-Twilio-Signature": captured},
            )
            assert 403 == answer.status_code
    assert [] == statements


@pytest.mark.parametrize("route", ROUTES)
def test_an_oversized_body_is_413_on_every_route_even_without_a_content_length(
    client: FlaskClient, call: Call, settings: Settings, engine: Engine, route: str
) -> None:
    """Over max_body_bytes, declared or streamed chunked: 413, no SQL, signed or not."""
    path = f"/twilio/{route}?attempt={call.attempt_id}&step=1"
    body = call_form(call, CallStatus="completed", Padding="x" * (settings.max_body_bytes + 1))
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, body)}
    encoded = "&".join(f"{k}={v}" for k, v in body.items()).encode()
    with Statements(engine) as statements:
        declared = client.post(path, data=body, headers=headers)
        chunked = client.post(
            path,
            input_stream=io.BytesIO(encoded),
            content_type="application/x-www-form-urlencoded",
            headers={**headers, "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
    assert (413, 413) == (declared.status_code, chunked.status_code)
    assert [] == statements


ODD_BODIES = {
    "latin-1": b"CallStatus=completed&CallSid=CA%s&Note=caf\xe9",
    "invalid-utf-8": b"CallStatus=completed&CallSid=CA%s&Note=\xff\xfe\xc3\x28",
    "nul-bytes": b"CallStatus=completed&CallSid=CA%s%%00&Digits=1%%00&Note=a\x00b",
    "percent-garbage": b"CallStatus=%%zz&CallSid=CA%s&%%=%%%%",
}


@pytest.mark.parametrize("raw", ODD_BODIES.values(), ids=ODD_BODIES.keys())
@pytest.mark.parametrize("route", ROUTES)
def test_odd_encodings_unsigned_are_403_and_signed_are_never_a_500(
    app: Flask,
    client: FlaskClient,
    call: Call,
    sessions: sessionmaker[Session],
    route: str,
    raw: bytes,
) -> None:
    """Bytes no form encoder makes: refused unsigned; signed as decoded, a 4xx or a no-op."""
    path = f"/twilio/{route}?attempt={call.attempt_id}&step=1"
    body = raw.replace(b"%s", call.call_sid[2:].encode()) if b"%s" in raw else raw
    body = body.replace(b"%%", b"%")
    kind = "application/x-www-form-urlencoded"
    before = counts(sessions)
    assert 403 == client.post(path, data=body, content_type=kind).status_code
    with app.test_request_context(path, method="POST", data=body, content_type=kind):
        decoded = request.form.copy()
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, decoded)}
    answer = client.post(path, data=body, content_type=kind, headers=headers)
    assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
    if answer.status_code >= 400:
        assert before == counts(sessions)


@pytest.mark.parametrize("route", ROUTES)
def test_multipart_instead_of_a_form_is_refused_and_changes_nothing(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], route: str
) -> None:
    """Twilio posts application/x-www-form-urlencoded only: multipart is a 4xx, signed or not."""
    path = f"/twilio/{route}?attempt={call.attempt_id}&step=1"
    body = call_form(call, CallStatus="completed", Digits="1", **recording_fields())
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, body)}
    before = counts(sessions)
    for sent in ({}, headers):
        files = {**body, "upload": (io.BytesIO(b"GIF89a"), "x.gif")}
        answer = client.post(path, data=files, content_type="multipart/form-data", headers=sent)
        assert 400 <= answer.status_code < 500
    assert before == counts(sessions)
