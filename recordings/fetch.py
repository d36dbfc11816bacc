"""Bring announced recordings from the provider into our store, then delete the provider's copy.

Per recording, in this order, each database step its own short transaction:

1. claim: a conditional UPDATE moves ``next_fetch_at`` forward by `LEASE`; only the run whose
   UPDATE matched (rowcount 1) goes on, so two runs never fetch one recording twice;
2. download (no transaction open), verify (WAV header, duration), checksum, write to the
   store; `WORKERS` recordings at a time, each claimed by the thread that fetches it;
3. mark STORED, still conditional on our lease;
4. delete the provider's copy and note ``provider_deleted_at``;
5. last, make the listening copies still missing (recordings.listen): a slow or failing encoder
   never holds up the evidence or the provider deletes.

A crash anywhere leaves a state the next run completes: before 3 the lease runs out and the
recording is fetched again (the store overwrites the same path); after 3 the row is STORED with
``provider_deleted_at`` NULL, and every run first retries those deletes. For a STORED row,
``next_fetch_at`` is when that delete is next due (NULL once it is done).

Every file goes through one store (`open_store`): the local folder or an S3 bucket, encrypted
when IVR_RECORDINGS_KEY is set. The checksum recorded is always the plain audio's, as the
provider served it; ``key_id`` names the key the stored file was sealed with.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update

from ivr.db import rowcount
from ivr.models import Recording, RecordingStatus
from ivr.privacy import redact_phones
from ivr.services import Services
from ivr.telephony.port import Telephony, TelephonyError
from recordings.audio import AudioError, inspect_wav
from recordings.listen import make_listening_copies
from recordings.store import RecordingStore, open_store, recording_path

log = logging.getLogger(__name__)

MAX_TRIES = 8  # with the backoff below: about two hours from the first try to FAILED
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# Longer than any download could take: a run that dies holding a claim delays the row this long.
LEASE = timedelta(minutes=10)
DELETE_RETRY = timedelta(minutes=1)
DURATION_TOLERANCE_S = 2.0  # the provider rounds RecordingDuration to whole seconds
NOT_READY = 404  # the media may 404 for a short while after the recording callback
# Recordings fetched at once. Two overlap the network with the disk; more would take provider
# slots (IVR_PROVIDER_MAX_IN_FLIGHT, default 4, shared with placing calls) for little gain.
WORKERS = 2


@dataclass
class FetchReport:
    """What one fetch run did."""

    stored: int = 0
    waiting: int = 0  # not ready or failed for now; retried after a backoff
    failed: int = 0  # gave up (FAILED): needs a person
    deleted: int = 0  # provider copies deleted
    skipped: int = 0  # due, but another run claimed it first
    listen_copies: int = 0  # listening copies made
    listen_failed: int = 0  # listening copies that failed (retried next run)
    messages: list[str] = field(default_factory=list)

    def add(self, other: FetchReport) -> None:
        """Count another (partial) report's work in this one."""
        self.stored += other.stored
        self.waiting += other.waiting
        self.failed += other.failed
        self.deleted += other.deleted
        self.skipped += other.skipped
        self.listen_copies += other.listen_copies
        self.listen_failed += other.listen_failed
        self.messages.extend(other.messages)

    def __str__(self) -> str:
        return (
            f"stored {self.stored}, waiting {self.waiting}, failed {self.failed}, "
            f"deleted {self.deleted}, skipped {self.skipped}, "
            f"listening copies {self.listen_copies} (failed {self.listen_failed})"
        )


@dataclass(frozen=True)
class _Claim:
    """A recording this run holds until `lease_until`."""

    id: int
    recording_sid: str
    media_url: str
    duration_s: int | None
    channels: int | None
    fetch_tries: int
    created_at: datetime
    lease_until: datetime


