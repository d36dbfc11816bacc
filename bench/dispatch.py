"""`python -m bench dispatch`: how fast the dispatcher claims due cases on PostgreSQL.

Ours: scheduler.dispatcher.dispatch_once passes (batch 50) until nothing is due, with the provider
answering at once (an in-memory telephony) and no pacing, so what is left is claiming: the
sweep, the SKIP LOCKED select, the consent reads, re-planning each case, the claim UPDATEs, the
attempt rows, and binding the call sids. IVR_CPS is set to 100, whose claim batches (what the
pace places in scheduler.claims.CLAIM_SPAN_S) hold 50 cases, the baseline's batch. Baseline: a
raw `SELECT ... FOR UPDATE SKIP LOCKED` + `UPDATE` loop over the same due cases with the same
batch size, on the same database in the same run (psycopg, no ORM).
ratio = our claims per second / the baseline's. Needs PostgreSQL (see bench.database).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from sqlalchemy import event

from bench.database import driver_url, scratch_database, seed_cases
from bench.frame import Memory, Options, Outcome
from bench.measure import profiled, timed, traced_peak
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.services import Services
from ivr.telephony.port import (
    CallRequest,
    PlacedCall,
    ProviderCall,
    SentMessage,
    SmsRequest,
    TelephonyError,
)
from scheduler.claims import CLAIM_SPAN_S
from scheduler.dispatcher import dispatch_once

TARGET = 0.5
CASES = 2_000
BATCH = 50
# Monday 2030-01-07 09:00 in Asia/Shanghai, inside the 08:00-11:00 window; the cases' 7-day
# offset from 2029-12-31 has passed and their 10-day deadline has not.
NOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
ANCHOR = date(2029, 12, 31)

RAW_SELECT = """
SELECT c.id FROM "case" c JOIN campaign p ON p.id = c.campaign_id
WHERE c.status = 'pending' AND c.next_call_at <= %s AND p.status = 'active'
ORDER BY c.next_call_at, c.id LIMIT %s
FOR UPDATE OF c SKIP LOCKED
"""
RAW_UPDATE = """
UPDATE "case" SET status = 'in_call', attempts_made = attempts_made + 1, next_call_at = NULL
WHERE id = ANY(%s) AND status = 'pending'
"""


class InstantTelephony:
    """The telephony port answering every create at once, as a provider with no latency would."""

    def __init__(self) -> None:
        self._sids = (f"CA{n:032x}" for n in itertools.count(1))
        self.calls = 0

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Accept the call."""
        self.calls += 1
        return PlacedCall(call_sid=next(self._sids), status="queued")

    def find_call(
        self, request: CallRequest, since: datetime, *, taken: Collection[str] = ()
    ) -> ProviderCall | None:
        """Every create was answered, so no call is ever in doubt."""
        return None

    def fetch_call(self, call_sid: str) -> ProviderCall:
        """Calls end at once here."""
        return ProviderCall(call_sid=call_sid, status="completed", created_at=NOW, duration_s=0)

    def send_sms(self, request: SmsRequest) -> SentMessage:
        """Accept the message."""
        return SentMessage(message_sid=f"SM{next(self._sids)[2:]}", status="queued")

    def download_recording(self, media_url: str) -> tuple[bytes, str]:
        """There are no recordings here."""
        raise TelephonyError("no recordings in this benchmark", http_status=404)

    def delete_recording(self, recording_sid: str) -> None:
        """Nothing to delete."""

    def pause_recording(self, call_sid: str) -> None:
        """Nothing is recorded."""

    def resume_recording(self, call_sid: str) -> None:
        """Nothing is recorded."""


class NoWait:
    """A pacer that never waits: the benchmark measures claiming, not the CPS limit."""

    def wait(self) -> None:
        """Return at once."""


@dataclass
class Drained:
    """What one run over all due cases did."""

    claimed: int = 0
    placed: int = 0
    passes: int = 0


def dispatcher_run(services: Services, batch: int) -> Drained:
    """dispatch_once until a pass finds nothing due."""
    drained = Drained()
    while True:
        report = dispatch_once(services, NoWait(), batch_size=batch)
        drained.passes += 1
        drained.claimed += report.claimed
        drained.placed += report.placed
        if report.errors or report.rescheduled or report.missed_deadline:
            raise AssertionError(f"a benchmark pass should only claim and place: {report}")
        if report.claimed == 0:
            return drained


def raw_run(dsn: str, batch: int) -> Drained:
    """The least a claim loop can do: lock a batch, mark it, commit; until none is left."""
    drained = Drained()
    due_by = NOW.replace(tzinfo=None)  # the column holds naive UTC (ivr.models.UTCDateTime)
    with psycopg.connect(dsn) as conn:
        while True:
            with conn.transaction():
                ids = [row[0] for row in conn.execute(RAW_SELECT, (due_by, batch))]
                if ids:
                    conn.execute(RAW_UPDATE, (ids,))
            drained.passes += 1
            drained.claimed += len(ids)
            if not ids:
                return drained


