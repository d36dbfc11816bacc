"""fetch_due against Twilio's REST API faked with `responses`, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import Recording, RecordingStatus
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from ivr.telephony.twilio import TwilioTelephony
from recordings.fetch import DELETE_RETRY, LEASE, MAX_TRIES, fetch_due
from recordings.store import LocalStore
from tests.conftest import ACCOUNT_SID, FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

# Nothing listens on port 9 and nothing is sent there: `responses` intercepts every request.
BASE_URL = "http://127.0.0.1:9"
RECORDINGS_URL = f"{BASE_URL}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"
SID = "RE" + "0123456789abcdef" * 2
OTHER_SID = "RE" + "fedcba9876543210" * 2
WAV = recording_wav(3.0)
XML_ERROR = b'<?xml version="1.0"?><TwilioResponse><RestException/></TwilioResponse>'


class Crash(BaseException):
    """The process dying mid-run (not an error the fetcher could catch and record)."""


def media_url(sid: str) -> str:
    """RecordingUrl as Twilio sends it (no extension)."""
    return f"{RECORDINGS_URL}/{sid}"


def wav_url(sid: str) -> str:
    """Where the adapter fetches the media."""
    return f"{media_url(sid)}.wav"


def delete_url(sid: str) -> str:
    """Where the adapter deletes the provider's copy."""
    return f"{RECORDINGS_URL}/{sid}.json"


def twilio_error(code: int, status: int, message: str) -> dict[str, Any]:
    """An error body shaped like Twilio's."""
    return {"code": code, "message": message, "more_info": "", "status": status}


