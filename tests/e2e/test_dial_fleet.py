"""Several `ivr dial` processes on one PostgreSQL database: every case dialled exactly once, the
shared calls-per-second limit never exceeded, a dispatcher killed with SIGKILL costing nothing.

The provider is a counting fake on 127.0.0.1 (bench.fake_provider) that answers creates at once and
sends no callbacks, so each call stays in flight and a case can only be dialled once: any second
create for a case, or any second with more creates than IVR_CPS, is the dialler's fault.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bench.fake_provider import FakeProvider
from ivr.campaigns.service import create_campaign
from ivr.config import load_settings
from ivr.db import make_engine, make_sessions
from ivr.migrate import upgrade
from ivr.models import Attempt, Case, CaseStatus, Contact
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from scheduler.claims import CLAIM_SPAN_S
from scheduler.reconcile import UNCERTAIN_AFTER, reconcile_stale
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, SECRET_KEY
from tests.e2e.test_dial_process import _ivr, _zone_awake_all_day
from tests.factories import FICTIONAL_PHONES

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CASES = int(os.environ.get("IVR_FLEET_CASES", "10000"))
KILL_CASES = min(CASES, 2000)  # enough for a kill mid-run; the exactly-once count is the same
CPS = 100
DIALLERS = 4


def _campaign_overrides() -> dict[str, str]:
    """Call all day, every day, with no per-number caps (the fixture reuses 100 numbers)."""
    from ivr.campaigns.templates import template

    wanted = {
        "windows": "00:00-23:59",
        "days": "all",
        "blackout": "none",
        "daily_cap": "none",
        "weekly_cap": "none",
        "language": "en-US",
    }
    takes = template("post-discharge").defaults
    return {key: value for key, value in wanted.items() if key in takes}


def _seed(sessions: sessionmaker[Session], count: int) -> None:
    zone = _zone_awake_all_day()
    now = datetime.now(UTC)
    discharged = (datetime.now(ZoneInfo(zone)) - timedelta(days=7)).date()
    with sessions.begin() as session:
        campaign = create_campaign(
            session,
            name="fleet",
            template_name="post-discharge",
            overrides=_campaign_overrides(),
            now=now,
        )
        campaign_id = campaign.id
    with sessions.begin() as session:
        contacts = [
            {
                "name": f"Test Patient {n}",
                "phone": FICTIONAL_PHONES[n % len(FICTIONAL_PHONES)],
                "language": "en-US",
                "timezone": zone,
            }
            for n in range(count)
        ]
        ids = session.scalars(insert(Contact).returning(Contact.id), contacts).all()
        session.execute(
            insert(Case),
            [
                {
                    "campaign_id": campaign_id,
                    "contact_id": contact_id,
                    "external_ref": f"F-{n:06d}",
                    "anchor_date": discharged,
                    "ward": "W3",
                    "details": {},
                    "status": CaseStatus.PENDING,
                    "attempts_made": 0,
                    "next_call_at": now - timedelta(minutes=1),
                    "created_at": now,
                }
                for n, contact_id in enumerate(ids)
            ],
        )


@pytest.fixture
def fleet(
    postgres_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[dict[str, str], sessionmaker[Session], FakeProvider]]:
    """A migrated PostgreSQL database with CASES (or the test's own count of) due cases, and the
    counting provider."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_sessions(engine)
    _seed(sessions, getattr(request, "param", CASES))
    with FakeProvider(account_sid=ACCOUNT_SID) as provider:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))},
            "IVR_DATABASE_URL": postgres_url,
            "IVR_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "IVR_PUBLIC_BASE_URL": "http://127.0.0.1:9",  # no callbacks come from the fake
            "IVR_SECRET_KEY": SECRET_KEY,
            "IVR_TICK_SECONDS": "0.5",
            "IVR_CPS": str(CPS),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": provider.base_url,
        }
        try:
            yield env, sessions, provider
        finally:
            engine.dispose()


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    # The log goes to a file: a pipe nobody reads fills up and stalls the dialler.
    log = tempfile.NamedTemporaryFile("w+", prefix="ivr-dial-", suffix=".log", delete=False)
    dialler = subprocess.Popen(
        [_ivr(), "dial"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    _logs[dialler.pid] = log.name
    log.close()
    return dialler


_logs: dict[int, str] = {}


def _stop(dialler: subprocess.Popen[str]) -> str:
    """Stop a dialler; the last lines of its log, for a failure message."""
    if dialler.poll() is None:
        dialler.send_signal(signal.SIGTERM)
    dialler.wait(timeout=30)
    path = Path(_logs.pop(dialler.pid))
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    path.unlink()
    return "\n".join(line for line in lines if "WARNING" in line or "ERROR" in line)[-3000:]


def _wait_for_creates(provider: FakeProvider, count: int, timeout: float) -> None:
    """Until `count` creates arrived, or none arrived for 30 s, or `timeout` passed."""
    deadline = time.monotonic() + timeout
    seen, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        now_seen = len(provider.creates)
        if now_seen >= count:
            return
        if now_seen != seen:
            seen, last_change = now_seen, time.monotonic()
        elif time.monotonic() - last_change > 30:
            return
        time.sleep(0.2)


def _busiest_second(times: list[float]) -> int:
    """The most creates the provider received in any one-second window (sliding)."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_four_diallers_dial_every_case_exactly_once_within_the_shared_rate(
    fleet: tuple[dict[str, str], sessionmaker[Session], FakeProvider],
) -> None:
    """4 processes, CASES due cases: each dialled once, none left, never over IVR_CPS."""
    env, sessions, provider = fleet
    diallers = [_start(env) for _ in range(DIALLERS)]
    try:
        _wait_for_creates(provider, CASES, timeout=900)
        time.sleep(2)  # any double dial would arrive now
    finally:
        errors = [_stop(dialler) for dialler in diallers]
    creates = list(provider.creates)
    per_attempt = Counter(create.attempt_id for create in creates)
    with sessions() as session:
        attempts = session.scalar(select(func.count()).select_from(Attempt))
        per_case = session.execute(
            select(Attempt.case_id, func.count()).group_by(Attempt.case_id)
        ).all()
        waiting = session.scalar(
            select(func.count()).select_from(Case).where(Case.status == CaseStatus.PENDING)
        )
    busiest = _busiest_second([create.at for create in creates])
    span = max(c.at for c in creates) - min(c.at for c in creates)
    print(  # the figures this test stands for (shown with -s or on failure)
        f"\nfleet: {len(creates)} creates from {DIALLERS} diallers in {span:.1f} s "
        f"({len(creates) / span:.1f}/s, IVR_CPS={CPS}); busiest second {busiest}; "
        f"duplicates {sum(n - 1 for n in per_attempt.values())}; left {waiting}"
    )
    assert len(creates) == CASES, "\n\n".join(errors)
    assert max(per_attempt.values()) == 1
    assert attempts == CASES and {n for _case, n in per_case} == {1}
    assert waiting == 0
    assert busiest <= CPS


@pytest.mark.parametrize("fleet", [KILL_CASES], indirect=True)
def test_a_dialler_killed_mid_batch_costs_no_double_dial(
    fleet: tuple[dict[str, str], sessionmaker[Session], FakeProvider],
) -> None:
    """SIGKILL one of two diallers mid-run, start another: still one create per case."""
    env, sessions, provider = fleet
    first, second = _start(env), _start(env)
    replacement: subprocess.Popen[str] | None = None
    try:
        _wait_for_creates(provider, KILL_CASES // 4, timeout=120)
        first.send_signal(signal.SIGKILL)
        _stop(first)
        replacement = _start(env)
        _wait_for_creates(provider, KILL_CASES, timeout=600)
        time.sleep(2)
    finally:
        for dialler in (second, replacement):
            if dialler is not None:
                _stop(dialler)
    creates = list(provider.creates)
    per_case: Counter[int] = Counter()
    with sessions() as session:
        case_of = {a: c for a, c in session.execute(select(Attempt.id, Attempt.case_id))}
        held = session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.call_sid.is_(None))
        )
    for create in creates:
        assert create.attempt_id is not None, "every create carries its attempt id"
        per_case[case_of[create.attempt_id]] += 1
    print(f"\nkill -9: {len(creates)} creates, {held} attempt(s) left to the reconciler")
    assert max(per_case.values()) == 1
    # The killed process may have held one claim batch (attempts written, creates perhaps sent,
    # call ids not yet stored): those cases wait for the reconciler, which asks the provider
    # before anyone dials them again.
    batch = math.ceil(CPS * CLAIM_SPAN_S)
    assert KILL_CASES - batch <= len(per_case) <= KILL_CASES
    assert (held or 0) <= batch
    # The reconciler, a little later, asks the provider's call list and settles it either way.
    later = datetime.now(UTC) + UNCERTAIN_AFTER + timedelta(seconds=5)
    services = Services(
        load_settings(env),
        sessions,
        TwilioTelephony(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=provider.base_url
        ),
        clock=lambda: later,
    )
    assert reconcile_stale(services) == (held or 0)
    with sessions() as session:
        assert not session.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(Attempt.call_sid.is_(None), Attempt.settled_at.is_(None))
        )
    assert len(provider.creates) == len(creates)  # reconciling dials nobody