def raw_run_per_claim(dsn: str) -> Drained:
    """The raw loop with one claim per transaction: what committing each claim alone costs."""
    drained = Drained()
    due_by = NOW.replace(tzinfo=None)
    with psycopg.connect(dsn) as conn:
        while True:
            with conn.transaction():
                ids = [row[0] for row in conn.execute(RAW_SELECT, (due_by, 1))]
                if ids:
                    conn.execute(RAW_UPDATE, (ids,))
            drained.passes += 1
            drained.claimed += len(ids)
            if not ids:
                return drained


def reset(dsn: str) -> None:
    """Make every case due again as it was seeded, drop the attempts, and vacuum."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE IF NOT EXISTS bench_due AS SELECT id, next_call_at FROM "case"')
        conn.execute("DELETE FROM attempt")
        conn.execute(
            "UPDATE \"case\" c SET status = 'pending', attempts_made = 0, "
            "next_call_at = d.next_call_at FROM bench_due d WHERE d.id = c.id"
        )
        # Both sides start from a table without dead rows and with fresh statistics.
        conn.execute("VACUUM ANALYZE")


def run(options: Options) -> Outcome:
    """Seed a scratch database, time the raw loop and then the dispatcher over the same cases."""
    count = options.size or CASES
    with scratch_database("dispatch") as url:
        seed_cases(url, count, now=NOW, zone="Asia/Shanghai", windows="08:00-11:00,14:00-17:00",
                   anchor=ANCHOR)  # fmt: skip
        dsn = driver_url(url)
        engine = make_engine(url)
        services = Services(
            settings=Settings(
                database_url=url,
                public_base_url="https://ivr.example.test",
                twilio_from_number="+15005550006",
                # The rate whose claim batches (CLAIM_SPAN_S of calls) are the baseline's size.
                cps=BATCH / CLAIM_SPAN_S,
            ),
            sessions=make_sessions(engine),
            telephony=InstantTelephony(),
            clock=lambda: NOW,
        )
        try:
            reset(dsn)
            raw, raw_s = timed(lambda: raw_run(dsn, BATCH))
            reset(dsn)
            # Not the baseline (the batch size differs): it shows how much of our time is the
            # commit per claim (a WAL flush each) rather than the ORM and the planner.
            _, single_s = timed(lambda: raw_run_per_claim(dsn))
            reset(dsn)
            ours, ours_s = timed(lambda: dispatcher_run(services, BATCH))
            for name, drained in (("raw", raw), ("dispatcher", ours)):
                if drained.claimed != count:
                    raise AssertionError(f"{name} claimed {drained.claimed} of {count} cases")
            reset(dsn)
            statements: list[int] = [0]
            counter = _counting(statements)
            event.listen(engine, "before_cursor_execute", counter)
            try:
                _, peak = traced_peak(lambda: dispatcher_run(services, BATCH))
            finally:
                event.remove(engine, "before_cursor_execute", counter)
            digest = None
            if options.profile:
                reset(dsn)
                _, digest = profiled(lambda: dispatcher_run(services, BATCH))
                print(digest)
        finally:
            engine.dispose()
    raw_rate, ours_rate = count / raw_s, count / ours_s
    rows = [
        ("due cases / batch", f"{count:,} / {BATCH}"),
        ("baseline (raw SKIP LOCKED)", f"{raw_s:.3f} s  {raw_rate:,.0f} claims/s"),
        ("raw, one claim per commit", f"{single_s:.3f} s  {count / single_s:,.0f} claims/s"),
        ("ours (dispatch_once)", f"{ours_s:.3f} s  {ours_rate:,.0f} claims/s"),
        ("ours per claim", f"{ours_s / count * 1e3:.2f} ms, {statements[0] / count:.1f} SQL"),
        ("passes raw / ours", f"{raw.passes} / {ours.passes}"),
    ]
    figures: dict[str, Any] = {
        "cases": count,
        "batch": BATCH,
        "baseline_seconds": raw_s,
        "ours_seconds": ours_s,
        "raw_one_claim_per_commit_seconds": single_s,
        "baseline_claims_per_second": raw_rate,
        "ours_claims_per_second": ours_rate,
        "ours_statements": statements[0],
        "passes": {"baseline": raw.passes, "ours": ours.passes},
    }
    if digest is not None:
        figures["profile"] = digest
    return Outcome(
        ratio=ours_rate / raw_rate,
        memory=Memory(peak, "tracemalloc peak of one dispatcher run over all cases"),
        rows=rows,
        figures=figures,
    )


def _counting(statements: list[int]) -> Callable[..., None]:
    def count(*_: Any) -> None:
        statements[0] += 1

    return count
