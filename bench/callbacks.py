"""`python -m bench callbacks`: status and recording callbacks, duplicated and out of order.

`--size` calls (default 2,000) are placed and not answered by a person the benchmark plays:
each sends what Twilio sends for a call that rang and was answered, then ended: status
callbacks initiated, ringing, in-progress and completed (SequenceNumber 0-3, CallDuration on
the last), then the recording's callback. As Twilio does, 20 % of the callbacks are sent twice
and 10 % swap places with the one before (a progress event arriving late). They go through
gunicorn (2 x cores + 1 sync workers) to the real app, every request sent once by a Python
client with 16 connections (wrk sends for a time, not a count), so those of one call also race
each other. The client's CPU time is shown: it shares the two cores with the server.

The baseline is a Flask route under the same gunicorn doing one INSERT of the request's call id
and body into a table of the same SQLite settings (WAL, one writer at a time), for the same
request bytes. ratio = baseline seconds / ours for the whole batch.

Correctness: after the server has finished, every attempt's status, duration and sequence,
its case's status, outcome and whether a next call is planned, and the recording rows must
equal those of a second database that got the same callbacks once each, in order, through
Flask's test client. Any difference makes the run short.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from bench.frame import Options, Outcome
from bench.http_load import (
    ACCOUNT,
    FROM,
    Load,
    Signed,
    form_headers,
    gunicorn,
    gunicorn_workers,
    rate,
    send_each_once,
    served_outcome,
    server_env,
    settings_in,
    sign,
)
from ivr.app import create_app
from ivr.campaigns.service import create_campaign
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.migrate import upgrade
from ivr.models import Attempt, AttemptStatus, Case, CaseStatus, Contact, Recording
from ivr.services import Services

TARGET = 0.5
CALLS = 2_000
DUPLICATES = 0.2
REORDERED = 0.1
SEED = 20300107
BARE = "bench.webhook_bare:app"
TO = "+12025550123"


def run(options: Options) -> Outcome:
    """Ours and the baseline over the same request file; then ours against an in-order replay."""
    calls = options.size or CALLS
    workers = gunicorn_workers()
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        folder = Path(tmp)
        ours_settings = settings_in(folder / "ours")
        replay_settings = settings_in(folder / "replay")
        in_order = [callbacks(n) for n in range(calls)]
        sent = shuffled(in_order, random.Random(SEED))
        for settings in (ours_settings, replay_settings):
            build(settings, calls)
        bare_requests = [Signed("/insert", request.body, request.signature) for request in sent]
        bare_db = folder / "bare.db"
        _bare_table(make_engine(f"sqlite:///{bare_db}"))
        env = server_env(ours_settings) | {"BENCH_BARE_DB": f"sqlite:///{bare_db}"}
        with gunicorn("ivr.wsgi:app", env, workers, folder / "ours.log") as port:
            ours, ours_cpu = _client_cpu(lambda: send_each_once(port, sent))
        with gunicorn(BARE, env, workers, folder / "bare.log") as port:
            bare, bare_cpu = _client_cpu(lambda: send_each_once(port, bare_requests))
        replay(replay_settings, [request for call in in_order for request in call])
        ours_state, replay_state = final_state(ours_settings), final_state(replay_settings)
        inserted = _count(f"sqlite:///{bare_db}")
    differences = [
        {"row": f"{kind} {row_id}", "ours": ours_state.get((kind, row_id)), "in_order": state}
        for (kind, row_id), state in replay_state.items()
        if ours_state.get((kind, row_id)) != state
    ]
    differing = len(differences)
    ratio = bare.seconds / ours.seconds if ours.seconds else 0.0
    problems = []
    if ours.non_2xx or ours.socket_errors or bare.non_2xx or bare.socket_errors:
        problems.append(
            f"errors: ours {ours.non_2xx} non-2xx, {ours.socket_errors} socket; "
            f"baseline {bare.non_2xx} non-2xx, {bare.socket_errors} socket"
        )
    if ours.requests != len(sent) or bare.requests != len(sent) or inserted != len(sent):
        problems.append(
            f"requests: {len(sent)} to send, ours {ours.requests}, baseline {bare.requests} "
            f"({inserted} inserted)"
        )
    if differing or len(ours_state) != len(replay_state):
        problems.append(f"{differing} of {len(replay_state)} final states differ from in order")
    duplicated = len(sent) - sum(len(call) for call in in_order)
    rows = [
        ("callbacks", f"{len(sent):,} for {calls:,} calls ({duplicated:,} sent twice)"),
        ("ours: status + recording", rate(ours)),
        ("baseline: one INSERT", rate(bare)),
        ("client CPU", f"ours {ours_cpu:.1f} s, baseline {bare_cpu:.1f} s"),
        ("final states as in order", f"{len(replay_state) - differing:,} of {len(replay_state):,}"),
    ]
    figures: dict[str, Any] = {
        "calls": calls,
        "requests": len(sent),
        "duplicated": duplicated,
        "workers": workers,
        "ours": ours.__dict__ | {"per_second": ours.per_second},
        "baseline": bare.__dict__ | {"per_second": bare.per_second},
        "client_cpu_s": {"ours": ours_cpu, "baseline": bare_cpu},
        "final_states": len(replay_state),
        "final_states_differing": differing,
        "differences": [{key: str(value) for key, value in d.items()} for d in differences[:20]],
    }
    return served_outcome(ratio, rows, figures, problems)


def _client_cpu(send: Callable[[], Load]) -> tuple[Load, float]:
    started = time.process_time()
    load = send()
    return load, time.process_time() - started


def build(settings: Settings, calls: int) -> None:
    """`calls` attempts placed at the provider (queued), their ids 1..calls in order."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    now = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    with make_sessions(engine).begin() as session:
        campaign_id = create_campaign(
            session, name="bench", template_name="post-discharge", overrides={}, now=now
        ).id
    with engine.begin() as conn:
        conn.execute(
            insert(Contact),
            [{"name": "Bench Patient", "phone": TO, "language": "en-US"} for _ in range(calls)],
        )
        conn.execute(
            insert(Case),
            [
                {
                    "campaign_id": campaign_id,
                    "contact_id": n + 1,
                    "external_ref": f"B-{n:06d}",
                    "anchor_date": date(2029, 12, 31),
                    "details": {},
                    "status": CaseStatus.IN_CALL,
                    "attempts_made": 1,
                    "created_at": now,
                }
                for n in range(calls)
            ],
        )
        conn.execute(
            insert(Attempt),
            [
                {
                    "case_id": n + 1,
                    "number": 1,
                    "status": AttemptStatus.QUEUED,
                    "call_sid": call_sid(n),
                    "language": "en-US",
                    "created_at": now,
                    "placed_at": now,
                }
                for n in range(calls)
            ],
        )
    engine.dispose()


