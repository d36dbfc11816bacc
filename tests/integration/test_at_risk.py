"""`deadline_at_risk`: raised while a person can still call, due before the case's own deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Case, Escalation
from ivr.services import Services
from scheduler.at_risk import flag_deadlines_at_risk
from tests import factories
from tests.conftest import FakeClock
from tests.integration.conftest import IN_WINDOW

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def add_cases(sessions: sessionmaker[Session], count: int, deadline_in: timedelta) -> None:
    """Due post-discharge cases (08:00-11:00, 14:00-17:00; 3 attempts 2 h apart), one deadline."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, IN_WINDOW, daily_cap="none", weekly_cap="none")
        for n in range(count):
            case = factories.case(
                session, campaign, IN_WINDOW, ref=f"R-{n:04d}", phone=factories.FICTIONAL_PHONES[n]
            )
            case.deadline_at = IN_WINDOW + deadline_in


def escalations(sessions: sessionmaker[Session]) -> list[Escalation]:
    with sessions() as session:
        return list(
            session.scalars(select(Escalation).join(Case).order_by(Case.external_ref)).all()
        )


def test_a_case_whose_slots_run_out_is_escalated_before_its_deadline(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """09:00 with the deadline at 13:00: one morning slot for three attempts, so escalate now."""
    clock.now = IN_WINDOW
    add_cases(sessions, 1, timedelta(hours=4))
    assert flag_deadlines_at_risk(services) == 1
    (raised,) = escalations(sessions)
    assert raised.reason == "deadline_at_risk"
    assert raised.due_at <= IN_WINDOW + timedelta(hours=4)
    assert raised.detail is not None and "3 attempt(s) left" in raised.detail


def test_a_case_with_days_of_windows_left_is_not_escalated(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Three attempts and three days of windows: nothing to do yet."""
    clock.now = IN_WINDOW
    add_cases(sessions, 1, timedelta(days=3))
    assert flag_deadlines_at_risk(services) == 0
    assert escalations(sessions) == []


def test_a_case_is_escalated_once_however_often_the_job_runs(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A second run finds the open escalation and adds nothing."""
    clock.now = IN_WINDOW
    add_cases(sessions, 1, timedelta(hours=4))
    assert flag_deadlines_at_risk(services) == 1
    assert flag_deadlines_at_risk(services) == 0
    assert [e.triggers for e in escalations(sessions)] == [1]


def test_when_the_dialling_rate_cannot_reach_everyone_the_latest_deadlines_are_escalated(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """0.0001 calls/s over two days of windows: room for a few cases' attempts, not forty."""
    clock.now = IN_WINDOW
    services.settings = services.settings.with_(cps=0.0001)
    add_cases(sessions, 40, timedelta(days=2))
    with sessions.begin() as session:
        for n, case in enumerate(session.scalars(select(Case).order_by(Case.external_ref))):
            case.deadline_at = IN_WINDOW + timedelta(days=2, minutes=n)  # R-0000 first
    raised = flag_deadlines_at_risk(services)
    with sessions() as session:
        flagged = list(
            session.scalars(select(Case.external_ref).join(Escalation).order_by(Case.external_ref))
        )
    # Two days of windows hold about 12 h of callable time: 0.0001 x 43,200 s = 4.3 calls, the
    # capacity of one case's 3 attempts; every later case shares it with those before it.
    assert raised == len(flagged) == 39
    assert "R-0000" not in flagged
    assert all("capacity" in (e.detail or "") for e in escalations(sessions))
