"""Escalation terms: priorities and deadlines in hours or in China's working days."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.calendar import CalendarDataMissingError, WorkCalendar
from ivr.queue.rules import (
    DEFAULT_TERMS,
    Terms,
    WorkingDays,
    due_at,
    end_of_working_day,
    terms_for,
)
from ivr.queue.service import escalation_due_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = WorkCalendar("CN")
# Monday 28 Sep 2026, 10:00 in Beijing: National Day starts on Thursday.
BEFORE_NATIONAL_DAY = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


def end_of(day: int, month: int, year: int = 2026) -> datetime:
    """The end of a Beijing calendar day (midnight after it), in UTC."""
    return datetime(year, month, day, tzinfo=SHANGHAI).astimezone(UTC) + timedelta(days=1)


@pytest.mark.parametrize(
    ("reason", "terms"),
    [
        ("missell_suspected", Terms(2, WorkingDays(15))),
        ("complaint", Terms(2, WorkingDays(3))),
        ("identity_failed", Terms(1, WorkingDays(1))),
        ("reschedule", Terms(3, WorkingDays(2))),
        ("clinical_concern", Terms(1, timedelta(hours=24))),
        ("partial", Terms(3, timedelta(hours=48))),
        ("no_such_reason", DEFAULT_TERMS),
    ],
)
def test_each_reason_has_its_terms(reason: str, terms: Terms) -> None:
    """Regulated reasons count working days; the others keep their hours."""
    assert terms == terms_for(reason)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("missell_suspected", end_of(23, 10)),  # 29, 30 Sep, 8-10 Oct (10th: 调休), 12-23 Oct
        ("complaint", end_of(8, 10)),  # 29, 30 Sep, 8 Oct
        ("identity_failed", end_of(29, 9)),
        ("reschedule", end_of(30, 9)),
        ("clinical_concern", BEFORE_NATIONAL_DAY + timedelta(hours=24)),
        ("unreachable", BEFORE_NATIONAL_DAY + timedelta(hours=72)),
    ],
)
def test_due_at_counts_working_days_across_national_day(reason: str, expected: datetime) -> None:
    """Working-day terms skip the National Day week; hour terms run on the clock."""
    assert expected == due_at(reason, BEFORE_NATIONAL_DAY, CN)


def test_complaint_before_the_spring_festival_waits_for_the_week_after() -> None:
    """A complaint on Friday 13 Feb 2026: Saturday 14 Feb (调休), then 24 and 25 Feb."""
    raised = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)
    assert end_of(25, 2) == due_at("complaint", raised, CN)


def test_due_at_refuses_a_naive_instant() -> None:
    """raised_at must be aware, or the local day would be a guess."""
    with pytest.raises(ValueError, match="aware"):
        due_at("complaint", datetime(2026, 3, 2, 9), CN)


def test_due_at_raises_where_the_calendar_has_no_data() -> None:
    """A mis-selling case found in mid-December 2026 reaches 2027, whose notice is not known."""
    with pytest.raises(CalendarDataMissingError, match="2027"):
        due_at("missell_suspected", datetime(2026, 12, 15, 2, 0, tzinfo=UTC), CN)


def test_hour_terms_need_no_calendar_data() -> None:
    """An hours SLA in a year without a notice is computed as before."""
    raised = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    assert raised + timedelta(hours=24) == due_at("clinical_concern", raised, CN)


def test_escalation_deadline_is_estimated_and_logged_without_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service keeps the escalation: an estimated deadline, with a warning naming the year."""
    raised = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # Tuesday
    with caplog.at_level(logging.WARNING, logger="ivr.queue.service"):
        due = escalation_due_at("missell_suspected", raised, CN, case_id=7)
    # 16-31 Dec: 12 weekdays; 1 Jan off (statutory); 4, 5, 6 Jan.
    assert end_of(6, 1, 2027) == due
    (record,) = [r for r in caplog.records if r.name == "ivr.queue.service"]
    assert ("escalation.due_estimated", 7, 2027) == (
        record.__dict__["action"],
        record.__dict__["case_id"],
        record.__dict__["year"],
    )


def test_working_days_sla_needs_at_least_one_day() -> None:
    """A zero working-day SLA is a mistake in the terms table."""
    with pytest.raises(ValueError, match="at least 1"):
        WorkingDays(0)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        # Monday 28 Sep 2026, 10:00 Beijing: that day's end.
        (BEFORE_NATIONAL_DAY, end_of(28, 9)),
        # 23:30 Beijing is still the same day.
        (datetime(2026, 9, 28, 15, 30, tzinfo=UTC), end_of(28, 9)),
        # Thursday 1 Oct (National Day, off until the 7th): the next working day is Thursday 8 Oct.
        (datetime(2026, 10, 1, 2, 0, tzinfo=UTC), end_of(8, 10)),
        # Saturday 10 Oct 2026 is an adjusted working day (调休): due that day.
        (datetime(2026, 10, 10, 2, 0, tzinfo=UTC), end_of(10, 10)),
        # Sunday 11 Oct: Monday 12 Oct.
        (datetime(2026, 10, 11, 2, 0, tzinfo=UTC), end_of(12, 10)),
    ],
    ids=["weekday", "late evening", "holiday", "adjusted Saturday", "Sunday"],
)
def test_same_day_term_ends_with_the_working_day(raised: datetime, expected: datetime) -> None:
    """A same-day complaint is due at the end of its working day, or of the next one."""
    assert expected == end_of_working_day(raised, CN)
    assert expected == due_at("complaint", raised, CN, same_day=True)


def test_same_day_overrides_any_reasons_term() -> None:
    """A campaign's same-day reasons win over hours and working days alike."""
    for reason in ("complaint", "clinical_concern", "no_such_reason"):
        assert end_of(28, 9) == due_at(reason, BEFORE_NATIONAL_DAY, CN, same_day=True)
    assert end_of(8, 10) == due_at("complaint", BEFORE_NATIONAL_DAY, CN)  # unchanged without it


def test_same_day_in_a_year_without_data_is_estimated_not_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The escalation is kept with an estimated due time, and the log says so."""
    raised = datetime(2030, 1, 5, 2, 0, tzinfo=UTC)  # a Saturday in a year with no notice
    with caplog.at_level(logging.WARNING):
        due = escalation_due_at("complaint", raised, CN, same_day=True)
    assert datetime(2030, 1, 7, 16, 0, tzinfo=UTC) == due  # the end of Monday 7 Jan
    assert "escalation.due_estimated" == caplog.records[0].action
