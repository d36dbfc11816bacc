"""The listening-copy step of the fetch job: idempotent, crash-safe, never in the evidence's way."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import Recording, RecordingStatus
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from ivr.telephony.twilio import TwilioTelephony
from recordings.audio import decode_to_wav
from recordings.fetch import fetch_due
from recordings.ffmpeg import MISSING
from recordings.listen import make_listening_copies
from recordings.store import RecordingStore, open_store
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.integration.test_recording_fetch import BASE_URL, SID, WAV, Crash, announce, load
from tests.integration.test_recording_fetch_faults import CrashingStore, Provider

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

EVIDENCE = f"2030/01/{SID}.wav"
LISTEN = f"2030/01/{SID}.listen.mp3"
DELETE_ERROR = "provider delete failed: Twilio refused to delete (HTTP 500)"


@pytest.fixture
def services(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    """Services with the real Twilio adapter, on the account the fake provider expects."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=lambda _: None
    )
    return Services(settings=settings, sessions=sessions, clock=clock, telephony=telephony)


@pytest.fixture
def provider() -> Iterator[Provider]:
    """The fake provider (media and deletes at HTTP)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Provider(mocked)


def stored_row(services: Services, store: RecordingStore, n: int, *, evidence: bool = True) -> int:
    """A recording STORED before listening copies existed (listen_path NULL); return its id."""
    sid = f"RE{n:032x}"
    path = f"2030/01/{sid}.wav"
    data = recording_wav(2.0, channels=2)
    if evidence:
        store.put(path, data)
    with services.sessions.begin() as session:
        row = Recording(
            recording_sid=sid,
            call_sid=f"CA{n:032x}",
            media_url=f"{BASE_URL}/{sid}",
            status=RecordingStatus.STORED,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            path=path,
            created_at=services.clock(),
            provider_deleted_at=services.clock(),
        )
        session.add(row)
        session.flush()
        return row.id


def test_the_copy_is_a_mono_mp3_and_the_evidence_is_untouched(
    services: Services, provider: Provider
) -> None:
    """After the fetch: a playable mono copy beside the evidence, whose bytes and hash are kept."""
    provider.add(SID, WAV)
    row_id = announce(services)

    fetch_due(services)

    row = load(services, row_id)
    store = open_store(services.settings)
    copy = AudioSegment(data=decode_to_wav(store.read(LISTEN)))
    assert (LISTEN, 1) == (row.listen_path, copy.channels)
    assert 3.0 == pytest.approx(copy.duration_seconds, abs=0.15)
    assert (WAV, hashlib.sha256(WAV).hexdigest()) == (store.read(EVIDENCE), row.sha256)


def test_a_failed_copy_does_not_hold_up_the_evidence_or_the_delete(
    services: Services, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ffmpeg: evidence stored, provider copy deleted, reason noted; made on a later run."""
    provider.add(SID, WAV)
    row_id = announce(services)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/nonexistent/ffmpeg")

    report = fetch_due(services)

    row = load(services, row_id)
    assert (1, 1, 0, 1) == (
        report.stored,
        report.deleted,
        report.listen_copies,
        report.listen_failed,
    )
    assert (RecordingStatus.STORED, None) == (row.status, row.listen_path)
    assert row.last_error is not None and MISSING in row.last_error
    assert [SID] == provider.deleted

    monkeypatch.setenv("PATH", path)
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1) == (report.stored, report.listen_copies)
    assert (LISTEN, None) == (row.listen_path, row.last_error)
    assert (1, [SID]) == (provider.gets, provider.deleted)


def test_a_crash_while_writing_the_copy_is_completed_by_the_next_run(
    services: Services, provider: Provider
) -> None:
    """Killed writing the copy: the evidence and the delete are done; the next run makes it."""
    provider.add(SID, WAV)
    row_id = announce(services)
    store = open_store(services.settings)
    dying = CrashingStore(store, lambda path: path.endswith(".listen.mp3"))

    with pytest.raises(Crash):
        fetch_due(services, store=dying)

    row = load(services, row_id)
    assert (RecordingStatus.STORED, None, [SID]) == (row.status, row.listen_path, provider.deleted)
    report = fetch_due(services, store=dying)

    assert 1 == report.listen_copies
    assert LISTEN == load(services, row_id).listen_path
    assert [LISTEN, EVIDENCE] == list(store.files())


def test_recordings_without_a_copy_get_one_a_batch_at_a_time(services: Services) -> None:
    """Rows stored before the feature: `limit` per run, until none is left; then nothing."""
    store = open_store(services.settings)
    ids = [stored_row(services, store, n) for n in (1, 2, 3)]

    made = [make_listening_copies(services, store, limit=2).made for _ in range(3)]

    assert [2, 1, 0] == made
    assert all(load(services, row_id).listen_path for row_id in ids)
    assert 6 == len(list(store.files()))


def test_a_recording_whose_copy_fails_does_not_hold_up_the_others(services: Services) -> None:
    """The row that failed goes to the back: the next run serves the one never tried."""
    store = open_store(services.settings)
    broken = stored_row(services, store, 1, evidence=False)
    fine = stored_row(services, store, 2)

    first = make_listening_copies(services, store, limit=1)
    second = make_listening_copies(services, store, limit=1)

    assert (0, 1) == (first.made, first.failed)
    assert (1, 0) == (second.made, second.failed)
    row = load(services, broken)
    assert row.last_error is not None and "stored recording is missing" in row.last_error
    assert (None, f"2030/01/RE{2:032x}.listen.mp3") == (
        row.listen_path,
        load(services, fine).listen_path,
    )


def test_a_provider_delete_error_on_the_row_is_kept(services: Services) -> None:
    """The copy's own outcome never wipes the pending delete's error from last_error."""
    store = open_store(services.settings)
    row_id = stored_row(services, store, 1)
    with services.sessions.begin() as session:
        session.execute(
            update(Recording)
            .where(Recording.id == row_id)
            .values(last_error=DELETE_ERROR, provider_deleted_at=None)
        )

    assert 1 == make_listening_copies(services, store).made
    assert DELETE_ERROR == load(services, row_id).last_error


class PurgingStore:
    """A store during whose listening-copy write a purge of the recording commits."""

    def __init__(self, inner: RecordingStore, services: Services, row_id: int) -> None:
        self.inner = inner
        self.services = services
        self.row_id = row_id

    @property
    def key_id(self) -> str | None:
        return self.inner.key_id

    def put(self, relative_path: str, data: bytes) -> None:
        with self.services.sessions.begin() as session:
            row = session.get_one(Recording, self.row_id)
            assert row.path is not None
            self.inner.delete(row.path)
            row.purged_at = self.services.clock()
        self.inner.put(relative_path, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_recording_purged_while_its_copy_is_made_keeps_no_copy(services: Services) -> None:
    """The purge did not know of the new file: the step deletes it rather than leave it."""
    store = open_store(services.settings)
    row_id = stored_row(services, store, 1)

    make_listening_copies(services, PurgingStore(store, services, row_id))

    assert load(services, row_id).listen_path is None
    assert [] == list(store.files())


def test_no_copy_is_made_when_turned_off(services: Services, provider: Provider) -> None:
    """IVR_RECORDINGS_LISTEN_COPY=off: the evidence only."""
    services.settings = services.settings.with_(recordings_listen_copy=False)
    provider.add(SID, WAV)
    row_id = announce(services)

    fetch_due(services)

    assert load(services, row_id).listen_path is None
    assert [EVIDENCE] == list(open_store(services.settings).files())
