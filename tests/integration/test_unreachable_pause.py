"""after_unreachable=pause: a case out of calls waits, never called, for a reply or a person."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Campaign, Case, CaseOutcome, CaseStatus, Escalation, StaffRole, StaffUser
from ivr.queue.access import acting_user
from ivr.queue.actions import resolve
from ivr.queue.replies import Inbound, handle_reply
from ivr.reports.build import build_report
from ivr.services import Services
from scheduler.dispatcher import dispatch_once
from tests.conftest import FakeClock
from tests.fallback_cases import PHONE, NoWait, TextsOnly, escalations, kinds, unreachable_case

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def texting(services: Services) -> Services:
    services.telephony = TextsOnly()  # type: ignore[assignment]
    return services


def case_state(sessions: sessionmaker[Session], case_id: int) -> tuple[object, ...]:
    """(status, outcome, next_call_at, done_at) of a case."""
    with sessions() as session:
        case = session.get_one(Case, case_id)
        return case.status, case.outcome, case.next_call_at, case.done_at


def resolve_as_supervisor(services: Services, case_id: int, reason: str, outcome: str) -> None:
    """A supervisor closes the case's escalation for `reason` (no claim needed)."""
    with services.sessions.begin() as session:
        if session.scalar(select(StaffUser).where(StaffUser.username == "sue")) is None:
            session.add(
                StaffUser(
                    username="sue",
                    password_hash="!",
                    role=StaffRole.SUPERVISOR,
                    created_at=services.clock(),
                )
            )
            session.flush()
        escalation_id = session.scalars(
            select(Escalation.id).where(Escalation.case_id == case_id, Escalation.reason == reason)
        ).one()
        resolve(session, services, escalation_id, acting_user(session, "sue"), outcome=outcome)


def test_paused_case_has_no_outcome_and_is_never_dialled_again(
    texting: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """PAUSED, no outcome, nothing due; the text still goes; later passes claim nothing."""
    case_id = unreachable_case(texting, clock, after_unreachable="pause")

    assert (CaseStatus.PAUSED, None, None, None) == case_state(sessions, case_id)
    assert {"unreachable": ("open", 1)} == escalations(sessions, case_id)
    first = dispatch_once(texting, NoWait())
    clock.advance(days=3)
    later = dispatch_once(texting, NoWait())

    assert (0, 1, 0, 0) == (first.claimed, first.texts, later.claimed, later.texts)
    assert ["sms.sent"] == [kind for kind, _ in kinds(sessions, "sms")]
    assert CaseStatus.PAUSED == case_state(sessions, case_id)[0]


def test_a_paused_care_case_schedules_no_follow_up(
    texting: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The series waits with its case: no next month's case is added while it is paused."""
    unreachable_case(texting, clock, after_unreachable="pause")

    with sessions() as session:
        assert 1 == len(session.scalars(select(Case)).all())


def test_resolving_the_last_open_escalation_closes_the_paused_case(
    texting: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Two open escalations (unreachable, then a reply's callback_requested): the case closes as
    unreachable only when the second is resolved."""
    case_id = unreachable_case(texting, clock, after_unreachable="pause")
    dispatch_once(texting, NoWait())
    with texting.sessions.begin() as session:
        handle_reply(session, texting, Inbound("SM" + "d1" * 16, PHONE, "1"), clock.now)

    resolve_as_supervisor(texting, case_id, "unreachable", "unreachable_closed")
    assert CaseStatus.PAUSED == case_state(sessions, case_id)[0]
    clock.advance(hours=3)
    resolve_as_supervisor(texting, case_id, "callback_requested", "rescheduled")

    assert (CaseStatus.DONE, CaseOutcome.UNREACHABLE, None, clock.now) == case_state(
        sessions, case_id
    )


def test_resolving_an_escalation_of_an_open_case_changes_nothing_else(
    texting: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The close-on-resolve rule is for paused cases only: a closed case keeps its done_at."""
    case_id = unreachable_case(texting, clock)
    before = case_state(sessions, case_id)
    clock.advance(hours=1)

    resolve_as_supervisor(texting, case_id, "unreachable", "unreachable_closed")

    assert before == case_state(sessions, case_id)
    assert (CaseStatus.DONE, CaseOutcome.UNREACHABLE) == before[:2]


def test_the_report_counts_a_paused_case_as_neither_open_nor_done(
    texting: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Paused has its own figure: not in open, not among the outcomes."""
    unreachable_case(texting, clock, after_unreachable="pause")

    with sessions() as session:
        campaign = session.scalars(select(Campaign)).one()
        report = build_report(session, texting, campaign)
    assert (1, 1, 0, {}) == (report["cases"], report["paused"], report["open"], report["outcomes"])


def test_a_bad_after_unreachable_value_is_refused(texting: Services, clock: FakeClock) -> None:
    """Only close or pause; the message says so."""
    with pytest.raises(ValueError, match="after_unreachable='later': must be close or pause"):
        unreachable_case(texting, clock, after_unreachable="later")
