"""`ivr recordings verify`: a changed byte, a lost file or a stray file is reported."""

from __future__ import annotations

import hashlib
import json
import socket
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ivr.cli import main
from ivr.config import Settings, load_settings
from ivr.migrate import upgrade
from ivr.models import Recording, RecordingStatus
from ivr.telephony.sim_media import recording_wav
from recordings.crypto import EncryptedStore, RecordingKey
from recordings.listen import listen_path
from recordings.store import LocalStore, RecordingStore, open_store, recording_path
from recordings.verify import Finding, verify_store
from tests.conftest import FakeClock
from tests.integration.test_s3_store import REGION, MotoS3, fake_aws_environment

SIDS = [f"RE{n:032x}" for n in range(1, 4)]


def store_three(sessions: sessionmaker[Session], store: RecordingStore, now: datetime) -> list[str]:
    """Three recordings stored through `store`, with their rows; return their paths."""
    paths = []
    with sessions.begin() as session:
        for n, sid in enumerate(SIDS):
            data = recording_wav(2 + n)
            path = recording_path(sid, now)
            store.put(path, data)
            paths.append(path)
            session.add(
                Recording(
                    recording_sid=sid,
                    call_sid=f"CA{n:032x}",
                    media_url=f"https://api.example.test/{sid}",
                    status=RecordingStatus.STORED,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    path=path,
                    created_at=now,
                )
            )
    return paths


