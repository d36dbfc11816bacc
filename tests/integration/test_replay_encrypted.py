"""Replaying recordings kept encrypted at rest (IVR_RECORDINGS_KEY), on SQLite and PostgreSQL.

The store is read and decrypted whole on each request; what is served and checked is the plain
recording, and a sealed file that no longer decrypts is refused like an altered one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Recording, RecordingStatus, StaffRole
from ivr.services import Services
from recordings.crypto import RecordingKey
from recordings.store import open_store, recording_path
from tests.conftest import FakeClock
from tests.integration.test_replay import add_user, replays, signed_in, wav_bytes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

SID = "RE" + "5e" * 16


@pytest.fixture
def sealed(settings: Settings) -> Settings:
    """Settings whose store encrypts with a fresh key."""
    return settings.with_(recordings_key=RecordingKey.generate().to_base64())


def store_sealed(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock, data: bytes
) -> tuple[int, Path]:
    """A recording stored through the encrypting store, as the fetcher stores it."""
    store = open_store(settings)
    path = recording_path(SID, clock.now)
    store.put(path, data)
    with sessions.begin() as session:
        row = Recording(
            recording_sid=SID,
            call_sid="CA" + "5f" * 16,
            media_url="https://api.twilio.example/none",
            status=RecordingStatus.STORED,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            path=path,
            key_id=store.key_id,
            created_at=clock.now,
        )
        session.add(row)
        session.flush()
        return row.id, settings.recordings_dir / path


def client_for(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> FlaskClient:
    app = create_app(settings, services=Services(settings, sessions, clock=clock))
    return signed_in(app, StaffRole.COMPLIANCE)


def test_an_encrypted_recording_is_served_decrypted_with_ranges(
    sealed: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The file on disk is ciphertext; the listener gets the recording and can seek in it."""
    add_user(sessions, clock.now, "compliance-1", StaffRole.COMPLIANCE)
    data = wav_bytes(1.0)
    recording_id, on_disk = store_sealed(sessions, sealed, clock, data)
    assert data[44:1044] not in on_disk.read_bytes()
    client = client_for(sealed, sessions, clock)
    whole = client.get(f"/recordings/{recording_id}/audio?reason=QA")
    assert (200, data) == (whole.status_code, whole.data)
    assert f'"{hashlib.sha256(data).hexdigest()}"' == whole.headers["ETag"]
    part = client.get(f"/recordings/{recording_id}/audio?reason=QA", headers={"Range": "bytes=-8"})
    assert (206, data[-8:]) == (part.status_code, part.data)
    assert 2 == len(replays(sessions))


def test_a_changed_byte_in_the_sealed_file_is_refused_and_audited(
    sealed: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """AES-GCM no longer opens it: an integrity failure, like an altered clear file."""
    add_user(sessions, clock.now, "compliance-1", StaffRole.COMPLIANCE)
    recording_id, on_disk = store_sealed(sessions, sealed, clock, wav_bytes(1.0))
    blob = bytearray(on_disk.read_bytes())
    blob[100] ^= 0x01
    on_disk.write_bytes(bytes(blob))
    answer = client_for(sealed, sessions, clock).get(f"/recordings/{recording_id}/audio?reason=QA")
    assert 409 == answer.status_code
    [failure] = replays(sessions, "recording.integrity_failed")
    assert "altered" == failure.detail["problem"]
    assert [] == replays(sessions)


def test_without_the_key_the_answer_names_the_missing_key_not_an_alteration(
    sealed: Settings, settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A server started without IVR_RECORDINGS_KEY must not call intact evidence altered."""
    add_user(sessions, clock.now, "compliance-1", StaffRole.COMPLIANCE)
    recording_id, _ = store_sealed(sessions, sealed, clock, wav_bytes(1.0))
    client = client_for(settings, sessions, clock)
    answer = client.get(f"/recordings/{recording_id}/audio?reason=QA")
    assert 500 == answer.status_code
    assert "not configured" in answer.json["error"]
    assert [] == replays(sessions, "recording.integrity_failed")
    assert [] == replays(sessions)
