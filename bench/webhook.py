"""`python -m bench webhook`: the gather step under gunicorn, against a bare route, same server.

Ours is the real app (`ivr.wsgi:app`, settings from the environment, SQLite in WAL mode with
synchronous=NORMAL) answering `POST /twilio/gather`: the signature check, the attempt read with
its row lock, the flow step applied once (the answer saved), the next question's TwiML. The
baseline is a Flask route that returns a fixed TwiML string (bench.webhook_bare), under the
same gunicorn: 2 x cores + 1 sync workers on 127.0.0.1.

Every request of ours is a fresh one: `--size` (default 40,000) calls are set up in progress at
their first question, each request answers one of them, and a run that had to reuse a request
(a replay, which saves nothing) is short. The same bodies, signatures included, go to the
baseline, so both read and parse the same bytes.

1. Latency at a fixed offered load, open loop: 100 requests a second (200 calls each posting
   every 2 s) for `--seconds` (default 10) from a Python client; each latency is measured from
   the moment the request was due, so a stall counts in full (no coordinated omission). Judged:
   p99 < 50 ms.
2. Throughput at saturation: wrk (Debian's package) with 16 connections for `--seconds`, ours
   then the baseline. ratio = our requests/s / the baseline's.

Durability of the SQLite setting: WAL with synchronous=NORMAL syncs the log at checkpoints, not
at each commit. A killed process loses nothing committed; a power cut or a kernel crash may lose
the last transactions (never corrupt the file). For a webhook that is safe in practice: Twilio
retries a request that got no answer, and an answer the caller heard but that was lost would
show as a partial attempt. Run on PostgreSQL when that is not good enough.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.frame import Options, Outcome, UnavailableError
from bench.http_load import (
    ACCOUNT,
    CONNECTIONS,
    FROM,
    Signed,
    form_headers,
    gunicorn,
    gunicorn_workers,
    percentile,
    post,
    rate,
    run_wrk,
    served_outcome,
    server_env,
    settings_in,
    sign,
    write_requests,
)
from ivr.app import create_app
from ivr.campaigns.service import create_campaign
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.migrate import upgrade
from ivr.models import Answer, Attempt, AttemptStatus, Case, CaseStatus, Contact
from ivr.services import Services

TARGET = 0.5
P99_LIMIT_MS = 50.0
CALLS = 40_000
SECONDS = 10.0
OFFERED_RATE = 100.0  # requests a second: 200 calls, each posting every 2 s
BARE = "bench.webhook_bare:app"


def run(options: Options) -> Outcome:
    """Latency at a fixed load, then throughput against the bare route; see the docstring."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise UnavailableError("wrk is needed for the saturation run: apt-get install wrk")
    seconds = options.seconds or SECONDS
    calls = options.size or CALLS
    workers = gunicorn_workers()
    latency_calls = int(OFFERED_RATE * seconds)
    if calls <= latency_calls:
        raise ValueError(f"--size must exceed the {latency_calls} calls of the latency run")
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        folder = Path(tmp)
        settings = settings_in(folder)
        requests = _build(settings, calls)
        for_latency, for_load = requests[:latency_calls], requests[latency_calls:]
        ours_file = write_requests(folder / "ours.tsv", for_load, None)
        bare_file = write_requests(folder / "bare.tsv", for_load, "/bare")
        env = server_env(settings)
        with gunicorn("ivr.wsgi:app", env, workers, folder / "ours.log") as port:
            latencies, failures = _open_loop(port, for_latency, OFFERED_RATE)
            ours = run_wrk(wrk, port, ours_file, seconds)
        with gunicorn(BARE, env, workers, folder / "bare.log") as port:
            bare = run_wrk(wrk, port, bare_file, seconds)
        saved, doubled = _answers(settings)
    ratio = ours.per_second / bare.per_second if bare.per_second else 0.0
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    expected = len(latencies) - failures + ours.requests - ours.non_2xx - ours.reused
    # wrk stops at its deadline with up to one request per connection in flight: the server
    # still applies those, wrk never counts them; a latency request the client gave up on may
    # have been applied too. So more answers than counted is fine up to that many; fewer, or
    # one saved twice (`doubled`), is not.
    uncounted = CONNECTIONS + failures
    problems = []
    if p99 >= P99_LIMIT_MS:
        problems.append(f"p99 {p99:.1f} ms at {OFFERED_RATE:g}/s, limit {P99_LIMIT_MS:g} ms")
    if failures or ours.non_2xx or ours.socket_errors:
        problems.append(
            f"errors: {failures} in the latency run, {ours.non_2xx} non-2xx and "
            f"{ours.socket_errors} socket errors under load"
        )
    if ours.reused:
        problems.append(f"{ours.reused} requests were replays: raise --size")
    if doubled or not expected <= saved <= expected + uncounted:
        problems.append(
            f"answers saved {saved}, expected {expected} (+ up to {uncounted} uncounted); "
            f"{doubled} saved twice"
        )
    rows = [
        ("server", f"gunicorn, {workers} sync workers; wrk, {CONNECTIONS} connections"),
        ("ours: gather step", rate(ours)),
        ("baseline: fixed TwiML", rate(bare)),
        (
            f"latency at {OFFERED_RATE:g}/s, open loop",
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (limit {P99_LIMIT_MS:g})",
        ),
        ("answers saved once", f"{saved:,} of {expected:,} answered requests; {doubled} twice"),
        ("database", "SQLite, WAL, synchronous=NORMAL"),
    ]
    figures: dict[str, Any] = {
        "workers": workers,
        "connections": CONNECTIONS,
        "seconds": seconds,
        "ours": ours.__dict__ | {"per_second": ours.per_second},
        "baseline": bare.__dict__ | {"per_second": bare.per_second},
        "latency_ms": {"p50": p50, "p99": p99, "max": max(latencies, default=0.0)},
        "latency_requests": len(latencies),
        "latency_failures": failures,
        "answers_saved": saved,
        "answers_expected": expected,
        "answers_saved_twice": doubled,
    }
    return served_outcome(ratio, rows, figures, problems)


