"""A callback's recording: announced by the <Dial>, linked as evidence, then fetched, kept and
purged like the case's other recordings, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Attempt,
    AuditEntry,
    Evidence,
    EvidenceKind,
    Recording,
    RecordingStatus,
)
from ivr.queue.access import acting_user
from ivr.queue.actions import resolve
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from recordings.fetch import fetch_due
from recordings.purge import purge_expired
from recordings.store import LocalStore, recording_path
from recordings.timeline import recording_timeline
from tests import factories
from tests.conftest import ACCOUNT_SID, FakeClock
from tests.integration.test_agent_callback import (
    AGENT_SID,
    API,
    DIAL_SID,
    Desk,
    bridging,
    callback_row,
    make_desk,
    post,
    with_twilio,
)
from tests.integration.test_queue_actions import add_escalation, add_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

S = AgentCallbackStatus
RECORDINGS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"
RECORDING_SID = "RE" + "b4" * 16
WAV = recording_wav(3.0, channels=2)


@pytest.fixture
def calling(services: Services) -> Services:
    return with_twilio(services)


@pytest.fixture
def client(settings: Settings, calling: Services) -> FlaskClient:
    return create_app(settings, services=calling).test_client()


@pytest.fixture
def desk(calling: Services, clock: FakeClock) -> Desk:
    return make_desk(calling, clock.now)


def announce(client: FlaskClient, callback_id: int, **fields: str) -> int:
    """The <Dial>'s recording callback as Twilio sends it; the HTTP status."""
    form = {
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"{RECORDINGS_URL}/{RECORDING_SID}",
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
        "RecordingStartTime": "Mon, 07 Jan 2030 01:01:05 +0000",
        "ErrorCode": "0",
        **fields,
    }
    return int(post(client, "recording", callback_id, **form).status_code)


def evidence_rows(services: Services) -> list[Evidence]:
    with services.sessions() as session:
        return list(session.scalars(select(Evidence)))


def recording_rows(services: Services) -> list[Recording]:
    with services.sessions() as session:
        return list(session.scalars(select(Recording)))


def test_the_recording_callback_makes_one_recording_and_one_evidence_link(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
) -> None:
    """Twice the same callback: one PENDING recording of the callback, one evidence, on hold."""
    callback_id = bridging(client, calling, desk, mocked)

    assert 204 == announce(client, callback_id)
    assert 204 == announce(client, callback_id)

    (row,) = recording_rows(calling)
    assert (None, callback_id, AGENT_SID) == (row.attempt_id, row.callback_id, row.call_sid)
    assert (RecordingStatus.PENDING, clock.now, 2) == (row.status, row.next_fetch_at, row.channels)
    assert datetime(2030, 1, 7, 1, 1, 5, tzinfo=UTC) == row.started_at
    assert row.legal_hold  # evidence outlives its retention, as any linked recording does
    (evidence,) = evidence_rows(calling)
    assert (desk.escalation_id, EvidenceKind.RECORDING, row.id) == (
        evidence.escalation_id,
        evidence.kind,
        evidence.recording_id,
    )
    assert "system:callback" == evidence.added_by
    with calling.sessions() as session:
        audited = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert ["recording.hold", "escalation.evidence_added"] == list(audited)


