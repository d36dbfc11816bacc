"""The dispatcher against a database and Twilio's REST API faked at the HTTP level."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
)
from ivr.services import Services
from scheduler.dispatcher import dispatch_once
from scheduler.reconcile import GIVE_UP_AFTER, STALE_AFTER, UNCERTAIN_AFTER
from tests import factories
from tests.conftest import ACCOUNT_SID, PUBLIC_BASE_URL, FakeClock
from tests.integration.conftest import API, CALLS_URL, DISCHARGED, IN_WINDOW, NoWait

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

_sids = (f"CA{n:032x}" for n in itertools.count(1))


def accept(request: Any) -> tuple[int, dict[str, str], str]:
    import json

    return 201, {}, json.dumps({"sid": next(_sids), "status": "queued"})


def add_cases(
    sessions: sessionmaker[Session], now: datetime, count: int = 1, *, first: int = 0, **kw: Any
) -> None:
    with sessions.begin() as session:
        campaign = factories.campaign(session, now, **kw)
        for n in range(first, first + count):
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


def call_resource(sid: str, status: str, created: datetime, **extra: Any) -> dict[str, Any]:
    """A Call resource as Twilio's REST API returns it (dates in RFC 2822)."""
    return {
        "sid": sid,
        "status": status,
        "to": factories.FICTIONAL_PHONES[0],
        "from": "+15005550006",
        "date_created": format_datetime(created),
        "start_time": None,
        "end_time": None,
        "duration": None,
        "answered_by": None,
        **extra,
    }


def calls_page(*calls: dict[str, Any]) -> dict[str, Any]:
    """One page of Twilio's call list, the last one."""
    return {"calls": list(calls), "page": 0, "page_size": 50, "next_page_uri": None}


def test_lost_create_answer_holds_the_case_until_the_provider_is_asked(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """A create lost in transit: the case is not dialled again until the call list says no call."""
    mocked.add(responses.POST, CALLS_URL, body=requests.ReadTimeout("lost"))
    mocked.add(responses.GET, CALLS_URL, json=calls_page())
    add_cases(sessions, IN_WINDOW)
    report = dispatch_once(dialling, NoWait())
    assert report.uncertain == 1
    case = one_case(sessions)
    # The call may be ringing: the case must not be handed out again meanwhile.
    assert case.status is CaseStatus.IN_CALL
    assert case.attempts[0].status is AttemptStatus.CREATED

    clock.now += UNCERTAIN_AFTER - timedelta(seconds=10)
    assert dispatch_once(dialling, NoWait()).swept == 0
    assert not [c for c in mocked.calls if c.request.method == "GET"]
    clock.now += timedelta(seconds=20)
    assert dispatch_once(dialling, NoWait()).swept == 1
    case = one_case(sessions)
    assert case.status is CaseStatus.PENDING and case.attempts[0].settled_at is not None
    assert case.attempts[0].status is AttemptStatus.ERROR
    lookups = [c.request for c in mocked.calls if c.request.method == "GET"]
    assert lookups and all(
        parse_qs(urlsplit(r.url).query)["To"] == [factories.FICTIONAL_PHONES[0]] for r in lookups
    )


def test_a_lost_create_that_did_ring_takes_the_providers_outcome_and_is_not_redialled(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """The create answered 500 but the call happened: the attempt gets that call and its end."""
    mocked.add(responses.POST, CALLS_URL, status=500, json={"code": 20500, "message": "oops"})
    sid = "CA" + "e" * 32
    mocked.add(
        responses.GET,
        CALLS_URL,
        json=calls_page(call_resource(sid, "no-answer", IN_WINDOW, duration="0")),
    )
    add_cases(sessions, IN_WINDOW)
    assert dispatch_once(dialling, NoWait()).uncertain == 1
    clock.now += UNCERTAIN_AFTER + timedelta(seconds=1)
    report = dispatch_once(dialling, NoWait())
    assert report.swept == 1
    creates = [c for c in mocked.calls if c.request.method == "POST"]
    assert len(creates) == 1  # the retry is planned for later: not dialled again in this pass
    attempt = one_case(sessions).attempts[0]
    assert (attempt.call_sid, attempt.status) == (sid, AttemptStatus.NO_ANSWER)
    assert attempt.settled_at is not None


def test_a_lost_create_never_takes_another_cases_call_to_the_same_number(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """Two cases share a phone; the first create is lost and never happened, the second rang.
    The call list shows only the second case's call, created after the first attempt: it is not
    the first attempt's call, which is settled as never created."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, IN_WINDOW, daily_cap="none", weekly_cap="none")
        factories.case(session, campaign, IN_WINDOW, ref="P-0001", anchor=DISCHARGED)
    mocked.add(responses.POST, CALLS_URL, status=500, json={"code": 20500, "message": "oops"})
    assert dispatch_once(dialling, NoWait()).uncertain == 1

    clock.now += timedelta(seconds=5)
    with sessions.begin() as session:
        campaign = session.scalars(select(Campaign)).one()
        factories.case(session, campaign, clock.now, ref="P-0002", anchor=DISCHARGED)
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    assert dispatch_once(dialling, NoWait()).placed == 1
    with sessions() as session:
        theirs = session.scalars(select(Attempt.call_sid).where(Attempt.call_sid.is_not(None)))
        sid = theirs.one()
    mocked.add(responses.GET, CALLS_URL, json=calls_page(call_resource(sid, "ringing", clock.now)))

    clock.now += UNCERTAIN_AFTER
    assert dispatch_once(dialling, NoWait()).swept == 1
    with sessions() as session:
        attempts = session.scalars(select(Attempt).order_by(Attempt.id)).all()
        assert [(a.call_sid, a.status) for a in attempts] == [
            (None, AttemptStatus.ERROR),
            (sid, AttemptStatus.QUEUED),
        ]


def test_a_call_whose_final_callback_never_came_is_fetched_and_settled(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """After the time limit and a margin the provider is asked; its final status is applied."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW)
    dispatch_once(dialling, NoWait())
    sid = one_case(sessions).attempts[0].call_sid
    assert sid is not None
    mocked.add(
        responses.GET,
        f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        json=call_resource(sid, "busy", IN_WINDOW),
    )
    clock.now += STALE_AFTER - timedelta(minutes=1)
    assert dispatch_once(dialling, NoWait()).swept == 0
    clock.now += timedelta(minutes=2)
    assert dispatch_once(dialling, NoWait()).swept == 1
    attempt = one_case(sessions).attempts[0]
    assert attempt.status is AttemptStatus.BUSY and attempt.settled_at is not None


def test_a_call_the_provider_cannot_tell_about_waits_then_gives_up(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """Provider down while reconciling: the attempt waits; after a day it is settled as an error."""
    mocked.add_callback(responses.POST, CALLS_URL, callback=accept)
    add_cases(sessions, IN_WINDOW)
    dispatch_once(dialling, NoWait())
    sid = one_case(sessions).attempts[0].call_sid
    mocked.add(
        responses.GET,
        f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        status=503,
        json={"code": 20503, "message": "unavailable"},
    )
    clock.now += STALE_AFTER + timedelta(minutes=1)
    assert dispatch_once(dialling, NoWait()).swept == 0
    assert one_case(sessions).status is CaseStatus.IN_CALL
    clock.now = IN_WINDOW + GIVE_UP_AFTER + timedelta(minutes=1)
    assert dispatch_once(dialling, NoWait()).swept == 1
    assert one_case(sessions).attempts[0].status is AttemptStatus.ERROR


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
