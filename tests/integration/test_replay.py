"""Replaying recordings through the Flask test client, on SQLite and PostgreSQL.

Who may listen (401, 403), what must be said (reason), what is sent (200, 206, 416, HEAD, ETag),
what is refused (an altered or missing file, a purged recording) and what is left behind: one
audit entry per replay, in a chain that still verifies.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import generate_password_hash

from ivr.app import create_app
from ivr.audit.log import verify_chain
from ivr.config import Settings
from ivr.models import AuditEntry, Recording, RecordingStatus, StaffRole, StaffUser
from ivr.services import Services
from recordings.store import LocalStore, recording_path
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

PASSWORD = "fictional-password-42"
# Cheap to check: these tests are about what follows sign-in (test_staff_* covers the real hash).
TEST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
RATE = 8000


def wav_bytes(seconds: float, rate: int = RATE) -> bytes:
    """A mono 16-bit WAV whose every sample differs from its neighbours (a ramp)."""
    frames = int(seconds * rate)
    samples = b"".join((i % 65536).to_bytes(2, "little") for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def add_user(sessions: sessionmaker[Session], now: datetime, name: str, role: StaffRole) -> None:
    """A member of staff who signs in with PASSWORD."""
    with sessions.begin() as session:
        session.add(StaffUser(username=name, password_hash=TEST_HASH, role=role, created_at=now))


def store_recording(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    data: bytes,
    *,
    sid: str = "RE" + "a1" * 16,
    listen: bytes | None = None,
) -> int:
    """A recording stored as the fetcher leaves it (and a listening copy if given); its id."""
    store = LocalStore(settings.recordings_dir)
    path = recording_path(sid, now)
    store.put(path, data)
    listen_path = None
    if listen is not None:
        listen_path = path.replace(".wav", ".mp3")
        store.put(listen_path, listen)
    with sessions.begin() as session:
        row = Recording(
            recording_sid=sid,
            call_sid="CA" + "b2" * 16,
            media_url="https://api.twilio.example/none",
            status=RecordingStatus.STORED,
            duration_s=int(len(data) / (RATE * 2)),
            channels=1,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            path=path,
            listen_path=listen_path,
            created_at=now,
            stored_at=now,
            started_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def replays(sessions: sessionmaker[Session], action: str = "recording.replay") -> list[AuditEntry]:
    """The audit entries of one action, oldest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


@dataclass
class Bed:
    """An app with a stored recording and one user per role."""

    app: Flask
    recording_id: int
    data: bytes
    path: Path


@pytest.fixture
def bed(
    settings: Settings, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> Bed:
    for role in StaffRole:
        add_user(sessions, clock.now, f"{role.value}-1", role)
    data = wav_bytes(2.0)
    recording_id = store_recording(sessions, settings, clock.now, data)
    with sessions() as session:
        relative = session.get_one(Recording, recording_id).path
    assert relative is not None
    app = create_app(settings, services=services)
    return Bed(app, recording_id, data, settings.recordings_dir / relative)


def signed_in(app: Flask, role: StaffRole) -> FlaskClient:
    """A test client signed in as the user holding `role`."""
    client = app.test_client()
    answer = client.post("/auth/login", json={"username": f"{role.value}-1", "password": PASSWORD})
    assert 200 == answer.status_code, answer.json
    return client


@pytest.fixture
def compliance(bed: Bed) -> FlaskClient:
    return signed_in(bed.app, StaffRole.COMPLIANCE)


def audio_url(bed: Bed, reason: str = "complaint C-104", **extra: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"reason": reason, **extra}.items())
    return f"/recordings/{bed.recording_id}/audio?{query}"


def test_nobody_signed_in_gets_401_and_nothing_is_audited(
    bed: Bed, sessions: sessionmaker[Session]
) -> None:
    """Without a session the endpoint says to sign in, and serves and writes nothing."""
    answer = bed.app.test_client().get(audio_url(bed))
    assert 401 == answer.status_code
    assert "sign in" in answer.json["error"]
    assert [] == replays(sessions)


def test_an_agent_gets_403(bed: Bed, sessions: sessionmaker[Session]) -> None:
    """Agents may not replay recordings yet (a later issue opens their own escalations)."""
    answer = signed_in(bed.app, StaffRole.AGENT).get(audio_url(bed))
    assert 403 == answer.status_code
    assert [] == replays(sessions)


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.COMPLIANCE, StaffRole.ADMIN])
def test_supervisors_compliance_and_admins_may_listen(bed: Bed, role: StaffRole) -> None:
    """The three roles that review calls get the evidence file."""
    answer = signed_in(bed.app, role).get(audio_url(bed))
    assert (200, bed.data) == (answer.status_code, answer.data)


