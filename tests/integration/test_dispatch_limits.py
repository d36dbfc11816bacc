"""Limits all dispatchers share through the database: pace, concurrent-call caps, pauses."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import requests
import responses
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Attempt, AttemptStatus, Case, CaseStatus
from ivr.services import Services
from scheduler.dispatcher import PROVIDER_PAUSE_S, dispatch_once
from scheduler.pacing import PACE_MARGIN, DbPacer, pause_provider, provider_paused_for
from tests.integration.conftest import CALLS_URL, IN_WINDOW, NoWait
from tests.integration.test_dispatcher import accept, add_cases

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def in_call(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Case).where(Case.status == CaseStatus.IN_CALL)
            )
            or 0
        )


def end_one_call(sessions: sessionmaker[Session]) -> None:
    """As if the final status callback of one call in flight had settled it."""
    with sessions.begin() as session:
        case = session.scalars(select(Case).where(Case.status == CaseStatus.IN_CALL)).first()
        assert case is not None
        case.status = CaseStatus.DONE


def test_a_campaign_never_has_more_calls_in_flight_than_its_cap(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """max_concurrent=2 with five due cases: two calls, then one more each time a line frees."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=5, max_concurrent="2")
    report = dispatch_once(dialling, NoWait())
    assert (report.placed, in_call(sessions)) == (2, 2)
    assert report.capped >= 1
    assert dispatch_once(dialling, NoWait()).placed == 0
    end_one_call(sessions)
    assert dispatch_once(dialling, NoWait()).placed == 1
    assert in_call(sessions) == 2


def test_a_capped_campaign_does_not_hold_up_another_campaigns_cases(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Cases of a full campaign are stepped over; the other campaign's due cases are dialled."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=12, max_concurrent="1")
    add_cases(sessions, IN_WINDOW, count=3, name="ward-9", first=50)
    report = dispatch_once(dialling, NoWait())
    assert report.placed == 4


def test_the_caller_id_cap_counts_every_campaigns_calls(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """IVR_MAX_CONCURRENT_CALLS=3 over two campaigns: three calls in flight in all."""
    dialling.settings = dialling.settings.with_(max_concurrent_calls=3)
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=3)
    add_cases(sessions, IN_WINDOW, count=3, name="ward-9", first=50)
    assert dispatch_once(dialling, NoWait()).placed == 3
    assert dispatch_once(dialling, NoWait()).placed == 0
    end_one_call(sessions)
    assert dispatch_once(dialling, NoWait()).placed == 1


def test_concurrent_dispatchers_never_exceed_a_campaigns_cap(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Four dispatchers at once against max_concurrent=3: exactly three calls in flight."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=20, max_concurrent="3")
    threads = [
        threading.Thread(target=lambda: dispatch_once(dialling, NoWait(), batch_size=5))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert in_call(sessions) == 3
    assert len(mocked.calls) == 3


def test_an_unreachable_provider_pauses_dialling_and_gives_the_attempt_back(
    dialling: Services,
    sessions: sessionmaker[Session],
    mocked: responses.RequestsMock,
    engine: Engine,
) -> None:
    """A connect failure sends nothing: no attempt is used up, every dispatcher stops a while."""
    mocked.add(responses.POST, CALLS_URL, body=requests.ConnectTimeout("no route"))
    add_cases(sessions, IN_WINDOW, count=3)
    report = dispatch_once(dialling, NoWait())
    assert report.paused and report.placed == 0
    assert len(mocked.calls) == 1  # one try, not one per due case
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 0
        cases = session.scalars(select(Case)).all()
        assert {(c.status, c.attempts_made) for c in cases} == {(CaseStatus.PENDING, 0)}
    assert provider_paused_for(engine) == pytest.approx(PROVIDER_PAUSE_S, abs=2)
    again = dispatch_once(dialling, NoWait())
    assert (again.paused, again.claimed, len(mocked.calls)) == (True, 0, 1)


def test_dialling_resumes_when_the_pause_is_over(
    dialling: Services,
    sessions: sessionmaker[Session],
    mocked: responses.RequestsMock,
    engine: Engine,
) -> None:
    """After the pause the next pass dials again."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=2)
    pause_provider(engine, 0.05)
    time.sleep(0.1)
    report = dispatch_once(dialling, NoWait())
    assert (report.paused, report.placed) == (False, 2)


def test_pacers_of_several_processes_share_one_pace(engine: Engine) -> None:
    """Two pacers on one database: the second waits out the slot the first has just taken."""
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        time.sleep(seconds)

    interval = 1 / (2.0 * PACE_MARGIN)
    first = DbPacer(engine, 2.0, key="test.pace")
    second = DbPacer(engine, 2.0, key="test.pace", sleep=sleep)
    first.wait()
    took_first = time.monotonic()
    second.wait()
    # Bounds that hold however slowly this machine runs: the second never goes sooner than one
    # interval after the first (less the grid's slack), and never asks to sleep for more.
    assert time.monotonic() - took_first >= interval - 0.03
    assert naps and sum(naps) <= interval + 0.01


def test_threads_pacing_together_keep_the_rate(engine: Engine) -> None:
    """Six threads taking moments at 20/s: consecutive moments at least 1/(cps*margin) apart."""
    taken: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        pacer = DbPacer(engine, 20.0, key="test.threads")
        for _ in range(5):
            pacer.wait()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken.sort()
    elapsed = taken[-1] - taken[0]
    # 30 moments are 29 intervals of 1/(20*0.97) s: about 1.49 s, never less.
    assert elapsed >= 29 / (20 * PACE_MARGIN) - 0.05
    # The times are read after each grant's commit returned, so a thread the OS kept waiting
    # shifts its own stamp towards the next one (seen under a load of 5 on 2 cores): the window
    # allows 0.1 s of such jitter. 21 moments on the grid span 1.03 s, so 21 within 0.9 s still
    # means the pace was broken, not just stamped late.
    assert max(sum(1 for t in taken if s <= t < s + 0.9) for s in taken) <= 20


def test_a_cap_left_at_zero_means_no_cap(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """The default (0) caps nothing: every due case of the pass is dialled."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=6)
    assert dispatch_once(dialling, NoWait()).placed == 6
    with sessions() as session:
        statuses = set(session.scalars(select(Attempt.status)))
    assert statuses == {AttemptStatus.QUEUED}


def test_pause_never_shortens_a_longer_pause(engine: Engine) -> None:
    """A second, shorter pause leaves the longer one in place."""
    pause_provider(engine, 60)
    pause_provider(engine, 1)
    assert provider_paused_for(engine) > 50
    assert timedelta(seconds=provider_paused_for(engine)) <= timedelta(seconds=60)
