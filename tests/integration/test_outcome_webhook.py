"""The outcome webhook end to end: outbox rows written with the outcome, POSTed to a real HTTP
receiver on 127.0.0.1 that checks the signature, retried with backoff, failed when refused."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.attempts import close_case
from ivr.cases.importer import import_cases
from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    EscalationStatus,
    OutboxEvent,
    OutboxStatus,
    StaffRole,
    StaffUser,
)
from ivr.outcome_webhook.delivery import GIVE_UP_AFTER, deliver_due
from ivr.outcome_webhook.signing import derive_secret, new_salt
from ivr.queue.actions import resolve
from ivr.queue.service import raise_escalation
from ivr.services import Services
from scheduler.pacing import MonotonicPacer
from scheduler.runner import build_scheduler
from tests import factories
from tests.conftest import SECRET_KEY, FakeClock
from tests.outcome_receiver import Receiver, serve_receiver

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as state:
        yield state


# --- rows -------------------------------------------------------------------------------------


def hooked_campaign(
    services: Services, receiver: Receiver, *, name: str = "ward-7", secret: bool = True
) -> int:
    """A campaign whose outcomes go to the receiver, with its signing secret made."""
    with services.sessions.begin() as session:
        campaign = factories.campaign(
            session, services.clock(), name=name, outcome_webhook_url=receiver.url
        )
        if secret:
            campaign.webhook_salt = new_salt()
            receiver.secret = derive_secret(SECRET_KEY, campaign.id, campaign.webhook_salt)
        return campaign.id


def in_call(session: Session, campaign_id: int, now: datetime, ref: str = "P-0001") -> Case:
    """A case with its first attempt answered, as the dispatcher and the flow leave it."""
    case = factories.case(session, session.get_one(Campaign, campaign_id), now, ref=ref)
    case.status = CaseStatus.IN_CALL
    case.attempts_made = 1
    attempt = Attempt(
        case_id=case.id,
        number=1,
        status=AttemptStatus.COMPLETED,
        language="zh-CN",
        reached=True,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    for question, value in (("recovery", "2"), ("satisfaction", "5")):
        session.add(
            Answer(
                attempt_id=attempt.id,
                case_id=case.id,
                question=question,
                value=value,
                created_at=now,
            )
        )
    session.flush()
    return case


def complete(services: Services, campaign_id: int, ref: str = "P-0001") -> int:
    """A case completed by its call, with an escalation raised after it closed; its id."""
    now = services.clock()
    with services.sessions.begin() as session:
        case = in_call(session, campaign_id, now, ref)
        close_case(session, case, CaseOutcome.COMPLETED, now)
        # As settle_attempt does: the escalation comes after the case is closed.
        raise_escalation(session, case_id=case.id, reason="low_satisfaction", now=now)
        return case.id


def events(services: Services) -> list[OutboxEvent]:
    with services.sessions() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


# --- tests ------------------------------------------------------------------------------------


def test_a_completed_case_is_delivered_once_signed_with_its_answers(
    services: Services, receiver: Receiver
) -> None:
    """One POST, signed as documented, carrying the outcome, answers and open escalations."""
    campaign_id = hooked_campaign(services, receiver)
    case_id = complete(services, campaign_id)

    first = deliver_due(services)
    again = deliver_due(services)

    assert (1, 0, 0) == (first.delivered, first.retrying, first.failed)
    assert 0 == again.delivered
    assert 1 == len(receiver.requests)
    assert 0 == receiver.bad_signatures
    request = receiver.requests[0]
    (event,) = events(services)
    assert event.event_id == request.headers["X-IVR-Event-Id"]
    assert str(int(services.clock().timestamp())) == request.headers["X-IVR-Timestamp"]
    assert {
        "event": "case.closed",
        "event_id": event.event_id,
        "occurred_at": "2030-01-07T01:00:00Z",
        "campaign": "ward-7",
        "case_id": case_id,
        "external_ref": "P-0001",
        "status": "done",
        "outcome": "completed",
        "done_at": "2030-01-07T01:00:00Z",
        "attempts": 1,
        "answers": {"recovery": "2", "satisfaction": "5"},
        "open_escalations": [{"reason": "low_satisfaction", "status": "open"}],
    } == request.payload
    assert b"+1202555" not in request.body and "测试患者" not in request.body.decode()
    assert (OutboxStatus.DELIVERED, 1, 200) == (event.status, event.tries, event.last_status_code)


def test_everything_the_transaction_adds_after_the_outcome_is_in_the_payload(
    services: Services, receiver: Receiver
) -> None:
    """Escalations raised after the case closed (each in a savepoint) are all reported."""
    campaign_id = hooked_campaign(services, receiver)
    now = services.clock()
    with services.sessions.begin() as session:
        case = in_call(session, campaign_id, now)
        close_case(session, case, CaseOutcome.COMPLETED, now)
        for reason in ("low_satisfaction", "requested_agent", "complaint"):
            raise_escalation(session, case_id=case.id, reason=reason, now=now)

    deliver_due(services)

    (request,) = receiver.requests
    assert [
        {"reason": "low_satisfaction", "status": "open"},
        {"reason": "requested_agent", "status": "open"},
        {"reason": "complaint", "status": "open"},
    ] == request.payload["open_escalations"]


def test_a_tampered_body_does_not_verify(services: Services, receiver: Receiver) -> None:
    """The receiver's check fails for a body that is not the one signed (the test can fail)."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    deliver_due(services)

    request = receiver.requests[0]
    assert receiver.verify(request.headers, request.body)
    assert not receiver.verify(request.headers, request.body.replace(b"completed", b"partial"))


