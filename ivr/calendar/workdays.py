"""Working days of a region: public holidays, weekends and China's adjusted working days (调休).

The days come from the `holidays` package (python-holidays). For China its data follows the State
Council's yearly notice (国务院办公厅关于Y年部分节假日安排的通知), which moves days off next to the
holidays and turns some Saturdays and Sundays into working days. That notice is published each
November for the following year only, so a year without it has no official working days: the
package would quietly fall back to its own estimate (statutory days plus guessed in-lieu days, no
adjusted working days). A legal deadline must not be computed from that guess without saying so,
so `WorkCalendar` raises `CalendarDataMissingError` for such a year unless it was built with
``on_missing="estimate"``, and an operator can add the notice's days by hand (`Overrides`) and vouch
for the year until the package is upgraded.

Deadline semantics (`WorkCalendar.add_working_days`): a deadline of N working days after an instant
is the end of the Nth working day after the local calendar day (in the calendar's zone) on which
the instant falls. That day itself never counts, working day or not, and the result is the first
instant of the next local day (exclusive end), returned in UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

log = logging.getLogger(__name__)

OnMissing = Literal["raise", "estimate"]

# Regions whose working days are decreed year by year (not derivable from rules): a year counts as
# known only when the package carries that year's decree, or an operator vouches for it.
_DECREED = frozenset({"CN"})

# The decree for year Y+1 may reach back into the last week of Y: the 2019 notice made Saturday
# 2018-12-29 a working day and Monday 2018-12-31 a day off. Those days are final only when both
# years are known.
_NEXT_DECREE_FROM = (12, 25)

_DEFAULT_ZONES = {"CN": "Asia/Shanghai"}


class CalendarDataMissingError(LookupError):
    """No official working-day data for a region and year: deadlines there would be guesses."""

    def __init__(self, region: str, year: int) -> None:
        self.region = region
        self.year = year
        super().__init__(
            f"no official data for year {year} in region {region}: the yearly holiday notice is "
            "not in the installed `holidays` package; upgrade it, or add the notice's days to the "
            "calendar overrides and list the year in confirmed_years"
        )


@dataclass(frozen=True)
class Overrides:
    """Per-deployment corrections that win over the package's data."""

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    # Years an operator vouches for (e.g. after typing in a notice the package does not have yet).
    confirmed_years: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        both = self.extra_holidays & self.extra_working_days
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"days listed both as holiday and as working day: {days}")


@dataclass(frozen=True)
class _Year:
    """One year of one region, as the package gives it."""

    days_off: frozenset[date]  # weekdays off and weekend days off, adjusted working days excluded
    official: bool  # the package (or an operator) holds the year's decree


class WorkCalendar:
    """Which days are working days in a region, and deadlines counted in them."""

    def __init__(
        self,
        region: str = "CN",
        *,
        tz: ZoneInfo | None = None,
        overrides: Overrides | None = None,
        on_missing: OnMissing = "raise",
    ) -> None:
        if tz is None:
            if region not in _DEFAULT_ZONES:
                raise ValueError(f"region {region} needs an explicit tz")
            tz = ZoneInfo(_DEFAULT_ZONES[region])
        self.region = region
        self.tz = tz
        self.overrides = overrides or Overrides()
        self.on_missing: OnMissing = on_missing
        self._years: dict[int, _Year] = {}
        self._estimating: WorkCalendar | None = None
        cls = holidays.country_holidays(region).__class__
        self._first_year: int = cls.start_year
        self._last_year: int = cls.end_year

    def __repr__(self) -> str:
        return f"WorkCalendar({self.region!r}, tz={self.tz.key!r}, on_missing={self.on_missing!r})"

    def estimating(self) -> WorkCalendar:
        """The same calendar, answering from estimates for years without official data."""
        if self.on_missing == "estimate":
            return self
        if self._estimating is None:
            twin = WorkCalendar(
                self.region, tz=self.tz, overrides=self.overrides, on_missing="estimate"
            )
            twin._years = self._years  # the per-year tables do not depend on on_missing
            self._estimating = twin
        return self._estimating

    def has_official_data(self, year: int) -> bool:
        """Whether the working days of `year` come from an official source."""
        return self._year(year).official

    def is_official(self, day: date) -> bool:
        """Whether `day` is settled by a decree (late December needs next year's too)."""
        if _late_december(day):
            return self.has_official_data(day.year) and self.has_official_data(day.year + 1)
        return self.has_official_data(day.year)

    def is_working_day(self, day: date) -> bool:
        """Whether people work on `day` (overrides first, then the region's data)."""
        if day in self.overrides.extra_working_days:
            return True
        if day in self.overrides.extra_holidays:
            return False
        if not self.is_official(day):
            self._missing(day)
        return day not in self._year(day.year).days_off

    def add_working_days(self, start: datetime, n: int, tz: ZoneInfo | None = None) -> datetime:
        """The end of the nth working day after start's local day, as an aware UTC instant."""
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        zone = tz or self.tz
        day = start.astimezone(zone).date()
        left = n
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        # The end of the day is the first instant of the next one. In a zone whose clocks jump at
        # midnight that local time may not exist or exist twice; fold=0 maps both cases to the
        # instant the new day starts.
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return end.astimezone(UTC)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days d with a < d <= b (negative when b is before a)."""
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        day = a
        while day < b:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def _missing(self, day: date) -> None:
        if self.on_missing == "raise":
            year = day.year if not self.has_official_data(day.year) else day.year + 1
            raise CalendarDataMissingError(self.region, year)

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = self._load(year)
            if not cached.official and self.on_missing == "estimate":
                log.warning(
                    "no official working days for this year; using statutory holidays only",
                    extra={"action": "calendar.estimated", "region": self.region, "year": year},
                )
        return cached

    def _load(self, year: int) -> _Year:
        if not self._first_year <= year <= self._last_year:
            # Outside the package's range: weekends only, never official.
            weekend = holidays.country_holidays(self.region).weekend
            return _Year(frozenset(d for d in _days(year) if d.weekday() in weekend), False)
        official = year in self.overrides.confirmed_years
        if self.region in _DECREED:
            # weekend_workdays also always holds a few old cross-year days whatever the years
            # asked for, so only days this year's decree can touch count.
            decree = holidays.country_holidays(self.region, years=year)
            official = official or any(
                day.year == year or (day.year == year - 1 and _late_december(day))
                for day in decree.weekend_workdays
            )
        else:
            official = True
        if official:
            # A decree keyed to one year can move days in the previous one (see
            # _NEXT_DECREE_FROM), so the neighbours are loaded too and the result cut to `year`.
            known = holidays.country_holidays(
                self.region, years=range(year - 1, year + 2), categories=(holidays.PUBLIC,)
            )
        else:
            # Statutory days only: the package's guessed in-lieu days are left out, which errs
            # towards earlier deadlines (fewer days off) rather than later ones.
            known = holidays.country_holidays(
                self.region, years=year, categories=(holidays.PUBLIC,), observed=False
            )
        # Only the public category: China's half-day holidays (Women's Day, Youth Day, ...) are
        # for some groups and do not stop work.
        days_off = frozenset(day for day in _days(year) if not known.is_working_day(day))
        return _Year(days_off, official)


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _late_december(day: date) -> bool:
    return (day.month, day.day) >= _NEXT_DECREE_FROM
