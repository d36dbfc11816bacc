"""A call's timeline, written by the webhooks and read aligned to its recording.

A cooling-off call is played through the webhook test client as Twilio would send it (status
callbacks, the held opening, identity entries, answers, a replayed Gather, the recording callback
with RecordingStartTime), on SQLite and PostgreSQL. The identity digits keyed in must appear
nowhere: not in the call_event rows, not in the timeline.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from ivr.app import create_app
from ivr.call_events import MASK
from ivr.campaigns.service import create_campaign
from ivr.cli import main
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.identity import FACTS_KEY, fact_hash
from ivr.models import Attempt, AttemptStatus, CallEvent, CaseStatus, Recording
from ivr.services import Services
from recordings.timeline import align, attempt_timeline, recording_timeline
from tests import factories
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, PUBLIC_BASE_URL, SECRET_KEY, FakeClock
from tests.integration.conftest import API
from tests.webhook_client import signed_post

CALL_SID = "CA" + "7e" * 16
RECORDING_SID = "RE" + "7f" * 16
DOB, ID_LAST4 = "19800501", "123X"  # fictional; keyed in as 19800501 and 123*
# Every way the identity facts could leak: as keyed, as normalised, and in parts.
SECRETS = ("19800501", "1980-05-01", "123X", "123*", "0501", "1980")
RECORDING_URL = (
    f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}/Recordings/Twilio.CURRENT.json"
)


@dataclass(frozen=True)
class Call:
    attempt_id: int


@pytest.fixture
def recording_api() -> Iterator[responses.RequestsMock]:
    """Twilio's REST API for pausing and resuming the call's recording."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        body = {"sid": RECORDING_SID, "call_sid": CALL_SID, "account_sid": ACCOUNT_SID}
        mocked.add(responses.POST, RECORDING_URL, json={**body, "status": "paused"})
        yield mocked


@pytest.fixture
def app(settings: Settings, dialling: Services, recording_api: responses.RequestsMock) -> Flask:
    return create_app(settings, services=dialling)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> Call:
    """A cooling-off case in call, its identity facts kept as keyed hashes only."""
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name="cooling-7", template_name="cooling-off", overrides={}, now=clock.now
        )
        facts = {
            "dob": fact_hash(SECRET_KEY, "dob", DOB),
            "id_last4": fact_hash(SECRET_KEY, "id_last4", ID_LAST4),
        }
        case = factories.case(
            session,
            campaign,
            clock.now,
            ref="PL-0001",
            language="en-US",
            details={FACTS_KEY: facts, "premium": "3600", "payment_years": "10"},
        )
        case.status = CaseStatus.IN_CALL
        case.attempts_made = 1
        attempt = Attempt(
            case_id=case.id,
            number=1,
            status=AttemptStatus.QUEUED,
            call_sid=CALL_SID,
            language="en-US",
            created_at=clock.now,
            placed_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        return Call(attempt.id)


def post(client: FlaskClient, path: str, **fields: str) -> TestResponse:
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "From": FROM_NUMBER,
        "To": factories.FICTIONAL_PHONES[0],
        "Direction": "outbound-api",
        **fields,
    }
    answer = signed_post(client, path, form)
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)
    return answer


def keys(client: FlaskClient, call: Call, step: int, digits: str) -> TestResponse:
    return post(
        client,
        f"/twilio/gather?attempt={call.attempt_id}&step={step}",
        CallStatus="in-progress",
        Digits=digits,
    )


def status(client: FlaskClient, call: Call, value: str, sequence: int) -> None:
    post(
        client,
        f"/twilio/status?attempt={call.attempt_id}",
        CallStatus=value,
        SequenceNumber=str(sequence),
        CallbackSource="call-progress-events",
    )


def play_verified_call(client: FlaskClient, call: Call, clock: FakeClock) -> datetime:
    """The whole call, a few seconds between each request; returns when it was answered."""
    status(client, call, "initiated", 0)
    clock.advance(seconds=2)
    status(client, call, "ringing", 1)
    clock.advance(seconds=6)
    answered = clock.now
    opening = post(client, f"/twilio/voice?attempt={call.attempt_id}", CallStatus="in-progress")
    redirect = ET.fromstring(opening.get_data(as_text=True)).find("Redirect")
    assert redirect is not None and redirect.text
    clock.advance(seconds=4)
    post(client, redirect.text.removeprefix(PUBLIC_BASE_URL), CallStatus="in-progress")
    for step, digits, wait in [
        (1, "1", 9),  # I am the policyholder
        (2, "19800501", 12),  # date of birth (Twilio leaves the finishing # out of Digits)
        (3, "123*", 7),  # last 4 of the ID card, * for X
        (4, "1", 8),
        (5, "1", 8),
        (6, "1", 8),
        (7, "1", 8),
    ]:
        clock.advance(seconds=wait)
        keys(client, call, step, digits)
    clock.advance(seconds=3)
    status(client, call, "completed", 4)
    post(
        client,
        f"/twilio/recording?attempt={call.attempt_id}",
        RecordingSid=RECORDING_SID,
        RecordingUrl=f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        RecordingStatus="completed",
        RecordingDuration=str(int((clock.now - answered).total_seconds())),
        RecordingChannels="1",
        RecordingSource="OutboundAPI",
        RecordingStartTime=format_datetime(answered),
        ErrorCode="0",
    )
    return answered