def test_a_recording_of_another_call_is_kept_but_not_linked(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """A CallSid that is not the callback's: the recording is still noted, never as evidence."""
    callback_id = bridging(client, calling, desk, mocked)

    assert (
        204
        == post(
            client,
            "recording",
            callback_id,
            "CA" + "ee" * 16,
            RecordingSid=RECORDING_SID,
            RecordingUrl=f"{RECORDINGS_URL}/{RECORDING_SID}",
            RecordingStatus="completed",
        ).status_code
    )

    (row,) = recording_rows(calling)
    assert (None, None) == (row.attempt_id, row.callback_id)
    assert [] == evidence_rows(calling)


def test_an_absent_recording_is_noted_as_failed_and_not_linked(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """RecordingStatus absent: a FAILED row says so; there is nothing to link."""
    callback_id = bridging(client, calling, desk, mocked)

    assert 204 == announce(client, callback_id, RecordingStatus="absent", RecordingUrl="")

    (row,) = recording_rows(calling)
    assert RecordingStatus.FAILED == row.status
    assert [] == evidence_rows(calling)


def test_the_fetch_job_stores_a_callback_recording_like_any_other(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
) -> None:
    """Downloaded, verified, checksummed and stored; the provider's copy deleted. The timeline
    of a recording without an attempt starts at the recording; resolve can cite it."""
    callback_id = bridging(client, calling, desk, mocked)
    fields = {"DialCallStatus": "completed", "DialCallSid": DIAL_SID, "DialCallDuration": "3"}
    post(client, "dialed", callback_id, **fields)
    announce(client, callback_id)
    mocked.get(
        f"{RECORDINGS_URL}/{RECORDING_SID}.wav",
        body=WAV,
        status=200,
        content_type="audio/x-wav",
    )
    mocked.delete(f"{RECORDINGS_URL}/{RECORDING_SID}.json", status=204)

    report = fetch_due(calling, workers=1)

    assert 1 == report.stored
    (row,) = recording_rows(calling)
    assert (RecordingStatus.STORED, hashlib.sha256(WAV).hexdigest(), 2) == (
        row.status,
        row.sha256,
        row.channels,
    )
    assert row.provider_deleted_at is not None
    with calling.sessions() as session:
        timeline = recording_timeline(session, row.id)
        assert timeline is not None
        assert (None, AGENT_SID) == (timeline.attempt_id, timeline.call_sid)
    with calling.sessions.begin() as session:
        ann = acting_user(session, "ann")
        resolve(
            session,
            calling,
            desk.escalation_id,
            ann,
            outcome="advice_given",
            recording_sid=RECORDING_SID,
        )
    assert 1 == len(evidence_rows(calling))
    assert S.COMPLETED == callback_row(calling, callback_id).status


# --- retention ----------------------------------------------------------------------------------

PAST = date(2028, 6, 1)  # with retention=1y: due since 2029-06-01


def test_a_callback_recording_is_kept_and_purged_as_its_cases_other_recordings(
    services: Services, clock: FakeClock
) -> None:
    """The purge finds the case of a recording without an attempt through its callback: the same
    retain_until as the case's call recording, purged with it once due."""
    now = clock.now
    store = LocalStore(services.settings.recordings_dir)
    with services.sessions.begin() as session:
        campaign = factories.campaign(session, now, retention="1y")
        case = factories.case(session, campaign, now, anchor=PAST)
        agent = add_user(session, now, "ann")
        escalation_id = add_escalation(session, campaign, now, ref=case.external_ref)
        attempt = Attempt(case_id=case.id, number=1, language="zh-CN", created_at=now)
        callback = AgentCallback(
            escalation_id=escalation_id,
            case_id=case.id,
            agent_id=agent.id,
            status=S.COMPLETED,
            requested_at=now,
        )
        session.add_all([attempt, callback])
        session.flush()
        for n, (attempt_id, callback_id) in enumerate(((attempt.id, None), (None, callback.id))):
            sid = f"RE{n + 1:032x}"
            path = recording_path(sid, now)
            store.put(path, WAV)
            session.add(
                Recording(
                    attempt_id=attempt_id,
                    callback_id=callback_id,
                    recording_sid=sid,
                    call_sid=f"CA{n + 1:032x}",
                    media_url=f"https://api.example.test/{sid}",
                    status=RecordingStatus.STORED,
                    sha256=hashlib.sha256(WAV).hexdigest(),
                    size_bytes=len(WAV),
                    path=path,
                    created_at=now,
                    stored_at=now,
                )
            )

    report = purge_expired(services)

    assert 2 == len(report.purged)
    rows = recording_rows(services)
    assert [date(2029, 6, 1)] * 2 == [r.retain_until for r in rows]
    assert all(r.purged_at is not None for r in rows)
