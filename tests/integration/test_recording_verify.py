"""`ivr recordings verify`: a changed byte, a lost file or a stray file is reported."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from ivr.cli import main
from ivr.config import Settings
from ivr.migrate import upgrade
from ivr.models import Recording, RecordingStatus
from ivr.telephony.sim_media import recording_wav
from recordings.store import LocalStore, recording_path
from recordings.verify import verify_store
from tests.conftest import FakeClock

SIDS = [f"RE{n:032x}" for n in range(1, 4)]


def store_three(sessions: sessionmaker[Session], store: LocalStore, now: datetime) -> list[str]:
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