def test_a_receiver_answering_500_gets_the_event_again_after_the_backoff(
    services: Services, receiver: Receiver, clock: FakeClock
) -> None:
    """500: retried no sooner than 15 s (30 s halved by jitter at most), then delivered."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    receiver.answers = [500]
    start = clock.now

    first = deliver_due(services, jitter=lambda: 0.0)
    (waiting,) = events(services)
    too_soon = deliver_due(services)
    clock.advance(seconds=15)
    retried = deliver_due(services)

    assert (0, 1, 0) == (first.delivered, first.retrying, first.failed)
    assert (OutboxStatus.PENDING, 1, 500) == (
        waiting.status,
        waiting.tries,
        waiting.last_status_code,
    )
    assert start + timedelta(seconds=15) == waiting.next_try_at
    assert 0 == too_soon.delivered + too_soon.retrying
    assert 1 == retried.delivered
    assert 2 == len(receiver.requests)
    ids = {r.headers["X-IVR-Event-Id"] for r in receiver.requests}
    assert 1 == len(ids)
    assert receiver.requests[0].body == receiver.requests[1].body
    assert 0 == receiver.bad_signatures
    (event,) = events(services)
    assert (OutboxStatus.DELIVERED, 2) == (event.status, event.tries)


def test_a_400_fails_the_event_at_once_and_it_is_never_sent_again(
    services: Services, receiver: Receiver, clock: FakeClock
) -> None:
    """A 4xx other than 408/429 means the receiver refuses it: failed, not retried."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    receiver.answers = [400]

    report = deliver_due(services)
    clock.advance(hours=2)
    later = deliver_due(services)

    assert (0, 0, 1) == (report.delivered, report.retrying, report.failed)
    assert 0 == later.delivered + later.retrying + later.failed
    assert 1 == len(receiver.requests)
    (event,) = events(services)
    assert (OutboxStatus.FAILED, 400, None) == (
        event.status,
        event.last_status_code,
        event.next_try_at,
    )


def test_429_is_retried_like_a_server_error(services: Services, receiver: Receiver) -> None:
    """Too many requests is "later", not "never"."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    receiver.answers = [429]

    report = deliver_due(services)

    assert 1 == report.retrying
    assert OutboxStatus.PENDING == events(services)[0].status


def test_an_outcome_rolled_back_leaves_no_event(services: Services, receiver: Receiver) -> None:
    """The event is written in the outcome's transaction: a rollback takes both away."""
    campaign_id = hooked_campaign(services, receiver)
    now = services.clock()
    with services.sessions.begin() as session:
        case_id = in_call(session, campaign_id, now).id

    with pytest.raises(RuntimeError), services.sessions.begin() as session:
        case = session.get_one(Case, case_id)
        close_case(session, case, CaseOutcome.COMPLETED, now)
        session.flush()  # the change is noted; the commit never comes
        raise RuntimeError("the provider call failed after the case was closed")

    with services.sessions() as session:
        assert CaseStatus.IN_CALL == session.get_one(Case, case_id).status
    assert [] == events(services)
    assert 0 == deliver_due(services).delivered