def test_an_intact_store_verifies(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    store = LocalStore(settings.recordings_dir)
    store_three(sessions, store, clock.now)
    report = verify_store(sessions, store)
    assert report.ok and (report.checked, report.intact) == (3, 3)


def test_altered_missing_and_stray_files_are_reported(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    store = LocalStore(settings.recordings_dir)
    altered, missing, _ = store_three(sessions, store, clock.now)
    target = settings.recordings_dir / altered
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01  # one bit of one sample: inaudible, and still not the evidence we kept
    target.write_bytes(bytes(data))
    (settings.recordings_dir / missing).unlink()
    store.put("2030/01/REstray.wav", b"RIFF")
    report = verify_store(sessions, store)
    found = sorted((f.kind, f.path) for f in report.findings)
    assert found == [
        ("altered", altered),
        ("missing", missing),
        ("unreferenced", "2030/01/REstray.wav"),
    ]
    assert report.intact == 1
    assert str(report) == "checked 3, intact 1, missing 1, altered 1, unreferenced 1"


def test_cli_exits_1_when_anything_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade(url)
    env = {"IVR_DATABASE_URL": url, "IVR_RECORDINGS_DIR": str(tmp_path / "rec")}
    from ivr.db import make_engine, make_sessions

    engine = make_engine(url)
    paths = store_three(make_sessions(engine), LocalStore(tmp_path / "rec"), clock.now)
    engine.dispose()
    runner = CliRunner()
    good = runner.invoke(main, ["recordings", "verify"], env=env)
    assert good.exit_code == 0, good.output
    assert "checked 3, intact 3" in good.output
    (tmp_path / "rec" / paths[0]).write_bytes(b"RIFF....WAVE")
    bad = runner.invoke(main, ["recordings", "verify", "--format", "json"], env=env)
    assert bad.exit_code == 1
    payload = json.loads(bad.output)
    assert payload["findings"][0]["kind"] == "altered"
    assert payload["findings"][0]["recording_sid"] == SIDS[0]


KEY = RecordingKey(bytes(range(32)))
OTHER_KEY = RecordingKey(bytes(range(64, 96)))


def mark(sessions: sessionmaker[Session], sid: str, **values: object) -> None:
    """Change a recording row as another part of the product would."""
    with sessions.begin() as session:
        session.execute(update(Recording).where(Recording.recording_sid == sid).values(**values))


def test_purged_recordings_are_skipped_not_missing(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """A purge deleted the files: the row stays as the record, and is not a lost file."""
    store = LocalStore(settings.recordings_dir)
    purged, _, _ = store_three(sessions, store, clock.now)
    store.delete(purged)
    mark(sessions, SIDS[0], purged_at=clock.now)

    report = verify_store(sessions, store)

    assert (report.ok, report.checked, report.intact, report.purged) == (True, 2, 2, 1)
    assert str(report) == (
        "checked 2, intact 2, missing 0, altered 0, unreferenced 0, purged 1 (not checked)"
    )


def test_a_file_left_behind_by_a_purge_is_reported(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """Personal data that should be gone, still on disk: unreferenced, with the reason."""
    store = LocalStore(settings.recordings_dir)
    left, _, _ = store_three(sessions, store, clock.now)
    mark(sessions, SIDS[0], purged_at=clock.now)

    report = verify_store(sessions, store)

    detail = "the recording was purged; this file should be gone"
    assert report.findings == [Finding("unreferenced", left, SIDS[0], detail)]


def test_listening_copies_are_referenced_and_a_missing_one_is_a_lesser_finding(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """Copies are not strays; a lost copy is reported, yet the evidence passes."""
    store = LocalStore(settings.recordings_dir)
    paths = store_three(sessions, store, clock.now)
    for sid, path in zip(SIDS, paths, strict=True):
        mark(sessions, sid, listen_path=listen_path(path))
    store.put(listen_path(paths[0]), b"mp3")
    store.put(listen_path(paths[1]), b"mp3")

    report = verify_store(sessions, store)

    assert [(f.kind, f.path, f.recording_sid) for f in report.findings] == [
        ("listen_missing", listen_path(paths[2]), SIDS[2])
    ]
    assert report.ok and report.intact == 3
    assert str(report).endswith("unreferenced 0, listening copies missing 1")


def test_a_copy_written_before_a_crash_recorded_it_is_not_a_stray(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> None:
    """listen_path still NULL, the file already there: the next fetch run adopts it."""
    store = LocalStore(settings.recordings_dir)
    paths = store_three(sessions, store, clock.now)
    store.put(listen_path(paths[0]), b"mp3")

    assert verify_store(sessions, store).findings == []


@pytest.fixture
def sealed(
    sessions: sessionmaker[Session], settings: Settings, clock: FakeClock
) -> tuple[EncryptedStore, list[str]]:
    """Three recordings stored encrypted with KEY, their rows saying so."""
    store = EncryptedStore(LocalStore(settings.recordings_dir), KEY)
    paths = store_three(sessions, store, clock.now)
    for sid in SIDS:
        mark(sessions, sid, key_id=KEY.key_id)
    return store, paths


def test_encrypted_recordings_are_decrypted_and_rehashed(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """The recorded checksum is the audio's: verify opens each file and hashes the plain bytes."""
    store, _ = sealed

    report = verify_store(sessions, store)

    assert report.ok and (report.checked, report.intact) == (3, 3)


def test_a_changed_byte_of_ciphertext_is_altered(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """GCM's tag fails: the file is not what was stored."""
    store, paths = sealed
    blob = bytearray(store.inner.read(paths[1]))
    blob[-40] ^= 0x01
    store.inner.put(paths[1], bytes(blob))

    report = verify_store(sessions, store)

    assert [(f.kind, f.path) for f in report.findings] == [("altered", paths[1])]
    assert "does not decrypt" in report.findings[0].detail


def test_a_key_id_changed_in_the_header_is_altered(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """We hold the key the row names, the file claims another: tampering, not a missing key."""
    store, paths = sealed
    blob = bytearray(store.inner.read(paths[0]))
    blob[8] ^= 0x01  # inside the key id
    store.inner.put(paths[0], bytes(blob))

    report = verify_store(sessions, store)

    assert [(f.kind, f.path) for f in report.findings] == [("altered", paths[0])]


def test_a_wrong_key_is_reported_as_unreadable_not_as_altered(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """Verify run with another key: nothing proves a change, nothing is verified either."""
    store, _ = sealed

    report = verify_store(sessions, EncryptedStore(store.inner, OTHER_KEY))

    assert ["unreadable"] * 3 == [f.kind for f in report.findings]
    assert KEY.key_id in report.findings[0].detail and not report.ok
    assert str(report).endswith("unreferenced 0, unreadable 3")


def test_an_old_key_still_verifies_after_rotation(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """New key current, the one the files were sealed with kept as an old key: all intact."""
    store, _ = sealed

    report = verify_store(sessions, EncryptedStore(store.inner, OTHER_KEY, [KEY]))

    assert report.ok and report.intact == 3


def test_the_same_audio_put_back_in_clear_is_altered(
    sessions: sessionmaker[Session], sealed: tuple[EncryptedStore, list[str]]
) -> None:
    """The checksum matches, but the file is not the sealed one we stored: it was replaced."""
    store, paths = sealed
    store.inner.put(paths[2], store.read(paths[2]))

    report = verify_store(sessions, store)

    assert [(f.kind, f.detail) for f in report.findings] == [
        ("altered", f"stored key {KEY.key_id}, found in clear")
    ]


def test_cli_verifies_an_encrypted_s3_store_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """IVR_RECORDINGS_STORE=s3 with a key: intact exits 0; a changed object exits 1."""
    fake_aws_environment(monkeypatch)
    with MotoS3() as moto:
        url = f"sqlite:///{tmp_path / 'v.db'}"
        upgrade(url)
        env = {
            "IVR_DATABASE_URL": url,
            "IVR_RECORDINGS_STORE": "s3",
            "IVR_S3_BUCKET": moto.new_bucket(),
            "IVR_S3_ENDPOINT_URL": moto.endpoint_url,
            "IVR_S3_REGION": REGION,
            "IVR_RECORDINGS_KEY": KEY.to_base64(),
        }
        from ivr.db import make_engine, make_sessions

        engine = make_engine(url)
        sessions = make_sessions(engine)
        paths = store_three(sessions, open_store(load_settings(env)), clock.now)
        for sid in SIDS:
            mark(sessions, sid, key_id=KEY.key_id)
        engine.dispose()
        runner = CliRunner()
        good = runner.invoke(main, ["recordings", "verify"], env=env)
        moto.client().put_object(Bucket=env["IVR_S3_BUCKET"], Key=paths[0], Body=b"RIFF")
        bad = runner.invoke(main, ["recordings", "verify", "--format", "json"], env=env)

    assert good.exit_code == 0, good.output
    assert "checked 3, intact 3" in good.output
    assert bad.exit_code == 1
    assert [("altered", SIDS[0])] == [
        (f["kind"], f["recording_sid"]) for f in json.loads(bad.output)["findings"]
    ]


def test_cli_exits_2_when_the_store_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket behind a closed port: one clear message, status 2, no traceback."""
    fake_aws_environment(monkeypatch)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    url = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade(url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "IVR_DATABASE_URL": url,
        "IVR_RECORDINGS_STORE": "s3",
        "IVR_S3_BUCKET": "ivr-test-bucket",
        "IVR_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }

    result = CliRunner().invoke(main, ["recordings", "verify"], env=env)

    assert result.exit_code == 2
    assert "cannot read the recordings store: could not list s3://ivr-test-bucket/" in result.output
    assert "Traceback" not in result.output
