"""Claims read plain rows and write them in bulk: a batch's cost does not grow with its size."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Attempt, AttemptStatus, Case, CaseStatus
from ivr.services import Services
from scheduler.claims import Search, claim_batch
from scheduler.pass_report import PassReport
from tests import factories
from tests.integration.conftest import DISCHARGED, IN_WINDOW

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


class Statements:
    """Counts the statements an engine executes (an executemany counts once)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self._engine = engine

    def __enter__(self) -> Statements:
        event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture
def statements(engine: Engine) -> Iterator[Statements]:
    yield Statements(engine)


def add_campaign(
    sessions: sessionmaker[Session], name: str, count: int, first: int, **kw: str
) -> None:
    with sessions.begin() as session:
        campaign = factories.campaign(session, IN_WINDOW, name=name, **kw)
        for n in range(first, first + count):
            factories.case(
                session,
                campaign,
                IN_WINDOW,
                ref=f"{name}-{n:04d}",
                phone=factories.FICTIONAL_PHONES[n],
                anchor=DISCHARGED,
            )


def claim(services: Services, size: int = 50) -> tuple[int, PassReport]:
    report = PassReport()
    return len(claim_batch(services, report, Search(), size)), report


def called_before(
    sessions: sessionmaker[Session], *, ago: timedelta, status: AttemptStatus, **kw: str
) -> int:
    """A due case whose first call was placed `ago` and ended; returns its id."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, IN_WINDOW, **kw)
        case = factories.case(session, campaign, IN_WINDOW, anchor=DISCHARGED)
        case.attempts_made = 1
        session.add(
            Attempt(
                case_id=case.id,
                number=1,
                status=status,
                language="zh-CN",
                created_at=IN_WINDOW - ago,
                placed_at=IN_WINDOW - ago,
                ended_at=IN_WINDOW - ago,
                settled_at=IN_WINDOW - ago,
            )
        )
        return case.id


def test_a_batch_of_twenty_costs_the_statements_of_a_batch_of_three(
    dialling: Services, sessions: sessionmaker[Session], statements: Statements
) -> None:
    """No statement per case: claiming 3 due cases and claiming 20 run the same statements."""
    add_campaign(sessions, "small", 3, first=0)
    with statements:
        assert claim(dialling)[0] == 3
    small = statements.count
    add_campaign(sessions, "large", 20, first=10)
    statements.count = 0
    with statements:
        assert claim(dialling)[0] == 20
    assert small == statements.count


def test_a_retry_waits_for_its_spacing_from_the_last_call(
    dialling: Services, sessions: sessionmaker[Session]
) -> None:
    """Due again 30 minutes after a no-answer, a case with 2 h spacing moves, it is not dialled."""
    case_id = called_before(
        sessions, ago=timedelta(minutes=30), status=AttemptStatus.NO_ANSWER, daily_cap="none"
    )
    claimed, report = claim(dialling)
    assert (claimed, report.rescheduled) == (0, 1)
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert case.status is CaseStatus.PENDING
        assert case.next_call_at is not None
        assert case.next_call_at >= IN_WINDOW + timedelta(minutes=90)


def test_a_retry_is_written_as_the_next_attempt_with_the_models_defaults(
    dialling: Services, sessions: sessionmaker[Session]
) -> None:
    """Past its spacing, the case's second call gets attempt number 2, created, defaults set."""
    case_id = called_before(
        sessions, ago=timedelta(hours=18), status=AttemptStatus.NO_ANSWER, daily_cap="none"
    )
    assert claim(dialling)[0] == 1
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.attempts_made, case.next_call_at) == (
            CaseStatus.IN_CALL,
            2,
            None,
        )
        attempt = session.scalars(
            select(Attempt).where(Attempt.case_id == case_id, Attempt.number == 2)
        ).one()
        expected = (AttemptStatus.CREATED, -1, 0, False, False, None, IN_WINDOW)
        actual = (
            attempt.status,
            attempt.last_sequence,
            attempt.flow_step,
            attempt.reached,
            attempt.error_permanent,
            attempt.call_sid,
            attempt.created_at,
        )
        assert expected == actual
