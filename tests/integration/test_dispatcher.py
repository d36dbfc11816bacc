"""The dispatcher against a database and Twilio's REST API faked at the HTTP level."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import (
    Attempt,
    AttemptStatus,
    CampaignStatus,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
)
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from scheduler.dispatcher import STALE_AFTER, dispatch_once
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CALLS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
# 2030-01-07 is a Monday; 01:00 UTC is 09:00 in Asia/Shanghai, inside the 08:00-11:00 window.
IN_WINDOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
DISCHARGED = date(2029, 12, 31)  # offset 7d: first call from 2030-01-07 08:00 local


class NoWait:
    def __init__(self) -> None:
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def dialling(services: Services, clock: FakeClock) -> Services:
    clock.now = IN_WINDOW
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _: None
    )
    return services


_sids = (f"CA{n:032x}" for n in itertools.count(1))


def accept(request: Any) -> tuple[int, dict[str, str], str]:
    import json

    return 201, {}, json.dumps({"sid": next(_sids), "status": "queued"})


def add_cases(sessions: sessionmaker[Session], now: datetime, count: int = 1, **kw: Any) -> None:
    with sessions.begin() as session:
        campaign = factories.campaign(session, now, **kw)
        for n in range(count):
            factories.case(
                session,
                campaign,
                now,
                ref=f"P-{n:04d}",
                phone=factories.FICTIONAL_PHONES[n],
                anchor=DISCHARGED,
            )


def one_case(sessions: sessionmaker[Session]) -> Case:
    with sessions() as session:
        case = session.scalars(select(Case)).one()
        case.attempts  # load while the session is open  # noqa: B018
        return case


def test_due_case_is_called_with_attempt_urls(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    seen: list[dict[str, list[str]]] = []

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        # The attempt row must exist, committed, before the provider is asked.
        with sessions() as session:
            attempt = session.scalars(select(Attempt)).one()
            assert attempt.status is AttemptStatus.CREATED
        seen.append(parse_qs(request.body))
        return accept(request)

    mocked.add_callback(responses.POST, CALLS_URL, callback=create)
    add_cases(sessions, IN_WINDOW)
    report = dispatch_once(dialling, NoWait())

    assert (report.claimed, report.placed, report.failed) == (1, 1, 0)
    case = one_case(sessions)
    assert case.status is CaseStatus.IN_CALL and case.attempts_made == 1
    attempt = case.attempts[0]
    assert attempt.status is AttemptStatus.QUEUED and attempt.call_sid
    assert attempt.placed_at == IN_WINDOW
    form = seen[0]
    assert form["To"] == [factories.FICTIONAL_PHONES[0]]
    assert form["Url"] == [f"{PUBLIC_BASE_URL}/twilio/voice?attempt={attempt.id}"]
    assert form["StatusCallback"] == [f"{PUBLIC_BASE_URL}/twilio/status?attempt={attempt.id}"]
    assert form["Record"] == ["true"]
    assert form["Timeout"] == ["30"]


def test_nothing_happens_before_a_case_is_due(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    add_cases(sessions, IN_WINDOW + timedelta(hours=1))
    report = dispatch_once(dialling, NoWait())
    assert report.claimed == 0
    assert len(mocked.calls) == 0


def test_due_case_outside_calling_hours_waits_for_the_next_window(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    add_cases(sessions, IN_WINDOW)
    clock.now = datetime(2030, 1, 7, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai: the dialler was down
    report = dispatch_once(dialling, NoWait())
    assert (report.claimed, report.rescheduled) == (0, 1)
    assert len(mocked.calls) == 0
    assert one_case(sessions).next_call_at == datetime(2030, 1, 8, 0, 0, tzinfo=UTC)  # 08:00


def test_case_past_its_deadline_is_closed_and_escalated(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    add_cases(sessions, IN_WINDOW)
    clock.now = IN_WINDOW + timedelta(days=10)  # deadline 10d after discharge has passed
    report = dispatch_once(dialling, NoWait())
    assert report.missed_deadline == 1
    case = one_case(sessions)
    assert case.status is CaseStatus.DONE and case.outcome is CaseOutcome.MISSED_DEADLINE
    with sessions() as session:
        assert session.scalars(select(Escalation.reason)).all() == ["unreachable"]
    assert len(mocked.calls) == 0


def test_paused_campaign_is_not_dialled(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    add_cases(sessions, IN_WINDOW)
    with sessions.begin() as session:
        one = session.scalars(select(Case)).one()
        one.campaign.status = CampaignStatus.PAUSED
    assert dispatch_once(dialling, NoWait()).claimed == 0


def test_invalid_number_closes_the_case_as_wrong_number(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    mocked.add(
        responses.POST,
        CALLS_URL,
        status=400,
        json={
            "code": 21211,
            "message": "The 'To' number is not a valid phone number.",
            "status": 400,
        },
    )
    add_cases(sessions, IN_WINDOW)
    report = dispatch_once(dialling, NoWait())
    assert (report.placed, report.failed) == (0, 1)
    case = one_case(sessions)
    assert case.outcome is CaseOutcome.WRONG_NUMBER
    attempt = case.attempts[0]
    assert attempt.status is AttemptStatus.ERROR and attempt.error_code == 21211
    assert attempt.error_permanent
    with sessions() as session:
        assert session.scalars(select(Escalation.reason)).all() == ["wrong_number"]


def test_provider_unreachable_retries_after_the_spacing(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    mocked.add(responses.POST, CALLS_URL, body=requests.ConnectTimeout("nothing sent"))
    add_cases(sessions, IN_WINDOW)
    report = dispatch_once(dialling, NoWait())
    assert report.failed == 1
    case = one_case(sessions)
    assert case.status is CaseStatus.PENDING
    # 09:00 + 2 h is 11:00, where the morning window ends: the afternoon window opens at 14:00.
    assert case.next_call_at == datetime(2030, 1, 7, 6, 0, tzinfo=UTC)
    assert case.attempts[0].status is AttemptStatus.ERROR
    assert not case.attempts[0].error_permanent


def test_lost_create_answer_is_left_to_callbacks_then_swept(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    mocked.add(responses.POST, CALLS_URL, body=requests.ReadTimeout("lost"))
    add_cases(sessions, IN_WINDOW)
    report = dispatch_once(dialling, NoWait())
    assert report.uncertain == 1
    case = one_case(sessions)
    # The call may be ringing: the case must not be handed out again meanwhile.
    assert case.status is CaseStatus.IN_CALL
    assert case.attempts[0].status is AttemptStatus.CREATED

    clock.now += STALE_AFTER - timedelta(minutes=1)
    assert dispatch_once(dialling, NoWait()).swept == 0
    clock.now += timedelta(minutes=2)
    assert dispatch_once(dialling, NoWait()).swept == 1
    case = one_case(sessions)
    assert case.status is CaseStatus.PENDING and case.attempts[0].settled_at is not None


def test_a_case_is_dialled_once_per_due_time(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW, count=3)
    pacer = NoWait()
    assert dispatch_once(dialling, pacer).placed == 3
    assert dispatch_once(dialling, pacer).placed == 0
    assert pacer.waits == 3
    assert len(mocked.calls) == 3


def test_concurrent_dispatchers_share_the_work_without_double_dialling(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    dialled: list[str] = []
    lock = threading.Lock()

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            dialled.append(parse_qs(request.body)["To"][0])
        return accept(request)

    mocked.add_callback(responses.POST, CALLS_URL, callback=create)
    add_cases(sessions, IN_WINDOW, count=30)
    reports = []

    def worker() -> None:
        reports.append(dispatch_once(dialling, NoWait(), batch_size=7))

    for _ in range(3):  # several passes: each claims at most 7, together they must take all
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(dialled) == sorted(set(dialled))
    assert len(dialled) == 30
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 30


def test_a_case_keeps_to_its_own_deadline_not_the_campaigns(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    # A 10-day cooling-off case in a campaign whose default is longer: its stored deadline rules.
    add_cases(sessions, IN_WINDOW)
    with sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        case.deadline_at = IN_WINDOW + timedelta(days=1)
    clock.now = IN_WINDOW + timedelta(days=1, hours=1)  # the campaign's 10 days are not over
    report = dispatch_once(dialling, NoWait())
    assert (report.claimed, report.missed_deadline) == (0, 1)
    assert one_case(sessions).outcome is CaseOutcome.MISSED_DEADLINE
    assert len(mocked.calls) == 0
