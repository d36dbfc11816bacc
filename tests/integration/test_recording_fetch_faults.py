"""The fetch job's proof list: bad media is never stored, crashes leave one copy, one delete.

The provider's media and delete endpoints are faked at HTTP with `responses` by `Provider`, which
keeps one copy per recording, demands the account's credentials as Twilio does, and counts the
deletes that took effect. The real Twilio adapter talks to it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import requests
import responses
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import RecordingStatus
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from ivr.telephony.twilio import TwilioTelephony
from recordings.fetch import LEASE, fetch_due
from recordings.store import RecordingStore, open_store
from recordings.verify import verify_store
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.integration.test_recording_fetch import (
    BASE_URL,
    RECORDINGS_URL,
    SID,
    WAV,
    XML_ERROR,
    Crash,
    announce,
    load,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

EVIDENCE = f"2030/01/{SID}.wav"
LISTEN = f"2030/01/{SID}.listen.mp3"
Answer = tuple[int, dict[str, str], bytes]


class Provider:
    """Twilio's recording media and delete endpoints: a copy per recording, credentials checked."""

    def __init__(self, mocked: responses.RequestsMock) -> None:
        self.media: dict[str, bytes] = {}
        self.before: dict[str, list[Answer]] = {}  # answers given before the real media
        self.gets = 0
        self.deleted: list[str] = []  # deletes that removed a copy
        self.delete_requests = 0
        # One-shot faults: the process dies as the DELETE is sent, or after the provider acted.
        self.crash_before_delete = False
        self.crash_after_delete = False
        good = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        self._authorization = f"Basic {good}"
        media = re.compile(rf"{re.escape(RECORDINGS_URL)}/(RE\w+)\.wav")
        delete = re.compile(rf"{re.escape(RECORDINGS_URL)}/(RE\w+)\.json")
        mocked.add_callback(responses.GET, media, callback=self._get)
        mocked.add_callback(responses.DELETE, delete, callback=self._delete)

    def add(self, sid: str, data: bytes, *, before: Sequence[Answer] = ()) -> None:
        """Hold a recording; `before`: answers the media URL gives first, one per request."""
        self.media[sid] = data
        self.before[sid] = list(before)

    def _sid(self, request: requests.PreparedRequest) -> str:
        match = re.search(r"/Recordings/(RE\w+)\.", request.url or "")
        assert match is not None
        return match.group(1)

    def _refused(self, request: requests.PreparedRequest) -> Answer | None:
        if request.headers.get("Authorization") != self._authorization:
            body = b'{"code": 20003, "message": "Authenticate", "status": 401}'
            return 401, {"Content-Type": "application/json"}, body
        return None

    def _get(self, request: requests.PreparedRequest) -> Answer:
        self.gets += 1
        if (refused := self._refused(request)) is not None:
            return refused
        sid = self._sid(request)
        if self.before.get(sid):
            return self.before[sid].pop(0)
        if sid not in self.media:
            return 404, {"Content-Type": "application/json"}, b'{"code": 20404, "status": 404}'
        return 200, {"Content-Type": "audio/x-wav"}, self.media[sid]

    def _delete(self, request: requests.PreparedRequest) -> Answer:
        if self.crash_before_delete:
            self.crash_before_delete = False
            raise Crash
        self.delete_requests += 1
        if (refused := self._refused(request)) is not None:
            return refused
        sid = self._sid(request)
        if self.media.pop(sid, None) is None:
            body = b'{"code": 20404, "message": "not found", "status": 404}'
            return 404, {"Content-Type": "application/json"}, body
        self.deleted.append(sid)
        if self.crash_after_delete:
            self.crash_after_delete = False
            raise Crash
        return 204, {}, b""