def call_events(sessions: sessionmaker[Session], call: Call) -> list[tuple[str, str | None]]:
    with sessions() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.attempt_id == call.attempt_id).order_by(CallEvent.id)
        )
        return [(row.kind, row.detail) for row in rows]


parametrized = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@parametrized
def test_the_recording_keeps_its_provider_start_time(
    client: FlaskClient, call: Call, clock: FakeClock, sessions: sessionmaker[Session]
) -> None:
    """RecordingStartTime (RFC 2822) becomes Recording.started_at, offset 0 of the audio."""
    answered = play_verified_call(client, call, clock)
    with sessions() as session:
        row = session.scalars(select(Recording)).one()
    assert answered == row.started_at


@parametrized
def test_the_timeline_puts_each_moment_at_its_offset_in_the_recording(
    client: FlaskClient, call: Call, clock: FakeClock, sessions: sessionmaker[Session]
) -> None:
    """Statuses, prompts, keys, checks and pauses, in order, seconds from the recording's start."""
    play_verified_call(client, call, clock)
    with sessions() as session:
        recording_id = session.scalars(select(Recording.id)).one()
        timeline = recording_timeline(session, recording_id)
    assert timeline is not None
    moments = [(e.offset_s, e.position, e.kind, e.detail) for e in timeline.events]
    assert [
        (-8.0, "before", "status", "initiated"),
        (-6.0, "before", "status", "ringing"),
        (0.0, "during", "recording.started", None),
        (0.0, "during", "status", "in-progress"),
        (4.0, "during", "prompt", "greeting + identify"),
        (13.0, "during", "key", "identify: 1"),
        (13.0, "during", "prompt", "dob"),
        (13.0, "during", "recording.paused", None),
        (25.0, "during", "key", f"dob: {MASK} matched"),
        (25.0, "during", "identity.checked", "dob matched"),
        (25.0, "during", "prompt", "id_last4"),
        (32.0, "during", "key", f"id_last4: {MASK} matched"),
        (32.0, "during", "identity.checked", "id_last4 matched"),
        (32.0, "during", "prompt", "questions_intro + signed"),
        (32.0, "during", "recording.resumed", None),
        (40.0, "during", "key", "signed: 1"),
        (40.0, "during", "prompt", "cooling_off"),
        (48.0, "during", "key", "cooling_off: 1"),
        (48.0, "during", "prompt", "coverage"),
        (56.0, "during", "key", "coverage: 1"),
        (56.0, "during", "prompt", "premium"),
        (64.0, "during", "key", "premium: 1"),
        (64.0, "during", "prompt", "completed_end"),
        (67.0, "during", "status", "completed"),
    ] == moments
    assert (CALL_SID, RECORDING_SID, 67) == (
        timeline.call_sid,
        timeline.recording_sid,
        timeline.duration_s,
    )


@parametrized
def test_identity_digits_appear_in_no_call_event_and_no_timeline(
    client: FlaskClient, call: Call, clock: FakeClock, sessions: sessionmaker[Session]
) -> None:
    """Only a mask and matched / did not match: wrong entries included, every table searched."""
    status(client, call, "ringing", 1)
    post(client, f"/twilio/voice?attempt={call.attempt_id}&held=1", CallStatus="in-progress")
    keys(client, call, 1, "1")
    keys(client, call, 2, "19800502")  # a wrong date of birth first
    keys(client, call, 3, DOB)
    keys(client, call, 4, "1234")  # a wrong ID ending
    keys(client, call, 5, "123*")
    events = call_events(sessions, call)
    assert ("key", f"dob: {MASK} did not match") in events
    assert ("key", f"id_last4: {MASK} matched") in events
    with sessions() as session:
        timeline = attempt_timeline(session, call.attempt_id)
        assert timeline is not None
        dump = json.dumps(timeline.as_json(), ensure_ascii=False)
        tables = "\n".join(
            str(row)
            for table in ("call_event", "attempt", "answer", "audit_entry", "case")
            for row in session.execute(text(f'SELECT * FROM "{table}"'))
        )
    for secret in (*SECRETS, "19800502", "1234"):
        assert secret not in dump
        assert secret not in tables


