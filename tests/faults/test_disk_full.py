"""The recordings disk fills up while a recording is stored: a real 1 MiB tmpfs, filled.

Nothing is deleted at the provider, the row stays PENDING with the error, and once space is
back the next due run stores it and deletes the provider's copy once.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import RecordingStatus
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from recordings.fetch import backoff, fetch_due
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.integration.test_recording_fetch import BASE_URL, SID, WAV, announce, load
from tests.integration.test_recording_fetch_faults import Provider


@pytest.fixture
def full_disk(settings: Settings) -> Iterator[Path]:
    """settings.recordings_dir on its own 1 MiB tmpfs, filled but for a few KiB."""
    folder = settings.recordings_dir
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    filler = folder / "filler"
    try:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        assert os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize < len(WAV)
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def services(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=lambda _: None
    )
    return Services(settings=settings, sessions=sessions, clock=clock, telephony=telephony)


def test_a_full_disk_keeps_the_providers_copy_and_the_retry_stores_it_once_space_is_back(
    services: Services, clock: FakeClock, full_disk: Path
) -> None:
    """ENOSPC: PENDING with the error, no DELETE; space freed: STORED, one DELETE."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        provider = Provider(mocked)
        provider.add(SID, WAV)
        row_id = announce(services)

        report = fetch_due(services)

        row = load(services, row_id)
        assert (0, 1, 0) == (report.stored, report.waiting, report.deleted)
        assert (RecordingStatus.PENDING, 1, None) == (row.status, row.fetch_tries, row.sha256)
        assert row.last_error is not None and "No space left" in row.last_error
        assert (0, [SID]) == (provider.delete_requests, list(provider.media))
        assert ["filler"] == sorted(p.name for p in full_disk.parent.rglob("*") if p.is_file())

        full_disk.unlink()
        clock.advance(seconds=backoff(1).total_seconds())
        report = fetch_due(services)

        row = load(services, row_id)
        assert (1, 1) == (report.stored, report.deleted)
        assert (RecordingStatus.STORED, None) == (row.status, row.last_error)
        assert ([SID], 1) == (provider.deleted, provider.delete_requests)
