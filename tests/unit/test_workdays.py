"""China's working days: holidays and adjusted working days (调休), deadlines, overrides."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.calendar import CalendarDataMissingError, Overrides, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = WorkCalendar("CN")


def beijing(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given in Beijing time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def end_of_beijing_day(day: date) -> datetime:
    """The instant a Beijing calendar day ends (the next one starts), in UTC."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)


def days(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# The State Council's notices (国务院办公厅关于2025年/2026年部分节假日安排的通知): the weekend
# days that were working days (上班) and the days off (放假调休).
ADJUSTED_WORKING_DAYS = [
    date(2025, 1, 26),  # Sunday before the Spring Festival
    date(2025, 2, 8),  # Saturday after it
    date(2025, 4, 27),  # Sunday before Labour Day
    date(2025, 9, 28),  # Sunday before National Day
    date(2025, 10, 11),  # Saturday after it
    date(2026, 1, 4),  # Sunday after New Year
    date(2026, 2, 14),  # Saturday before the Spring Festival
    date(2026, 2, 28),  # Saturday after it
    date(2026, 5, 9),  # Saturday after Labour Day
    date(2026, 9, 20),  # Sunday before National Day
    date(2026, 10, 10),  # Saturday after it
]
DAYS_OFF = [
    date(2025, 1, 1),
    *days(date(2025, 1, 28), date(2025, 2, 4)),  # Spring Festival, with New Year's Eve
    *days(date(2025, 4, 4), date(2025, 4, 6)),
    *days(date(2025, 5, 1), date(2025, 5, 5)),
    *days(date(2025, 5, 31), date(2025, 6, 2)),
    *days(date(2025, 10, 1), date(2025, 10, 8)),  # National Day and Mid-Autumn together
    *days(date(2026, 1, 1), date(2026, 1, 3)),
    *days(date(2026, 2, 15), date(2026, 2, 23)),  # nine days
    *days(date(2026, 4, 4), date(2026, 4, 6)),
    *days(date(2026, 5, 1), date(2026, 5, 5)),
    *days(date(2026, 6, 19), date(2026, 6, 21)),
    *days(date(2026, 9, 25), date(2026, 9, 27)),
    *days(date(2026, 10, 1), date(2026, 10, 7)),
]


@pytest.mark.parametrize("day", ADJUSTED_WORKING_DAYS, ids=str)
def test_adjusted_weekend_days_are_working_days(day: date) -> None:
    """A Saturday or Sunday the notice made a working day (调休) counts as one."""
    assert day.weekday() >= 5
    assert CN.is_working_day(day)


@pytest.mark.parametrize("day", DAYS_OFF, ids=str)
def test_days_off_of_the_notice_are_not_working_days(day: date) -> None:
    """Every day of each holiday block, weekdays moved off included, is a day off."""
    assert not CN.is_working_day(day)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 3, 9), True),  # an ordinary Monday
        (date(2026, 3, 6), True),  # Friday; Women's Day (half day for some) does not stop work
        (date(2026, 5, 4), False),  # Youth Day falls inside the Labour Day block
        (date(2026, 6, 1), True),  # Children's Day is no day off for adults
        (date(2026, 10, 8), True),  # the first day back after National Day
    ],
)
def test_ordinary_days_follow_the_weekend(day: date, expected: bool) -> None:
    """Outside the notice Monday to Friday work; holidays for some groups are not days off."""
    assert expected == CN.is_working_day(day)


def test_years_2025_and_2026_have_official_data() -> None:
    """The installed package carries the notices for the past and the current year."""
    assert CN.has_official_data(2025)
    assert CN.has_official_data(2026)


def test_year_without_a_notice_raises_instead_of_guessing() -> None:
    """2027's notice is not in the data: asking about a day of it names the year."""
    with pytest.raises(CalendarDataMissingError, match="no official data for year 2027") as caught:
        CN.is_working_day(date(2027, 3, 1))
    assert (caught.value.region, caught.value.year) == ("CN", 2027)
    assert not CN.has_official_data(2027)


def test_last_week_of_december_waits_for_the_next_years_notice() -> None:
    """Next year's notice can move days off into late December (as in 2018), so those raise."""
    assert CN.is_working_day(date(2026, 12, 24))
    with pytest.raises(CalendarDataMissingError, match="2027"):
        CN.is_working_day(date(2026, 12, 28))


