"""schedule_next_case: a reached care case gets its follow-up once; an unreachable one pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.options import campaign_config
from ivr.campaigns.templates import resolve_options, template
from ivr.cases.recurrence import schedule_next_case
from ivr.models import Campaign, Case, CaseOutcome, CaseStatus, Contact
from scheduler.planner import CallPolicy
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DETAILS = {
    "frequency": "monthly",
    "service": "居家护理",
    "provider": "示例护理服务中心",
    "appointment_date": "2030-01-20",
}


def policy() -> CallPolicy:
    """The care-insurance template's policy: offset 1d, deadline 7d, 09:00-12:00,14:00-18:00."""
    return campaign_config(template("care-insurance").defaults).policy


def done_case(
    session: Session,
    outcome: CaseOutcome,
    now: datetime,
    *,
    ref: str = "HL-1",
    anchor: date = date(2030, 1, 5),
    details: dict[str, Any] | None = None,
) -> Case:
    """A closed case of a care-insurance campaign row (built without the flow file)."""
    tpl = template("care-insurance")
    campaign = Campaign(
        name=f"care-{ref}",
        template=tpl.name,
        flow=tpl.flow,
        options=resolve_options(tpl, {}),
        created_at=now,
    )
    contact = Contact(name="测试客户一", phone="+12025550121", timezone="Asia/Shanghai")
    case = Case(
        campaign=campaign,
        contact=contact,
        external_ref=ref,
        anchor_date=anchor,
        details=dict(DETAILS if details is None else details),
        status=CaseStatus.DONE,
        outcome=outcome,
        attempts_made=1,
        done_at=now,
        created_at=now,
    )
    session.add(case)
    session.flush()
    return case


def schedule(session: Session, case: Case, now: datetime) -> Case | None:
    """Call it as the settlement does: the campaign's policy, the contact's zone."""
    return schedule_next_case(session, case, now=now, policy=policy(), tz=SHANGHAI)


@pytest.mark.parametrize(
    "outcome", [CaseOutcome.COMPLETED, CaseOutcome.PARTIAL, CaseOutcome.REQUESTED_AGENT]
)
def test_reached_case_gets_the_next_one_a_period_later(
    sessions: sessionmaker[Session], clock: FakeClock, outcome: CaseOutcome
) -> None:
    """#2 a month on, called from that day's first window (no offset), deadline 7 days on."""
    with sessions.begin() as session:
        case = done_case(session, outcome, clock.now)
        new = schedule(session, case, clock.now)
        assert new is not None
        assert ("HL-1#2", date(2030, 2, 5), case.contact_id, case.campaign_id) == (
            new.external_ref,
            new.anchor_date,
            new.contact_id,
            new.campaign_id,
        )
        # 09:00 Beijing on 5 Feb; the deadline is the end of 11 Feb.
        assert (CaseStatus.PENDING, 0) == (new.status, new.attempts_made)
        assert datetime(2030, 2, 5, 1, 0, tzinfo=UTC) == new.next_call_at
        assert datetime(2030, 2, 11, 16, 0, tzinfo=UTC) == new.deadline_at
        # The appointment on 20 Jan is before the new anchor: not read out again.
        assert {k: v for k, v in DETAILS.items() if k != "appointment_date"} == new.details


def test_a_second_call_for_the_same_case_creates_nothing(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A replayed settlement hits the unique ref in a savepoint; the transaction goes on."""
    with sessions.begin() as session:
        case = done_case(session, CaseOutcome.COMPLETED, clock.now)
        assert schedule(session, case, clock.now) is not None
        assert schedule(session, case, clock.now) is None
    with sessions() as session:
        refs = session.scalars(select(Case.external_ref).order_by(Case.id)).all()
    assert ["HL-1", "HL-1#2"] == refs


def test_the_series_numbers_on_and_keeps_a_later_appointment(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """#3 follows #2 a quarter on; an appointment after the new anchor is still read out."""
    details = {**DETAILS, "frequency": "quarterly", "appointment_date": "2030-05-01"}
    with sessions.begin() as session:
        case = done_case(
            session,
            CaseOutcome.COMPLETED,
            clock.now,
            ref="HL-1#2",
            anchor=date(2030, 1, 31),
            details=details,
        )
        new = schedule(session, case, clock.now)
        assert new is not None
        assert ("HL-1#3", date(2030, 4, 30), "2030-05-01") == (
            new.external_ref,
            new.anchor_date,
            new.details["appointment_date"],
        )


def test_a_period_already_past_is_skipped_for_the_next(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Settled two months late: the follow-up whose week is gone gives way to the next one."""
    with sessions.begin() as session:
        case = done_case(session, CaseOutcome.COMPLETED, clock.now, anchor=date(2029, 11, 25))
        new = schedule(session, case, clock.now)  # on 7 Jan, 25 Dec's week is over
        assert new is not None
        assert (date(2030, 1, 25), "HL-1#2") == (new.anchor_date, new.external_ref)


@pytest.mark.parametrize(
    "outcome",
    [CaseOutcome.UNREACHABLE, CaseOutcome.MISSED_DEADLINE, CaseOutcome.WRONG_NUMBER],
)
def test_unreached_case_pauses_the_follow_ups(
    sessions: sessionmaker[Session], clock: FakeClock, outcome: CaseOutcome
) -> None:
    """Nothing is scheduled; the case says the series is paused (stored, not just in memory)."""
    with sessions.begin() as session:
        case = done_case(session, outcome, clock.now)
        assert schedule(session, case, clock.now) is None
        case_id = case.id
    with sessions() as session:
        stored = session.get(Case, case_id)
        assert stored is not None
        assert "paused" == stored.details["follow_ups"]
        assert 1 == len(session.scalars(select(Case)).all())


def test_cases_without_a_frequency_or_not_done_do_not_recur(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Other templates' cases and open cases are left alone."""
    with sessions.begin() as session:
        plain = done_case(session, CaseOutcome.UNREACHABLE, clock.now, details={"doctor": "x"})
        assert schedule(session, plain, clock.now) is None
        assert "follow_ups" not in plain.details
        open_case = done_case(session, CaseOutcome.COMPLETED, clock.now, ref="HL-2")
        open_case.status = CaseStatus.PENDING
        assert schedule(session, open_case, clock.now) is None