@pytest.mark.parametrize("query", ["", "reason=", "reason=%20%20", "reason=" + "x" * 501])
def test_a_missing_blank_or_overlong_reason_is_a_400(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session], query: str
) -> None:
    """Every listen needs a reason for the audit log; the error says what to send."""
    answer = compliance.get(f"/recordings/{bed.recording_id}/audio?{query}")
    assert 400 == answer.status_code
    assert "reason" in answer.json["error"]
    assert [] == replays(sessions)


def test_a_whole_replay_is_the_evidence_file_with_its_checksum_as_etag(
    bed: Bed, compliance: FlaskClient
) -> None:
    """No Range: 200, the whole WAV, seekable, never cached, the recorded SHA-256 as ETag."""
    answer = compliance.get(audio_url(bed))
    assert 200 == answer.status_code
    assert bed.data == answer.data
    assert "audio/wav" == answer.mimetype
    assert "bytes" == answer.headers["Accept-Ranges"]
    assert f'"{hashlib.sha256(bed.data).hexdigest()}"' == answer.headers["ETag"]
    assert str(len(bed.data)) == answer.headers["Content-Length"]
    assert "no-store" == answer.headers["Cache-Control"]
    assert "Content-Range" not in answer.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-100", -100, None),
        ("bytes=44-1000000", 44, None),
    ],
)
def test_a_range_is_a_206_with_exactly_those_bytes(
    bed: Bed, compliance: FlaskClient, header: str, first: int, last: int | None
) -> None:
    """bytes=a-b, a- and -n each get 206, Content-Range, and the file's own bytes."""
    size = len(bed.data)
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    answer = compliance.get(audio_url(bed), headers={"Range": header})
    assert 206 == answer.status_code
    assert f"bytes {start}-{end}/{size}" == answer.headers["Content-Range"]
    assert bed.data[start : end + 1] == answer.data
    assert str(end - start + 1) == answer.headers["Content-Length"]