def test_deadline_reaching_a_year_without_data_raises() -> None:
    """A deadline that runs into a year without data is refused, not silently counted."""
    with pytest.raises(CalendarDataMissingError):
        CN.add_working_days(beijing(2026, 12, 15, 10), 15)


def test_estimating_calendar_uses_statutory_holidays_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In estimate mode a missing year keeps weekends and the law's holidays, and says so."""
    calendar = WorkCalendar("CN", on_missing="estimate")
    with caplog.at_level(logging.WARNING):
        assert not calendar.is_working_day(date(2027, 2, 8))  # third day of the Spring Festival
        assert calendar.is_working_day(date(2027, 2, 9))  # no guessed in-lieu day
        assert not calendar.is_working_day(date(2027, 2, 13))  # Saturday
    assert ["calendar.estimated"] == [r.__dict__["action"] for r in caplog.records]


def test_confirmed_year_with_overrides_is_used_as_official() -> None:
    """An operator types in a notice the package lacks and vouches for the year."""
    overrides = Overrides(
        extra_holidays=frozenset({date(2027, 2, 9), date(2027, 2, 10)}),
        extra_working_days=frozenset({date(2027, 2, 20)}),
        confirmed_years=frozenset({2027}),
    )
    calendar = WorkCalendar("CN", overrides=overrides)
    assert calendar.has_official_data(2027)
    assert not calendar.is_working_day(date(2027, 2, 9))
    assert calendar.is_working_day(date(2027, 2, 20))  # Saturday made a working day
    assert calendar.is_working_day(date(2027, 3, 1))


def test_overrides_win_over_the_package() -> None:
    """A local day off or an extra working day replaces the package's answer for that day."""
    overrides = Overrides(
        extra_holidays=frozenset({date(2026, 3, 9)}),
        extra_working_days=frozenset({date(2026, 10, 7)}),
    )
    calendar = WorkCalendar("CN", overrides=overrides)
    assert not calendar.is_working_day(date(2026, 3, 9))
    assert calendar.is_working_day(date(2026, 10, 7))
    assert CN.is_working_day(date(2026, 3, 9))


def test_a_day_in_both_override_lists_is_refused() -> None:
    """Listing one day both as a holiday and as a working day is a configuration error."""
    with pytest.raises(ValueError, match="2026-03-09"):
        Overrides(
            extra_holidays=frozenset({date(2026, 3, 9)}),
            extra_working_days=frozenset({date(2026, 3, 9)}),
        )


@pytest.mark.parametrize(
    ("discovered", "n", "last_day"),
    [
        # Monday before National Day: 29, 30 Sep, then 8, 9, 10 (Saturday, 调休), 12-16, 19-23 Oct.
        (beijing(2026, 9, 28, 15), 15, date(2026, 10, 23)),
        # Friday before the Spring Festival: 14 Feb (Saturday, 调休), then 24 Feb onwards.
        (beijing(2026, 2, 13, 9), 3, date(2026, 2, 25)),
        # Discovered on a holiday: the count starts with the next working day.
        (beijing(2026, 10, 3, 11), 1, date(2026, 10, 8)),
        # 2025: discovered Friday 24 Jan; Sunday 26 Jan is a working day, then 27 Jan.
        (beijing(2025, 1, 24, 18), 2, date(2025, 1, 27)),
        # Across the 2025 Spring Festival: 27 Jan, then 5, 6, 7, 8 (Saturday, 调休) Feb.
        (beijing(2025, 1, 26, 12), 5, date(2025, 2, 8)),
        # An ordinary week: Wednesday + 3 working days is the Monday after.
        (beijing(2026, 3, 11, 23, 59), 3, date(2026, 3, 16)),
    ],
)
def test_deadline_is_the_end_of_the_nth_working_day_after_the_discovery_day(
    discovered: datetime, n: int, last_day: date
) -> None:
    """The discovery day never counts; the deadline is midnight Beijing time after the nth day."""
    assert end_of_beijing_day(last_day) == CN.add_working_days(discovered, n)