def _build(settings: Settings, calls: int) -> list[Signed]:
    """`calls` attempts in progress at the first question, and the request answering each."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name="bench", template_name="post-discharge", overrides={}, now=now
        )
        campaign_id = campaign.id
    contacts = [
        {
            "name": "Bench Patient",
            "phone": f"+1202555{n % 100 + 100:04d}",
            "language": "en-US",
            "timezone": "Asia/Shanghai",
        }
        for n in range(calls)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Contact), contacts)
        first_contact = conn.scalar(select(func.min(Contact.id)))
        assert first_contact is not None
        conn.execute(
            insert(Case),
            [
                {
                    "campaign_id": campaign_id,
                    "contact_id": first_contact + n,
                    "external_ref": f"B-{n:06d}",
                    "anchor_date": date.today() - timedelta(days=7),
                    "details": {},
                    "status": CaseStatus.IN_CALL,
                    "attempts_made": 1,
                    "created_at": now,
                }
                for n in range(calls)
            ],
        )
        first_case = conn.scalar(select(func.min(Case.id)))
        assert first_case is not None
        conn.execute(
            insert(Attempt),
            [
                {
                    "case_id": first_case + n,
                    "number": 1,
                    "status": AttemptStatus.IN_PROGRESS,
                    "call_sid": _call_sid(n),
                    "language": "en-US",
                    "answered_by": "human",
                    "created_at": now,
                    "placed_at": now,
                }
                for n in range(calls)
            ],
        )
        first_attempt = conn.scalar(select(func.min(Attempt.id)))
        assert first_attempt is not None
    # One call's voice request starts its flow for real; the others copy the state it left.
    services = Services(settings=settings, sessions=sessions)
    client = create_app(settings, services=services).test_client()
    opening = sign(f"/twilio/voice?attempt={first_attempt}&held=1", _form(0))
    answer = client.post(opening.path, data=opening.body, headers=form_headers(opening.signature))
    if answer.status_code != 200 or b"<Gather" not in answer.data:
        raise RuntimeError(f"the flow did not start: {answer.status_code} {answer.data[:200]!r}")
    # "1: I am the patient": the calls wait at the recovery question, whose key is saved.
    with engine.connect() as conn:
        step = conn.scalar(select(Attempt.flow_step).where(Attempt.id == first_attempt))
    identified = sign(f"/twilio/gather?attempt={first_attempt}&step={step}", _form(0, Digits="1"))
    answer = client.post(
        identified.path, data=identified.body, headers=form_headers(identified.signature)
    )
    if answer.status_code != 200 or b"<Gather" not in answer.data:
        raise RuntimeError(f"identify failed: {answer.status_code} {answer.data[:200]!r}")
    with engine.begin() as conn:
        state, step = conn.execute(
            select(Attempt.flow_state, Attempt.flow_step).where(Attempt.id == first_attempt)
        ).one()
        conn.execute(
            update(Attempt)
            .where(Attempt.id != first_attempt)
            .values(flow_state=state, flow_step=step, reached=True)
        )
    engine.dispose()
    return [
        sign(
            f"/twilio/gather?attempt={first_attempt + n}&step={step}",
            _form(n, Digits="1", FinishedOnKey="", msg="Gather End"),
        )
        for n in range(calls)
    ]


def _call_sid(n: int) -> str:
    return f"CA{n:032x}"


def _form(n: int, **extra: str) -> dict[str, str]:
    """The fields Twilio posts to a voice or gather URL of an outbound call (TWILIO-NOTES.md)."""
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": _call_sid(n),
        "CallStatus": "in-progress",
        "Called": "+12025550123",
        "Caller": FROM,
        "Direction": "outbound-api",
        "From": FROM,
        "To": "+12025550123",
        **extra,
    }


def _open_loop(port: int, requests: list[Signed], rate: float) -> tuple[list[float], int]:
    """Send each request at its due time from a pool of threads; latency from the due time."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    started = time.perf_counter() + 0.5
    next_index = iter(range(len(requests)))

    def worker() -> None:
        nonlocal failures
        for index in next_index:  # one iterator for all threads: each index is taken once
            due = started + index / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            try:
                ok = post(port, requests[index]) == 200
            except OSError:
                ok = False
            elapsed_ms = (time.perf_counter() - due) * 1000
            with lock:
                latencies.append(elapsed_ms)
                failures += 0 if ok else 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def _answers(settings: Settings) -> tuple[int, int]:
    """Answers stored, and attempts with an answer stored more than once for one question."""
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        saved = conn.scalar(select(func.count()).select_from(Answer)) or 0
        doubled = conn.scalar(
            select(func.count()).select_from(
                select(Answer.attempt_id)
                .group_by(Answer.attempt_id, Answer.question)
                .having(func.count() > 1)
                .subquery()
            )
        )
    engine.dispose()
    return saved, doubled or 0