@parametrized
def test_a_replayed_gather_adds_no_event(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Twilio retries a slow webhook: the second copy gets the same TwiML and writes nothing."""
    post(client, f"/twilio/voice?attempt={call.attempt_id}&held=1", CallStatus="in-progress")
    keys(client, call, 1, "1")
    before = call_events(sessions, call)
    keys(client, call, 1, "1")
    keys(client, call, 1, "2")  # a stale copy with other keys
    status(client, call, "in-progress", 2)  # no change of status: no event
    assert before == call_events(sessions, call)


@parametrized
def test_an_unreadable_start_time_still_notes_the_recording(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """The recording must be fetched whatever the field says; its timeline has no offsets."""
    post(
        client,
        f"/twilio/recording?attempt={call.attempt_id}",
        RecordingSid=RECORDING_SID,
        RecordingUrl=f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        RecordingStatus="completed",
        RecordingStartTime="yesterday-ish",
    )
    with sessions() as session:
        row = session.scalars(select(Recording)).one()
        assert row.started_at is None
        timeline = recording_timeline(session, row.id)
    assert timeline is not None
    assert all(e.offset_s is None and e.position is None for e in timeline.events)


def test_align_orders_by_time_and_marks_moments_outside_the_audio() -> None:
    """Before the start: negative and "before"; past the duration: "after"; same time: as given."""
    start = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    moments = [
        (start + timedelta(seconds=70), "status", "completed"),
        (start + timedelta(seconds=5), "key", "q1: 4"),
        (start + timedelta(seconds=5), "prompt", "q2"),
        (start - timedelta(seconds=1.5), "status", "ringing"),
    ]
    events = align(moments, start, 60)
    assert [
        (-1.5, "before", "status"),
        (5.0, "during", "key"),
        (5.0, "during", "prompt"),
        (70.0, "after", "status"),
    ] == [(e.offset_s, e.position, e.kind) for e in events]
    assert [None] * 4 == [e.offset_s for e in align(moments, None, None)]


def test_ivr_recordings_timeline_prints_a_table_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ivr recordings timeline RE...`: offsets for people, JSON for scripts, 1 for unknown ids."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def ivr(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args), env={"IVR_DATABASE_URL": url})
        return result.exit_code, result.output

    assert 0 == ivr("db", "upgrade")[0]
    start = datetime(2030, 1, 7, 1, 0, 10, tzinfo=UTC)
    engine = make_engine(url)
    try:
        with make_sessions(engine).begin() as session:
            campaign = factories.campaign(session, start)
            case = factories.case(session, campaign, start)
            attempt = Attempt(
                case_id=case.id, number=1, call_sid=CALL_SID, language="zh-CN", created_at=start
            )
            session.add(attempt)
            session.flush()
            session.add_all(
                [
                    CallEvent(
                        attempt_id=attempt.id,
                        at=start - timedelta(seconds=3),
                        kind="status",
                        detail="ringing",
                    ),
                    CallEvent(
                        attempt_id=attempt.id,
                        at=start + timedelta(seconds=12),
                        kind="key",
                        detail="satisfaction: 4",
                    ),
                    CallEvent(
                        attempt_id=attempt.id,
                        at=start + timedelta(seconds=90),
                        kind="sms.due",
                        detail=None,
                    ),
                    Recording(
                        attempt_id=attempt.id,
                        recording_sid=RECORDING_SID,
                        call_sid=CALL_SID,
                        media_url="https://api.twilio.example/none",
                        duration_s=40,
                        started_at=start,
                        created_at=start,
                    ),
                ]
            )
    finally:
        engine.dispose()
    code, table = ivr("recordings", "timeline", RECORDING_SID)
    assert 0 == code, table
    assert "-3.0 s" in table and "+12.0 s" in table and "satisfaction: 4" in table
    assert "sms.due" not in table  # a text sent after the call is no moment of it
    code, raw = ivr("recordings", "timeline", RECORDING_SID, "--format", "json")
    document = json.loads(raw)
    assert [("status", -3.0), ("recording.started", 0.0), ("key", 12.0)] == [
        (e["kind"], e["offset_s"]) for e in document["events"]
    ]
    assert "2030-01-07T01:00:10Z" == document["recording"]["started_at"]
    code, missing = ivr("recordings", "timeline", "RE" + "0" * 32)
    assert 1 == code and "there is no recording" in missing