def test_the_event_is_committed_with_the_outcome_and_not_before(
    services: Services, receiver: Receiver
) -> None:
    """Another session sees neither the closed case nor its event until the commit."""
    campaign_id = hooked_campaign(services, receiver)
    now = services.clock()
    with services.sessions.begin() as session:
        case_id = in_call(session, campaign_id, now).id

    session = services.sessions()
    try:
        session.begin()
        close_case(session, session.get_one(Case, case_id), CaseOutcome.COMPLETED, now)
        session.flush()
        seen_before = session.scalar(select(func.count()).select_from(OutboxEvent))
        session.commit()
    finally:
        session.close()

    assert 0 == seen_before  # written at the commit, once every change of it is known
    (event,) = events(services)
    assert case_id == event.case_id


def test_an_outcome_inside_a_rolled_back_savepoint_writes_no_event(
    services: Services, receiver: Receiver
) -> None:
    """Only what the outermost commit keeps is reported."""
    campaign_id = hooked_campaign(services, receiver)
    now = services.clock()
    with services.sessions.begin() as session:
        case_id = in_call(session, campaign_id, now).id

    with services.sessions.begin() as session:
        case = session.get_one(Case, case_id)
        savepoint = session.begin_nested()
        close_case(session, case, CaseOutcome.COMPLETED, now)
        session.flush()
        savepoint.rollback()

    assert [] == events(services)


def test_a_campaign_without_a_webhook_writes_no_event(services: Services) -> None:
    """The webhook is optional: no URL, no outbox rows."""
    now = services.clock()
    with services.sessions.begin() as session:
        campaign = factories.campaign(session, now)
        case = in_call(session, campaign.id, now)
        close_case(session, case, CaseOutcome.COMPLETED, now)

    assert [] == events(services)


def test_excluded_and_past_deadline_cases_are_reported_on_import(
    services: Services, receiver: Receiver
) -> None:
    """The importer's outcomes (excluded ward, deadline already gone) reach the receiver too."""
    campaign_id = hooked_campaign(services, receiver)
    csv = (
        "external_ref,name,phone,discharge_date,department,ward\n"
        "P-ICU,测试一,+12025550101,2029-12-31,Cardiology,ICU\n"
        "P-OLD,测试二,+12025550102,2029-01-01,Cardiology,W3\n"
        "P-NEW,测试三,+12025550103,2029-12-31,Cardiology,W3\n"
    )
    import_cases(services.sessions, campaign_id, io.StringIO(csv), now=services.clock())

    report = deliver_due(services)

    assert 2 == report.delivered
    got = {r.payload["external_ref"]: r.payload for r in receiver.requests}
    assert {"P-ICU", "P-OLD"} == set(got)
    assert ("excluded", None, 0) == (
        got["P-ICU"]["status"],
        got["P-ICU"]["outcome"],
        got["P-ICU"]["attempts"],
    )
    assert ("done", "missed_deadline") == (got["P-OLD"]["status"], got["P-OLD"]["outcome"])


def test_a_resolved_escalation_is_reported_with_its_outcome(
    services: Services, receiver: Receiver
) -> None:
    """An agent's resolution is an event of its own, naming the escalation and its outcome."""
    campaign_id = hooked_campaign(services, receiver)
    case_id = complete(services, campaign_id)
    deliver_due(services)
    now = services.clock()
    with services.sessions.begin() as session:
        boss = StaffUser(
            username="sup.wang", password_hash="!", role=StaffRole.SUPERVISOR, created_at=now
        )
        session.add(boss)
        session.flush()
        escalation_id = session.scalar(select(Escalation.id).where(Escalation.case_id == case_id))
        assert escalation_id is not None
        resolve(session, services, escalation_id, boss, outcome="advice_given", note="called")

    deliver_due(services)

    assert 2 == len(receiver.requests)
    payload = receiver.requests[1].payload
    assert "escalation.resolved" == payload["event"]
    assert [] == payload["open_escalations"]
    assert {
        "id": escalation_id,
        "reason": "low_satisfaction",
        "outcome": "advice_given",
        "resolved_at": "2030-01-07T01:00:00Z",
    } == payload["escalation"]
    with services.sessions() as session:
        assert EscalationStatus.RESOLVED == session.get_one(Escalation, escalation_id).status


