"""Key rotation: stored recordings re-sealed with the new key, never an altered one."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import Recording, RecordingStatus
from ivr.telephony.sim_media import recording_wav
from recordings.crypto import EncryptedStore, RecordingKey, reseal_recordings, sealed_key_id
from recordings.listen import listen_path
from recordings.store import LocalStore
from recordings.verify import verify_store
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

OLD = RecordingKey(bytes(range(32)))
NEW = RecordingKey(bytes(range(32, 64)))


def keep(
    sessions: sessionmaker[Session], store: LocalStore | EncryptedStore, n: int, now: FakeClock
) -> str:
    """Store recording n (and its listening copy) through `store`, its row naming the key."""
    sid = f"RE{n:032x}"
    path = f"2030/01/{sid}.wav"
    data = recording_wav(1.0 + n)
    store.put(path, data)
    store.put(listen_path(path), b"mp3 of " + sid.encode())
    with sessions.begin() as session:
        session.add(
            Recording(
                recording_sid=sid,
                call_sid=f"CA{n:032x}",
                media_url=f"https://api.example.test/{sid}",
                status=RecordingStatus.STORED,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                path=path,
                listen_path=listen_path(path),
                key_id=store.key_id,
                created_at=now(),
            )
        )
    return path


def key_ids(sessions: sessionmaker[Session]) -> list[str | None]:
    with sessions() as session:
        return list(session.scalars(select(Recording.key_id).order_by(Recording.id)))


def test_rotation_moves_every_file_to_the_new_key(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """Old-key and clear recordings end under the new key; the old key can then be dropped."""
    disk = LocalStore(settings.recordings_dir)
    paths = [keep(sessions, EncryptedStore(disk, OLD), 1, clock), keep(sessions, disk, 2, clock)]
    rotated = EncryptedStore(disk, NEW, [OLD])

    first = reseal_recordings(sessions, rotated)
    second = reseal_recordings(sessions, rotated)

    assert (2, [], 0) == (first.resealed, first.skipped, second.resealed)
    assert [NEW.key_id, NEW.key_id] == key_ids(sessions)
    for path in paths:
        assert NEW.key_id == sealed_key_id(disk.read(path))
        assert NEW.key_id == sealed_key_id(disk.read(listen_path(path)))
    report = verify_store(sessions, EncryptedStore(disk, NEW))
    assert (report.ok, report.intact, report.findings) == (True, 2, [])


def test_an_altered_recording_is_left_as_it_is(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """Re-sealing altered audio would make it look intact: it is skipped, bytes untouched."""
    disk = LocalStore(settings.recordings_dir)
    old = EncryptedStore(disk, OLD)
    path = keep(sessions, old, 1, clock)
    audio = bytearray(old.read(path))
    audio[100] ^= 0x01
    old.put(path, bytes(audio))  # validly sealed, but not the audio that was recorded
    before = disk.read(path)

    report = reseal_recordings(sessions, EncryptedStore(disk, NEW, [OLD]))

    assert 0 == report.resealed
    assert ["recorded checksum" in reason for reason in report.skipped] == [True]
    assert (before, [OLD.key_id]) == (disk.read(path), key_ids(sessions))


def test_a_recording_whose_key_is_gone_is_skipped_with_the_reason(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """Without the old key nothing can be re-sealed; the pass says which key is missing."""
    disk = LocalStore(settings.recordings_dir)
    keep(sessions, EncryptedStore(disk, OLD), 1, clock)

    report = reseal_recordings(sessions, EncryptedStore(disk, NEW))

    assert 0 == report.resealed
    assert OLD.key_id in report.skipped[0]