class CrashingStore:
    """A store whose put dies (the process killed) for matching paths, `times` times."""

    def __init__(self, inner: RecordingStore, crash_on: Callable[[str], bool], times: int = 1):
        self.inner = inner
        self.crash_on = crash_on
        self.times = times

    @property
    def key_id(self) -> str | None:
        return self.inner.key_id

    def put(self, relative_path: str, data: bytes) -> None:
        if self.times and self.crash_on(relative_path):
            self.times -= 1
            raise Crash
        self.inner.put(relative_path, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def services(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    """Services with the real Twilio adapter, on the account the fake provider expects."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=lambda _: None
    )
    return Services(settings=settings, sessions=sessions, clock=clock, telephony=telephony)


@pytest.fixture
def provider() -> Iterator[Provider]:
    """The fake provider; any request it does not serve fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Provider(mocked)


def assert_one_verified_copy(services: Services, row_id: int) -> None:
    """The row is STORED, its file re-hashes to the recorded checksum, nothing else is stored."""
    row = load(services, row_id)
    report = verify_store(services.sessions, open_store(services.settings))
    assert (RecordingStatus.STORED, EVIDENCE) == (row.status, row.path)
    assert (1, 1, []) == (report.checked, report.intact, report.findings)
    assert [LISTEN, EVIDENCE] == sorted(open_store(services.settings).files())


def test_media_is_fetched_with_the_accounts_credentials(
    services: Services, provider: Provider
) -> None:
    """The fake refuses a request without them (401); the adapter sends them, so it is stored."""
    unauthenticated = requests.get(f"{RECORDINGS_URL}/{SID}.wav", timeout=1)
    provider.add(SID, WAV)
    row_id = announce(services)

    fetch_due(services)

    assert 401 == unauthenticated.status_code
    assert RecordingStatus.STORED == load(services, row_id).status
    assert [SID] == provider.deleted


def test_wrong_credentials_fail_at_once_and_keep_the_providers_copy(
    services: Services, provider: Provider
) -> None:
    """Another account's token gets 401: FAILED for a person, no retry, nothing deleted."""
    assert services.telephony is not None
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token="someone-elses-token",
        api_base_url=BASE_URL,
        sleep=lambda _: None,
    )
    provider.add(SID, WAV)
    row_id = announce(services)

    report = fetch_due(services)

    row = load(services, row_id)
    assert (1, RecordingStatus.FAILED, 1) == (report.failed, row.status, row.fetch_tries)
    assert (None, None) == (row.sha256, row.path)
    assert ([], 0) == (provider.deleted, provider.delete_requests)


def test_media_that_404s_three_times_is_stored_on_the_fourth_try(
    services: Services, provider: Provider, clock: FakeClock
) -> None:
    """Not ready yet, three times (30 s, 60 s, 120 s apart); never STORED before the real media."""
    not_ready = (404, {"Content-Type": "application/json"}, b'{"code": 20404, "status": 404}')
    provider.add(SID, WAV, before=[not_ready] * 3)
    row_id = announce(services)

    for wait in (30, 60, 120):
        report = fetch_due(services)
        row = load(services, row_id)
        assert (0, 1, RecordingStatus.PENDING) == (report.stored, report.waiting, row.status)
        assert (None, None) == (row.sha256, row.path)
        clock.advance(seconds=wait)
    report = fetch_due(services)

    assert (1, 1) == (report.stored, report.deleted)
    assert 4 == provider.gets
    assert_one_verified_copy(services, row_id)


BAD_MEDIA = {
    "500": (500, {"Content-Type": "application/json"}, b'{"code": 20500, "status": 500}'),
    "xml-with-200": (200, {"Content-Type": "application/xml"}, XML_ERROR),
    "truncated-wav": (200, {"Content-Type": "audio/x-wav"}, WAV[: len(WAV) * 2 // 3]),
    "20-percent-short": (200, {"Content-Type": "audio/x-wav"}, recording_wav(24.0)),
}


@pytest.mark.parametrize("answer", BAD_MEDIA.values(), ids=BAD_MEDIA.keys())
def test_bad_media_is_rejected_retried_and_never_marked_stored(
    services: Services, provider: Provider, clock: FakeClock, answer: Answer
) -> None:
    """Twice a bad answer: nothing stored, no checksum, provider copy kept; then the real one."""
    good = recording_wav(30.0)
    provider.add(SID, good, before=[answer, answer])
    row_id = announce(services, duration_s=30)  # 24 s of audio is 20 % short of it

    for tries in (1, 2):
        report = fetch_due(services)
        row = load(services, row_id)
        assert (0, 1) == (report.stored, report.waiting)
        assert (RecordingStatus.PENDING, tries) == (row.status, row.fetch_tries)
        assert (None, None, None) == (row.sha256, row.path, row.stored_at)
        assert [] == list(open_store(services.settings).files())
        assert 0 == provider.delete_requests
        clock.advance(seconds=30 * tries)
    fetch_due(services)

    row = load(services, row_id)
    assert RecordingStatus.STORED == row.status
    assert good == open_store(services.settings).read(EVIDENCE)
    assert [SID] == provider.deleted


def test_a_crash_inside_the_store_write_leaves_one_copy_and_one_delete(
    services: Services, provider: Provider, clock: FakeClock
) -> None:
    """Killed while writing the evidence: nothing stored, nothing deleted; after the lease, once."""
    provider.add(SID, WAV)
    row_id = announce(services)
    dying = CrashingStore(open_store(services.settings), lambda path: path == EVIDENCE)

    with pytest.raises(Crash):
        fetch_due(services, store=dying)

    row = load(services, row_id)
    assert (RecordingStatus.PENDING, None) == (row.status, row.sha256)
    assert ([], []) == (list(open_store(services.settings).files()), provider.deleted)
    clock.advance(seconds=LEASE.total_seconds())
    fetch_due(services, store=dying)

    assert [SID] == provider.deleted
    assert_one_verified_copy(services, row_id)


def test_a_crash_after_the_provider_deleted_is_completed_without_a_second_delete(
    services: Services, provider: Provider, clock: FakeClock
) -> None:
    """The provider removed its copy but we died before noting it: the retry finds it gone."""
    provider.add(SID, WAV)
    row_id = announce(services)
    provider.crash_after_delete = True

    with pytest.raises(Crash):
        fetch_due(services)

    row = load(services, row_id)
    assert (RecordingStatus.STORED, None) == (row.status, row.provider_deleted_at)
    clock.advance(seconds=LEASE.total_seconds())  # the delete is retried once the claim lapses
    report = fetch_due(services)

    assert (0, 1) == (report.stored, report.deleted)
    assert clock.now == load(services, row_id).provider_deleted_at
    assert ([SID], 2, 1) == (provider.deleted, provider.delete_requests, provider.gets)
    assert_one_verified_copy(services, row_id)


def test_a_crash_before_the_delete_is_sent_is_completed_by_the_next_run(
    services: Services, provider: Provider, clock: FakeClock
) -> None:
    """Stored, then killed before the DELETE left: the next run deletes, downloads nothing."""
    provider.add(SID, WAV)
    row_id = announce(services)
    provider.crash_before_delete = True

    with pytest.raises(Crash):
        fetch_due(services)
    assert ([], RecordingStatus.STORED) == (provider.deleted, load(services, row_id).status)

    clock.advance(seconds=LEASE.total_seconds())
    fetch_due(services)

    assert ([SID], 1) == (provider.deleted, provider.gets)
    assert_one_verified_copy(services, row_id)