def test_a_range_past_the_end_is_416_and_not_audited(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """Nothing of the file is sent, so nothing is listened to: 416 with the size, no entry."""
    answer = compliance.get(audio_url(bed), headers={"Range": f"bytes={len(bed.data)}-"})
    assert 416 == answer.status_code
    assert f"bytes */{len(bed.data)}" == answer.headers["Content-Range"]
    assert [] == replays(sessions)


def test_head_gives_the_headers_of_the_answer_without_audio_or_audit_entry(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """HEAD tells size, type and checksum, for a player's first look; it sends no sound."""
    answer = compliance.head(audio_url(bed), headers={"Range": "bytes=10-19"})
    assert 206 == answer.status_code
    assert b"" == answer.data
    assert "10" == answer.headers["Content-Length"]
    assert f"bytes 10-19/{len(bed.data)}" == answer.headers["Content-Range"]
    assert answer.headers["ETag"].startswith('"')
    assert [] == replays(sessions)


def test_if_range_with_another_etag_gets_the_whole_file(bed: Bed, compliance: FlaskClient) -> None:
    """A player holding an older version must not splice new bytes into it."""
    answer = compliance.get(
        audio_url(bed), headers={"Range": "bytes=0-9", "If-Range": '"not-this-version"'}
    )
    assert (200, bed.data) == (answer.status_code, answer.data)
    current = answer.headers["ETag"]
    again = compliance.get(audio_url(bed), headers={"Range": "bytes=0-9", "If-Range": current})
    assert (206, bed.data[:10]) == (again.status_code, again.data)


def test_each_replay_writes_one_audit_entry_and_the_chain_verifies(
    bed: Bed, compliance: FlaskClient, services: Services, sessions: sessionmaker[Session]
) -> None:
    """Who, why and which bytes, once per served request; the keyed chain stays whole."""
    compliance.get(audio_url(bed, reason="complaint C-104"))
    compliance.get(audio_url(bed, reason="complaint C-104"), headers={"Range": "bytes=44-"})
    compliance.get(audio_url(bed, reason="audit%20%20sample%097"), headers={"Range": "bytes=-10"})
    entries = replays(sessions)
    size = len(bed.data)
    assert [
        ("compliance-1", str(bed.recording_id), "complaint C-104", "all"),
        ("compliance-1", str(bed.recording_id), "complaint C-104", f"44-{size - 1}"),
        ("compliance-1", str(bed.recording_id), "audit sample 7", f"{size - 10}-{size - 1}"),
    ] == [(e.actor, e.object_id, e.detail["reason"], e.detail["range"]) for e in entries]
    assert {"evidence"} == {e.detail["copy"] for e in entries}
    with sessions() as session:
        assert verify_chain(session, services) is None


def test_a_changed_byte_is_refused_logged_and_audited_even_after_a_good_replay(
    bed: Bed,
    compliance: FlaskClient,
    services: Services,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cached checksum must not hide a change: one byte altered, mtime put back, refused."""
    assert 200 == compliance.get(audio_url(bed)).status_code  # the checksum is now cached
    before = bed.path.stat()
    with bed.path.open("r+b") as handle:
        handle.seek(1000)
        original = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([original[0] ^ 0xFF]))
    # Someone covering their tracks sets the modification time back; the change time moves on.
    os.utime(bed.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with caplog.at_level(logging.ERROR, logger="recordings.replay"):
        answer = compliance.get(audio_url(bed), headers={"Range": "bytes=0-99"})
    assert 409 == answer.status_code
    assert "altered" in answer.json["error"]
    assert [("recording.integrity_failed", bed.recording_id)] == [
        (r.action, r.recording_id)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "action", "") == "recording.integrity_failed"
    ]
    [failure] = replays(sessions, "recording.integrity_failed")
    assert ("compliance-1", "altered") == (failure.actor, failure.detail["problem"])
    assert 1 == len(replays(sessions))  # only the replay before the change
    with sessions() as session:
        assert verify_chain(session, services) is None


def test_a_missing_file_is_refused_and_audited(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """A stored recording whose file has gone is an integrity failure too, not a 404."""
    bed.path.unlink()
    answer = compliance.get(audio_url(bed))
    assert 409 == answer.status_code
    [failure] = replays(sessions, "recording.integrity_failed")
    assert "missing" == failure.detail["problem"]


def test_purged_is_410_pending_and_unknown_are_404(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A purged row stays as the record (410 Gone); a recording not yet stored is not found."""
    with sessions.begin() as session:
        row = session.get_one(Recording, bed.recording_id)
        row.purged_at = clock.now + timedelta(days=1)
        pending = Recording(
            recording_sid="RE" + "c3" * 16,
            call_sid="CA" + "d4" * 16,
            media_url="https://api.twilio.example/none",
            status=RecordingStatus.PENDING,
            created_at=clock.now,
        )
        session.add(pending)
        session.flush()
        pending_id = pending.id
    assert 410 == compliance.get(audio_url(bed)).status_code
    assert 404 == compliance.get(f"/recordings/{pending_id}/audio?reason=x").status_code
    assert 404 == compliance.get("/recordings/999999/audio?reason=x").status_code
    assert [] == replays(sessions)


def test_the_listening_copy_is_served_as_mpeg_and_audited_as_such(
    settings: Settings,
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    """copy=listen serves the compressed copy; a recording without one answers 404."""
    add_user(sessions, clock.now, "compliance-1", StaffRole.COMPLIANCE)
    listen = b"ID3" + bytes(range(256)) * 8  # stands in for an MP3: served as stored
    with_copy = store_recording(sessions, settings, clock.now, wav_bytes(0.5), listen=listen)
    without = store_recording(sessions, settings, clock.now, wav_bytes(0.5), sid="RE" + "e5" * 16)
    client = signed_in(create_app(settings, services=services), StaffRole.COMPLIANCE)

    answer = client.get(f"/recordings/{with_copy}/audio?reason=QA&copy=listen")
    assert (200, "audio/mpeg", listen) == (answer.status_code, answer.mimetype, answer.data)
    part = client.get(
        f"/recordings/{with_copy}/audio?reason=QA&copy=listen", headers={"Range": "bytes=3-5"}
    )
    assert (206, listen[3:6]) == (part.status_code, part.data)
    assert 404 == client.get(f"/recordings/{without}/audio?reason=QA&copy=listen").status_code
    assert 400 == client.get(f"/recordings/{with_copy}/audio?reason=QA&copy=raw").status_code
    assert ["listen", "listen"] == [e.detail["copy"] for e in replays(sessions)]


def test_errors_carry_no_personal_data_and_no_store_path(bed: Bed, compliance: FlaskClient) -> None:
    """Refusals name the recording by id only: no file path, no number, no name."""
    bed.path.unlink()
    body = compliance.get(audio_url(bed)).get_data(as_text=True)
    assert "RE" not in body and str(bed.path) not in body and "recordings/" not in body


def test_the_timeline_is_served_to_the_same_roles_and_audited(
    bed: Bed, compliance: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """GET .../timeline: JSON aligned to the recording, 403 for agents, one audit entry."""
    answer = compliance.get(f"/recordings/{bed.recording_id}/timeline")
    assert 200 == answer.status_code
    assert bed.recording_id == answer.json["recording"]["id"]
    assert "recording.started" == answer.json["events"][0]["kind"]
    assert 0.0 == answer.json["events"][0]["offset_s"]
    agent = signed_in(bed.app, StaffRole.AGENT)
    assert 403 == agent.get(f"/recordings/{bed.recording_id}/timeline").status_code
    assert 404 == compliance.get("/recordings/999999/timeline").status_code
    assert ["compliance-1"] == [e.actor for e in replays(sessions, "recording.timeline")]