@pytest.fixture
def services(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    """Services with the real Twilio adapter pointed at a base URL `responses` intercepts."""
    telephony = TwilioTelephony(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        api_base_url=BASE_URL,
        sleep=lambda _s: None,
    )
    return Services(settings=settings, sessions=sessions, clock=clock, telephony=telephony)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; a request no test expected fails."""
    with responses.RequestsMock() as rsps:
        yield rsps


def announce(services: Services, sid: str = SID, *, duration_s: int | None = 3) -> int:
    """Insert the row the recording callback writes; return its id."""
    now = services.clock()
    with services.sessions.begin() as session:
        row = Recording(
            recording_sid=sid,
            call_sid="CA" + "00112233445566778899aabbccddeeff",
            media_url=media_url(sid),
            status=RecordingStatus.PENDING,
            duration_s=duration_s,
            channels=1,
            next_fetch_at=now,
            created_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def load(services: Services, row_id: int) -> Recording:
    """The row as the database has it now."""
    with services.sessions() as session:
        return session.get_one(Recording, row_id)


def stored_files(settings: Settings) -> list[str]:
    """Every file in the recordings folder, temp files included."""
    root = settings.recordings_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_recording_is_stored_checked_and_then_deleted_at_the_provider(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The happy path: file on disk, checksum recorded, provider copy deleted only after."""
    row_id = announce(services)
    path = f"2030/01/{SID}.wav"
    store = LocalStore(services.settings.recordings_dir)
    seen_at_delete: list[tuple[bool, RecordingStatus]] = []

    def on_delete(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen_at_delete.append((store.exists(path), load(services, row_id).status))
        return 204, {}, ""

    mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")
    mocked.add_callback(responses.DELETE, delete_url(SID), callback=on_delete)

    report = fetch_due(services)

    row = load(services, row_id)
    assert (1, 1, 0, 0) == (report.stored, report.deleted, report.waiting, report.failed)
    assert RecordingStatus.STORED == row.status
    assert hashlib.sha256(WAV).hexdigest() == row.sha256
    assert (len(WAV), path) == (row.size_bytes, row.path)
    assert WAV == store.read(path)
    assert hashlib.sha256(store.read(path)).hexdigest() == row.sha256
    assert (clock.now, clock.now) == (row.stored_at, row.provider_deleted_at)
    assert (None, None, 0) == (row.next_fetch_at, row.last_error, row.fetch_tries)
    assert [(True, RecordingStatus.STORED)] == seen_at_delete
    # The listening copy comes last, next to the evidence; the evidence is left as it was.
    assert f"2030/01/{SID}.listen.mp3" == row.listen_path
    assert [row.listen_path, path] == stored_files(services.settings)
    assert (1, 0) == (report.listen_copies, report.listen_failed)
    assert WAV == store.read(path)


def test_fetch_logs_carry_an_action(
    services: Services, mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each step logs a stable action key and the recording's ids."""
    announce(services)
    mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")
    mocked.delete(delete_url(SID), status=204)

    with caplog.at_level(logging.INFO, logger="recordings.fetch"):
        fetch_due(services)

    actions = [getattr(r, "action", None) for r in caplog.records if r.name == "recordings.fetch"]
    assert ["recording.stored", "recording.provider_deleted"] == actions
    assert all(getattr(r, "recording_sid", None) == SID for r in caplog.records)


def test_media_not_ready_is_retried_after_a_backoff(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """A 404 right after the callback is normal: wait 30 s, then the fetch succeeds."""
    row_id = announce(services)
    media = mocked.get(wav_url(SID), status=404)
    first_try_at = clock.now

    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1) == (report.stored, report.waiting)
    assert RecordingStatus.PENDING == row.status
    assert 1 == row.fetch_tries
    assert first_try_at + timedelta(seconds=30) == row.next_fetch_at
    assert row.last_error is not None and "404" in row.last_error

    clock.advance(seconds=29)
    assert 0 == fetch_due(services).stored  # still backing off: no request at all
    assert 1 == media.call_count

    clock.advance(seconds=1)
    mocked.replace(responses.GET, wav_url(SID), body=WAV, content_type="audio/x-wav")
    mocked.delete(delete_url(SID), status=204)
    report = fetch_due(services)

    row = load(services, row_id)
    assert (1, 1) == (report.stored, report.deleted)
    assert RecordingStatus.STORED == row.status
    assert row.last_error is None


def test_a_body_that_is_not_wav_is_an_error_and_nothing_is_stored(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """An XML error page with status 200 is not a recording: back off, keep the provider copy."""
    row_id = announce(services)
    mocked.get(wav_url(SID), body=XML_ERROR, content_type="application/xml")

    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1, 0) == (report.stored, report.waiting, report.deleted)
    assert (RecordingStatus.PENDING, 1) == (row.status, row.fetch_tries)
    assert clock.now + timedelta(seconds=30) == row.next_fetch_at
    assert row.last_error is not None and "not a RIFF/WAVE file" in row.last_error
    assert (None, None) == (row.sha256, row.path)
    assert [] == stored_files(services.settings)


def test_audio_much_shorter_than_announced_is_an_error(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """3 s of audio for a 10 s recording is not what the provider recorded."""
    row_id = announce(services, duration_s=10)
    mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")

    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1) == (report.stored, report.waiting)
    assert RecordingStatus.PENDING == row.status
    assert row.last_error is not None and "3.0 s" in row.last_error and "10 s" in row.last_error
    assert [] == stored_files(services.settings)


def test_a_rounding_difference_in_duration_is_accepted(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """The provider announces whole seconds: 3.0 s of audio for an announced 4 s is fine."""
    row_id = announce(services, duration_s=4)
    mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")
    mocked.delete(delete_url(SID), status=204)

    fetch_due(services)

    assert RecordingStatus.STORED == load(services, row_id).status


def test_recording_fails_after_max_tries_with_doubling_backoff(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """Errors back off 30 s, 60 s, ... and the row is FAILED at the last try."""
    row_id = announce(services)
    media = mocked.get(wav_url(SID), status=500)
    waits: list[float] = []

    for _ in range(MAX_TRIES - 1):
        report = fetch_due(services)
        assert (1, 0) == (report.waiting, report.failed)
        due_at = load(services, row_id).next_fetch_at
        assert due_at is not None
        waits.append((due_at - clock.now).total_seconds())
        clock.advance(seconds=waits[-1])
    report = fetch_due(services)

    row = load(services, row_id)
    assert [30, 60, 120, 240, 480, 960, 1920] == waits
    assert (0, 1) == (report.waiting, report.failed)
    assert (RecordingStatus.FAILED, MAX_TRIES, None) == (
        row.status,
        row.fetch_tries,
        row.next_fetch_at,
    )
    assert row.last_error is not None and "HTTP 500" in row.last_error
    clock.advance(hours=2)
    fetch_due(services)  # a FAILED row is left for a person
    assert MAX_TRIES == media.call_count


def test_refused_credentials_fail_at_once(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """A 401 is permanent (wrong account): retrying cannot help, so a person is asked now."""
    row_id = announce(services)
    mocked.get(wav_url(SID), status=401)

    report = fetch_due(services)

    row = load(services, row_id)
    assert 1 == report.failed
    assert (RecordingStatus.FAILED, 1) == (row.status, row.fetch_tries)


def test_failed_provider_delete_is_retried_without_downloading_again(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The recording stays STORED; a later run only repeats the DELETE."""
    row_id = announce(services)
    media = mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")
    down = twilio_error(20500, 500, "Internal Server Error")
    mocked.delete(delete_url(SID), json=down, status=500)

    report = fetch_due(services)

    row = load(services, row_id)
    assert (1, 0) == (report.stored, report.deleted)
    assert (RecordingStatus.STORED, None) == (row.status, row.provider_deleted_at)
    assert row.last_error is not None and "provider delete failed" in row.last_error

    clock.advance(seconds=DELETE_RETRY.total_seconds())
    mocked.replace(responses.DELETE, delete_url(SID), status=204)
    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1) == (report.stored, report.deleted)
    assert clock.now == row.provider_deleted_at
    assert (None, None) == (row.next_fetch_at, row.last_error)
    assert 1 == media.call_count


def test_a_stored_recording_is_not_fetched_twice(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """Later runs leave a stored and deleted recording alone."""
    announce(services)
    media = mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")
    delete = mocked.delete(delete_url(SID), status=204)

    fetch_due(services)
    clock.advance(hours=2)
    report = fetch_due(services)

    assert (0, 0, 0) == (report.stored, report.deleted, report.skipped)
    assert (1, 1) == (media.call_count, delete.call_count)


def test_a_run_started_during_a_download_does_not_fetch_the_same_row(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """The first run's claim is committed before its download, so a second run skips the row."""
    row_id = announce(services)
    inner: list[tuple[int, int]] = []

    def on_media(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        report = fetch_due(services)  # a second fetcher, while this download is in flight
        inner.append((report.stored, report.waiting))
        return 200, {"Content-Type": "audio/x-wav"}, WAV

    media = mocked.add_callback(responses.GET, wav_url(SID), callback=on_media)
    mocked.delete(delete_url(SID), status=204)

    report = fetch_due(services)

    assert [(0, 0)] == inner
    assert 1 == report.stored
    assert 1 == media.call_count
    assert RecordingStatus.STORED == load(services, row_id).status


def test_a_row_taken_by_another_run_after_it_was_read_is_skipped(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """Two due rows: while the first run downloads one, a second run tries the other (404).

    The first run read both as due; the second row is still PENDING but its next_fetch_at has
    moved, so the first run's conditional claim matches nothing and it does not download again.
    One worker, so that the first run reaches the second row only after the second run took it.
    """
    announce(services, SID)
    announce(services, OTHER_SID)
    inner: list[tuple[int, int]] = []

    def on_first_media(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        report = fetch_due(services)
        inner.append((report.stored, report.waiting))
        return 200, {"Content-Type": "audio/x-wav"}, WAV

    first = mocked.add_callback(responses.GET, wav_url(SID), callback=on_first_media)
    second = mocked.get(wav_url(OTHER_SID), status=404)
    mocked.delete(delete_url(SID), status=204)

    report = fetch_due(services, workers=1)

    assert [(0, 1)] == inner
    assert (1, 1) == (report.stored, report.skipped)
    assert (1, 1) == (first.call_count, second.call_count)


def test_a_run_that_dies_mid_download_is_completed_after_the_lease(
    services: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The claim holds the row for LEASE; then another run fetches it again."""
    row_id = announce(services)

    def dying(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        raise Crash

    mocked.add_callback(responses.GET, wav_url(SID), callback=dying)
    with pytest.raises(Crash):
        fetch_due(services)
    assert RecordingStatus.PENDING == load(services, row_id).status

    mocked.replace(responses.GET, wav_url(SID), body=WAV, content_type="audio/x-wav")
    mocked.delete(delete_url(SID), status=204)
    clock.advance(seconds=LEASE.total_seconds() - 1)
    assert 0 == fetch_due(services).stored  # still claimed by the dead run

    clock.advance(seconds=1)
    report = fetch_due(services)

    assert (1, 1) == (report.stored, report.deleted)
    assert [f"2030/01/{SID}.listen.mp3", f"2030/01/{SID}.wav"] == stored_files(services.settings)


def test_a_stored_row_left_by_a_crash_before_the_delete_is_deleted(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """STORED with the provider copy still there: the next run deletes it, downloads nothing."""
    row_id = announce(services)
    with services.sessions.begin() as session:
        row = session.get_one(Recording, row_id)
        row.status = RecordingStatus.STORED
        row.path = f"2030/01/{SID}.wav"
    delete = mocked.delete(delete_url(SID), status=204)

    report = fetch_due(services)

    assert (0, 1) == (report.stored, report.deleted)
    assert 1 == delete.call_count
    assert load(services, row_id).provider_deleted_at is not None


def test_a_store_that_cannot_be_written_is_an_error(
    services: Services, mocked: responses.RequestsMock, settings: Settings
) -> None:
    """A full or broken disk backs off like any other error; the provider copy stays."""
    settings.recordings_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.write_bytes(b"a file where the folder should be")
    row_id = announce(services)
    mocked.get(wav_url(SID), body=WAV, content_type="audio/x-wav")

    report = fetch_due(services)

    row = load(services, row_id)
    assert (0, 1, 0) == (report.stored, report.waiting, report.deleted)
    assert row.last_error is not None and "recordings store" in row.last_error


def test_workers_fetch_several_recordings_each_exactly_once(
    services: Services, mocked: responses.RequestsMock
) -> None:
    """Two workers, five recordings: every one downloaded, stored and deleted once."""
    sids = [f"RE{n:032x}" for n in range(1, 6)]
    for sid in sids:
        announce(services, sid)
    media = [mocked.get(wav_url(sid), body=WAV, content_type="audio/x-wav") for sid in sids]
    deletes = [mocked.delete(delete_url(sid), status=204) for sid in sids]

    report = fetch_due(services, workers=2)

    assert (5, 5, 0) == (report.stored, report.deleted, report.skipped)
    assert [1] * 5 == [m.call_count for m in media] == [d.call_count for d in deletes]
    assert 10 == len(stored_files(services.settings))  # five recordings, five listening copies