def call_sid(n: int) -> str:
    return f"CA{n:032x}"


def callbacks(n: int) -> list[Signed]:
    """One call's callbacks in the order Twilio sends them (TWILIO-NOTES.md, field names)."""
    started = datetime(2030, 1, 7, 1, 0, tzinfo=UTC) + timedelta(seconds=n)
    base = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid(n),
        "Called": TO,
        "Caller": FROM,
        "Direction": "outbound-api",
        "From": FROM,
        "To": TO,
        "CallbackSource": "call-progress-events",
    }
    duration = 30 + n % 90
    statuses = ["initiated", "ringing", "in-progress", "completed"]
    signed = []
    for sequence, status in enumerate(statuses):
        form = base | {
            "CallStatus": status,
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(started + timedelta(seconds=sequence * 5)),
        }
        if status == "completed":
            form |= {"CallDuration": str(duration), "Duration": str((duration + 59) // 60)}
        signed.append(sign(f"/twilio/status?attempt={n + 1}", form))
    recording = {
        "AccountSid": ACCOUNT,
        "CallSid": call_sid(n),
        "RecordingSid": f"RE{n:032x}",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{n:032x}",
        "RecordingStatus": "completed",
        "RecordingDuration": str(duration - 2),
        "RecordingChannels": "2",
        "RecordingSource": "OutboundAPI",
        "RecordingStartTime": format_datetime(started + timedelta(seconds=12)),
        "ErrorCode": "0",
    }
    signed.append(sign(f"/twilio/recording?attempt={n + 1}", recording))
    return signed


def shuffled(calls: list[list[Signed]], rng: random.Random) -> list[Signed]:
    """The calls interleaved as they overlap in time, with duplicates and late arrivals."""
    sent: list[Signed] = []
    for call in calls:
        sequence = list(call)
        for index in range(1, len(sequence)):
            if rng.random() < REORDERED:
                sequence[index - 1], sequence[index] = sequence[index], sequence[index - 1]
        for request in sequence:
            sent.append(request)
            if rng.random() < DUPLICATES:
                sent.append(request)
    return sent


def replay(settings: Settings, requests: list[Signed]) -> None:
    """Each callback once, in order, through the test client: the reference final state."""
    services = Services(
        settings=settings, sessions=make_sessions(make_engine(settings.database_url))
    )
    client = create_app(settings, services=services).test_client()
    for request in requests:
        answer = client.post(
            request.path, data=request.body, headers=form_headers(request.signature)
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"in-order replay refused {request.path}: {answer.status_code}")


def final_state(settings: Settings) -> dict[tuple[str, object], tuple[Any, ...]]:
    """Each attempt by id, each recording by its sid (row ids follow the order of arrival)."""
    engine = make_engine(settings.database_url)
    state: dict[tuple[str, object], tuple[Any, ...]] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            select(
                Attempt.id,
                Attempt.status,
                Attempt.duration_s,
                Attempt.last_sequence,
                Case.status,
                Case.outcome,
                Case.attempts_made,
                # When the next try is due follows from the clock at settling: whether one is.
                Case.next_call_at.is_(None),
            ).join(Case, Case.id == Attempt.case_id)
        ):
            state[("attempt", row[0])] = tuple(row[1:])
        recordings = select(Recording.recording_sid, Recording.attempt_id, Recording.status)
        for recording in conn.execute(recordings):
            state[("recording", recording[0])] = tuple(recording[1:])
    engine.dispose()
    return state


def _bare_table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE callback (id INTEGER PRIMARY KEY, call_sid TEXT, body TEXT)")
        )
    engine.dispose()


def _count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(text("callback")))
    engine.dispose()
    return int(count or 0)