def test_a_receiver_down_for_a_day_fails_the_event_after_the_retry_period(
    services: Services, receiver: Receiver, clock: FakeClock
) -> None:
    """503 for ever: retried with backoff capped at an hour, then failed after ~24 h."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    start = clock.now
    receiver.answers = [503] * 100

    while clock.now - start <= GIVE_UP_AFTER + timedelta(hours=1):
        if deliver_due(services, jitter=lambda: 0.99).failed:
            break
        clock.advance(minutes=30)

    (event,) = events(services)
    assert OutboxStatus.FAILED == event.status
    assert event.last_error is not None and event.last_error.startswith("gave up after")
    # 30 s doubling to the hourly cap, then about hourly, across 24 h: a few dozen tries.
    assert 20 <= len(receiver.requests) <= 40
    assert event.failed_at is not None and event.failed_at - start <= GIVE_UP_AFTER


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    services: Services, receiver: Receiver
) -> None:
    """The read timeout ends the request; the event waits for its next try."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    receiver.delay_s = 1.0

    report = deliver_due(services, timeout=(2.0, 0.2))

    assert 1 == report.retrying
    (event,) = events(services)
    assert (OutboxStatus.PENDING, None) == (event.status, event.last_status_code)
    assert event.last_error is not None and "no answer within" in event.last_error


def test_a_refused_connection_is_retried(services: Services, receiver: Receiver) -> None:
    """Nothing listening: a connection error, retried later."""
    receiver.url = "http://127.0.0.1:9/closed"  # the discard port: nothing listens there
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)

    report = deliver_due(services, timeout=(1.0, 1.0))

    assert 1 == report.retrying
    (event,) = events(services)
    assert event.last_error is not None and event.last_error.startswith("connection failed")


def test_without_a_signing_secret_nothing_is_sent_unsigned(
    services: Services, receiver: Receiver
) -> None:
    """No secret made yet: the event waits (and says why) instead of going out unsigned."""
    campaign_id = hooked_campaign(services, receiver, secret=False)
    complete(services, campaign_id)

    report = deliver_due(services)

    assert 1 == report.retrying
    assert [] == receiver.requests
    (event,) = events(services)
    assert event.last_error is not None and "webhook-secret ward-7" in event.last_error


def test_two_deliverers_at_once_send_each_event_once(
    services: Services, receiver: Receiver
) -> None:
    """Two passes racing (two `ivr dial` processes) never POST the same event twice."""
    campaign_id = hooked_campaign(services, receiver)
    for n in range(6):
        complete(services, campaign_id, ref=f"P-{n:04d}")
    receiver.delay_s = 0.05  # each POST takes a while, so the passes overlap

    results = []

    def run() -> None:
        results.append(deliver_due(services))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    ids = [r.headers["X-IVR-Event-Id"] for r in receiver.requests]
    assert 6 == len(ids) == len(set(ids))
    assert 6 == sum(r.delivered for r in results)


def test_the_dial_job_delivers_and_logs_without_phone_numbers(
    services: Services, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """`ivr dial`'s webhooks job sends what is due and logs one line; no log carries a number."""
    campaign_id = hooked_campaign(services, receiver)
    complete(services, campaign_id)
    job = build_scheduler(services, MonotonicPacer(1.0)).get_job("webhooks")

    with caplog.at_level(logging.INFO):
        job.func()

    assert 1 == len(receiver.requests)
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.runner"]
    assert ["webhooks: 1 delivered, 0 to retry, 0 failed"] == lines
    delivered = [r for r in caplog.records if getattr(r, "action", "") == "webhook.delivered"]
    assert 1 == len(delivered)
    assert all("+1202555" not in str(r.__dict__) for r in caplog.records)