class _FetchError(Exception):
    """This try failed; the message is safe to store and show."""

    def __init__(self, message: str, *, permanent: bool = False, not_ready: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.not_ready = not_ready


def fetch_due(
    services: Services,
    *,
    limit: int = 50,
    store: RecordingStore | None = None,
    workers: int = WORKERS,
) -> FetchReport:
    """Retry pending provider deletes, fetch up to `limit` due recordings, make listening copies.

    `store` defaults to `open_store(services.settings)`; tests pass one that fails on purpose.
    `workers` recordings are fetched at once.
    """
    telephony = services.telephony
    if telephony is None:
        raise RuntimeError("fetch_due needs services.telephony")
    if store is None:
        store = open_store(services.settings)
    report = FetchReport()
    for row_id, due_at in _due(services, RecordingStatus.STORED, limit):
        claim = _claim(services, row_id, RecordingStatus.STORED, due_at)
        if claim is None:
            report.skipped += 1
        else:
            _delete_provider_copy(services, telephony, claim, report)
    due = _due(services, RecordingStatus.PENDING, limit)

    def fetch_one(item: tuple[int, datetime]) -> FetchReport:
        part = FetchReport()  # one per row: workers never share counters
        claim = _claim(services, item[0], RecordingStatus.PENDING, item[1])
        if claim is None:
            part.skipped += 1
        elif _fetch(services, telephony, store, claim, part):
            _delete_provider_copy(services, telephony, claim, part)
        return part

    if workers <= 1 or len(due) <= 1:
        for item in due:
            report.add(fetch_one(item))
    else:
        # Threads overlap one recording's download with another's checksum and disk sync (all
        # of which release the GIL). Each row is claimed by the worker that takes it, just
        # before its download, so a lease never runs while a row waits in the queue.
        with ThreadPoolExecutor(workers, thread_name_prefix="recordings-fetch") as pool:
            for part in pool.map(fetch_one, due):
                report.add(part)
    if services.settings.recordings_listen_copy:
        _listening_copies(services, store, report)
    return report


def _listening_copies(services: Services, store: RecordingStore, report: FetchReport) -> None:
    """Make the missing listening copies; nothing that goes wrong here fails the run."""
    try:
        made = make_listening_copies(services, store)
    except Exception:
        # The evidence is stored and the deletes are done; a copy is retried next run.
        log.exception("listening copies crashed", extra={"action": "recording.listen_crashed"})
        report.listen_failed += 1
        return
    report.listen_copies += made.made
    report.listen_failed += made.failed
    report.messages.extend(made.messages)


def backoff(tries: int) -> timedelta:
    """The wait after the given number of failed tries: 30 s, doubling, at most an hour."""
    wait: timedelta = BACKOFF_BASE * 2 ** max(tries - 1, 0)
    return min(wait, BACKOFF_CAP)


def _due(services: Services, status: RecordingStatus, limit: int) -> list[tuple[int, datetime]]:
    """Ids and due times of rows with work due: PENDING to fetch, STORED to delete remotely."""
    query = select(Recording.id, Recording.next_fetch_at).where(
        Recording.status == status, Recording.next_fetch_at <= services.clock()
    )
    if status is RecordingStatus.STORED:
        query = query.where(Recording.provider_deleted_at.is_(None))
    query = query.order_by(Recording.next_fetch_at, Recording.id).limit(limit)
    with services.sessions.begin() as session:
        rows = session.execute(query).all()
    return [(row_id, due_at) for row_id, due_at in rows if due_at is not None]


def _claim(
    services: Services, row_id: int, status: RecordingStatus, due_at: datetime
) -> _Claim | None:
    """Take the row for one lease if it is still as we read it; None if another run has it."""
    lease_until = services.clock() + LEASE
    with services.sessions.begin() as session:
        moved = session.execute(
            update(Recording)
            .where(
                Recording.id == row_id,
                Recording.status == status,
                Recording.next_fetch_at == due_at,
            )
            .values(next_fetch_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        if rowcount(moved) != 1:
            return None
        row = session.get_one(Recording, row_id)
        return _Claim(
            id=row.id,
            recording_sid=row.recording_sid,
            media_url=row.media_url,
            duration_s=row.duration_s,
            channels=row.channels,
            fetch_tries=row.fetch_tries,
            created_at=row.created_at,
            lease_until=lease_until,
        )


def _still_ours(claim: _Claim) -> tuple[ColumnElement[bool], ...]:
    """The row is still pending under our lease: no other run has taken it over."""
    return (
        Recording.id == claim.id,
        Recording.status == RecordingStatus.PENDING,
        Recording.next_fetch_at == claim.lease_until,
    )


def _fetch(
    services: Services,
    telephony: Telephony,
    store: RecordingStore,
    claim: _Claim,
    report: FetchReport,
) -> bool:
    """Download, verify and store one recording; True once its row is STORED."""
    try:
        data, checksum, channels = _download_and_verify(telephony, claim)
        path = recording_path(claim.recording_sid, claim.created_at)
        try:
            store.put(path, data)
        except OSError as exc:
            raise _FetchError(f"could not write to the recordings store ({exc})") from exc
    except _FetchError as exc:
        _record_failure(services, claim, exc, report)
        return False
    except Exception as exc:
        # One row's surprise must not stop the batch; the class name is all that is safe to keep.
        log.exception(
            "recording fetch crashed",
            extra={"action": "recording.fetch_crashed", "recording_id": claim.id},
        )
        _record_failure(services, claim, _FetchError(f"unexpected {type(exc).__name__}"), report)
        return False
    with services.sessions.begin() as session:
        moved = session.execute(
            update(Recording)
            .where(*_still_ours(claim))
            .values(
                status=RecordingStatus.STORED,
                sha256=checksum,
                size_bytes=len(data),
                path=path,
                channels=channels,
                key_id=store.key_id,
                stored_at=services.clock(),
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
    if rowcount(moved) != 1:
        # Our lease ran out mid-download and another run took the row; it finishes the job.
        report.skipped += 1
        return False
    report.stored += 1
    log.info(
        "recording stored",
        extra={
            "action": "recording.stored",
            "recording_id": claim.id,
            "recording_sid": claim.recording_sid,
            "size_bytes": len(data),
        },
    )
    return True


def _download_and_verify(telephony: Telephony, claim: _Claim) -> tuple[bytes, str, int]:
    """The media's bytes, SHA-256 and channel count, or _FetchError saying what is wrong."""
    try:
        data, content_type = telephony.download_recording(claim.media_url)
    except TelephonyError as exc:
        raise _FetchError(
            str(exc), permanent=exc.permanent, not_ready=exc.http_status == NOT_READY
        ) from exc
    try:
        info = inspect_wav(data)
    except AudioError as exc:
        raise _FetchError(f"downloaded media is not usable audio ({content_type}): {exc}") from exc
    if claim.duration_s is not None and (
        abs(info.duration_s - claim.duration_s) > DURATION_TOLERANCE_S
    ):
        raise _FetchError(
            f"downloaded audio lasts {info.duration_s:.1f} s, "
            f"the provider announced {claim.duration_s} s"
        )
    return data, hashlib.sha256(data).hexdigest(), info.channels


def _record_failure(
    services: Services, claim: _Claim, error: _FetchError, report: FetchReport
) -> None:
    """Count the try and schedule the next one, or give up after MAX_TRIES."""
    now = services.clock()
    tries = claim.fetch_tries + 1
    give_up = error.permanent or tries >= MAX_TRIES
    message = redact_phones(str(error))
    with services.sessions.begin() as session:
        session.execute(
            update(Recording)
            .where(*_still_ours(claim))
            .values(
                fetch_tries=tries,
                last_error=message,
                status=RecordingStatus.FAILED if give_up else RecordingStatus.PENDING,
                next_fetch_at=None if give_up else now + backoff(tries),
            )
            .execution_options(synchronize_session=False)
        )
    extra = {"recording_id": claim.id, "recording_sid": claim.recording_sid, "tries": tries}
    if give_up:
        report.failed += 1
        log.error(
            "recording fetch gave up: %s", message, extra={"action": "recording.failed", **extra}
        )
    elif error.not_ready:
        report.waiting += 1
        log.info("recording not ready yet", extra={"action": "recording.not_ready", **extra})
    else:
        report.waiting += 1
        log.warning(
            "recording fetch failed: %s", message, extra={"action": "recording.retry", **extra}
        )
    report.messages.append(f"{claim.recording_sid}: {message}")


def _delete_provider_copy(
    services: Services, telephony: Telephony, claim: _Claim, report: FetchReport
) -> None:
    """Delete the provider's copy of a stored recording; on failure, retry after DELETE_RETRY."""
    extra = {"recording_id": claim.id, "recording_sid": claim.recording_sid}
    try:
        telephony.delete_recording(claim.recording_sid)
    except TelephonyError as exc:
        message = redact_phones(f"provider delete failed: {exc}")
        with services.sessions.begin() as session:
            session.execute(
                update(Recording)
                .where(Recording.id == claim.id, Recording.provider_deleted_at.is_(None))
                .values(next_fetch_at=services.clock() + DELETE_RETRY, last_error=message)
                .execution_options(synchronize_session=False)
            )
        report.messages.append(f"{claim.recording_sid}: {message}")
        log.warning("%s", message, extra={"action": "recording.delete_failed", **extra})
        return
    with services.sessions.begin() as session:
        session.execute(
            update(Recording)
            .where(Recording.id == claim.id, Recording.provider_deleted_at.is_(None))
            .values(provider_deleted_at=services.clock(), next_fetch_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
    report.deleted += 1
    log.info("provider copy deleted", extra={"action": "recording.provider_deleted", **extra})