def test_missell_discovered_2026_09_28_is_due_end_of_23_october() -> None:
    """15 working days from Monday 28 Sep 2026 skip National Day and use Saturday 10 Oct."""
    due = CN.add_working_days(datetime(2026, 9, 28, 2, 0, tzinfo=UTC), 15)
    assert datetime(2026, 10, 23, 16, 0, tzinfo=UTC) == due
    assert datetime(2026, 10, 24, 0, 0, tzinfo=SHANGHAI) == due


def test_local_day_is_beijing_not_utc() -> None:
    """17:30 UTC is already the next day in Beijing (UTC+8, no DST): the day counted from."""
    late_utc = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)  # Wednesday 01:30 in Beijing
    early_utc = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # Tuesday 23:30 in Beijing
    assert end_of_beijing_day(date(2026, 3, 12)) == CN.add_working_days(late_utc, 1)
    assert end_of_beijing_day(date(2026, 3, 11)) == CN.add_working_days(early_utc, 1)


def test_deadline_is_utc_and_a_whole_day_in_a_zone_without_dst() -> None:
    """Shanghai has no DST: every deadline is 16:00 UTC, and within a week 24 h apart."""
    start = beijing(2026, 3, 2, 9)  # Monday: n = 1..4 ends Tuesday..Friday
    deadlines = [CN.add_working_days(start, n) for n in range(1, 5)]
    assert all(d.tzinfo is UTC and (d.hour, d.minute) == (16, 0) for d in deadlines)
    assert {timedelta(days=1)} == {b - a for a, b in itertools.pairwise(deadlines)}


def test_explicit_zone_counts_days_there() -> None:
    """A tz argument moves the day boundary (here a zone that observes DST)."""
    berlin = ZoneInfo("Europe/Berlin")
    # Friday 27 Mar 2026 23:30 Berlin; the clocks go forward on Sunday 29 Mar.
    start = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)
    due = CN.add_working_days(start, 1, tz=berlin)
    assert datetime(2026, 3, 31, 0, 0, tzinfo=berlin).astimezone(UTC) == due
    assert datetime(2026, 3, 30, 22, 0, tzinfo=UTC) == due


def test_naive_start_and_non_positive_n_are_refused() -> None:
    """A deadline needs an aware instant and at least one working day."""
    with pytest.raises(ValueError, match="aware"):
        CN.add_working_days(datetime(2026, 3, 2, 9), 1)
    with pytest.raises(ValueError, match="at least 1"):
        CN.add_working_days(beijing(2026, 3, 2, 9), 0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 9, 28), date(2026, 10, 23), 15),
        (date(2026, 2, 13), date(2026, 2, 25), 3),
        (date(2026, 3, 9), date(2026, 3, 9), 0),
        (date(2026, 10, 23), date(2026, 9, 28), -15),
    ],
)
def test_working_days_between_counts_days_after_a_up_to_b(a: date, b: date, expected: int) -> None:
    """working_days_between counts working days in (a, b], negative when b comes first."""
    assert expected == CN.working_days_between(a, b)


def test_other_regions_come_from_the_same_package() -> None:
    """A US calendar knows its observed holidays; regions without a default zone need one."""
    new_york = ZoneInfo("America/New_York")
    us = WorkCalendar("US", tz=new_york)
    assert not us.is_working_day(date(2026, 7, 3))  # Independence Day observed on Friday
    assert us.is_working_day(date(2026, 7, 6))
    with pytest.raises(ValueError, match="tz"):
        WorkCalendar("US")


OFFICIAL_INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 15), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(start=OFFICIAL_INSTANTS, n=st.integers(min_value=1, max_value=15))
def test_deadline_ends_a_working_day_n_working_days_later(start: datetime, n: int) -> None:
    """The last day before the deadline is a working day, n working days after the start day."""
    due = CN.add_working_days(start, n)
    last_day = (due.astimezone(SHANGHAI) - timedelta(days=1)).date()
    assert datetime.min.time() == due.astimezone(SHANGHAI).time()
    assert CN.is_working_day(last_day)
    assert n == CN.working_days_between(start.astimezone(SHANGHAI).date(), last_day)


@settings(max_examples=200, deadline=None)
@given(start=OFFICIAL_INSTANTS, n=st.integers(min_value=1, max_value=14))
def test_deadline_grows_with_n(start: datetime, n: int) -> None:
    """One more working day always moves the deadline later, by at least a day."""
    assert CN.add_working_days(start, n + 1) - CN.add_working_days(start, n) >= timedelta(days=1)
