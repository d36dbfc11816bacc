"""Properties of the planner against a plain reading of the rules, in zones with odd clocks.

The reference `qualifies` below is the definition, written as simply as possible: an instant is
callable when its local wall time lies in a window that started on a callable day (weekday
windows, day rule, blackout of the start day) and its own local date is not blacked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler.days import DayRule, day_rule
from scheduler.planner import CallPolicy, next_call_at, plan_next_call
from scheduler.schedule import Schedule, schedule_of
from scheduler.windows import WeeklyWindows, Window

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # moves by 30 minutes
    "America/Havana",  # springs forward at midnight
    "Asia/Shanghai",
    "Pacific/Apia",  # skipped 2011-12-30 entirely
)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
PROBE = timedelta(hours=6)  # no zone here changes its offset twice within six hours
CN_WORKDAYS = day_rule("workdays", region="CN", tz=ZoneInfo("Asia/Shanghai"))


def transitions(name: str, first: int = 2010, last: int = 2028) -> list[datetime]:
    """The UTC instants at which the zone's offset changed, probed 6-hourly, then bisected."""
    tz = ZoneInfo(name)
    found: list[datetime] = []
    instant = datetime(first, 1, 1, tzinfo=UTC)
    stop = datetime(last, 1, 1, tzinfo=UTC)
    before = instant.astimezone(tz).utcoffset()
    while instant < stop:
        after = (instant + PROBE).astimezone(tz).utcoffset()
        if after != before:
            low, high = instant, instant + PROBE
            while high - low > SECOND:
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
            before = after
        instant += PROBE
    return found


TRANSITIONS = {name: transitions(name) for name in ZONES}


@dataclass(frozen=True)
class DatesOff:
    """A day rule that refuses some dates (a stand-in for holidays)."""

    off: frozenset[date]

    def callable_day(self, day: date) -> bool:
        """Every day but the listed ones."""
        return day not in self.off

    def adjusted_working_day(self, day: date) -> bool:
        """No adjusted working days."""
        return False


def windows_on(weekly: WeeklyWindows, rule: DayRule | None, day: date) -> tuple[Window, ...]:
    """The windows opening on `day` by weekday, with an adjusted working day's fallback."""
    windows = weekly.on(day.weekday())
    if not windows and rule is not None and rule.adjusted_working_day(day):
        windows = next((w for w in weekly.days[:5] if w), ())
    return windows


def window_at(
    instant: datetime,
    tz: ZoneInfo,
    weekly: WeeklyWindows,
    rule: DayRule | None,
    blackout: frozenset[date],
) -> Window | None:
    """The window an instant is callable in, by the definition; None when it is not callable."""
    wall = instant.astimezone(tz).replace(tzinfo=None)
    if wall.date() in blackout:
        return None
    for day in (wall.date() - DAY, wall.date()):
        if day in blackout or (rule is not None and not rule.callable_day(day)):
            continue
        midnight = datetime.combine(day, time())
        for window in windows_on(weekly, rule, day):
            start, end = window.seconds()
            if midnight + start * SECOND <= wall < midnight + end * SECOND:
                return window
    return None


def qualifies(
    instant: datetime,
    tz: ZoneInfo,
    weekly: WeeklyWindows,
    rule: DayRule | None,
    blackout: frozenset[date],
) -> bool:
    """The definition of a callable instant, independent of the planner's search."""
    return window_at(instant, tz, weekly, rule, blackout) is not None


# Minutes of the day, often in the small hours where DST changes happen.
DAY_MINUTES = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(0, 4 * 60))


def clock(minute: int) -> time:
    """A time of day from minutes since midnight."""
    return time(minute // 60, minute % 60)


@st.composite
def day_windows(draw: st.DrawFn) -> tuple[Window, ...]:
    """One to three sorted windows; the last one may cross midnight."""
    bounds = sorted(draw(st.lists(DAY_MINUTES, min_size=2, max_size=6, unique=True)))
    pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
    windows = [Window(clock(start), clock(end)) for start, end in pairs]
    if draw(st.booleans()):
        start, _ = pairs[-1]
        end = draw(st.integers(0, bounds[0]))  # crosses midnight, ends before the first starts
        if end != start:
            windows[-1] = Window(clock(start), clock(end))
    return tuple(windows)


@st.composite
def weeks(draw: st.DrawFn) -> WeeklyWindows:
    """Windows per weekday: two sets spread over the week, some days without windows."""
    choices = [(), draw(day_windows()), draw(day_windows())]
    days = tuple(draw(st.sampled_from(choices)) for _ in range(7))
    assume(any(days))
    try:
        return WeeklyWindows(days)
    except ValueError:  # a shift running into the next day's window
        assume(False)
        raise


@st.composite
def earliest_instants(draw: st.DrawFn, name: str) -> datetime:
    """An instant on a whole second, often within two days of one of the zone's changes."""
    anywhere = st.datetimes(datetime(2005, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))
    near = TRANSITIONS[name]
    if near:
        around = st.sampled_from(near).flatmap(
            lambda change: st.integers(-2 * 86400, 2 * 86400).map(lambda s: change + s * SECOND)
        )
        anywhere = st.one_of(anywhere, around, around)
    return draw(anywhere).replace(microsecond=0)


@st.composite
def plans(
    draw: st.DrawFn,
) -> tuple[ZoneInfo, Schedule, datetime, datetime | None]:
    """A zone, a schedule (weekly windows, day rule, blackout) and an earliest and deadline."""
    name = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(name)
    weekly = draw(weeks())
    earliest = draw(earliest_instants(name))
    if draw(st.booleans()):
        # In the small hours, where a shift from the evening before may still run.
        wall = datetime.combine(earliest.astimezone(tz).date(), time())
        wall += draw(st.integers(0, 4 * 3600)) * SECOND
        earliest = wall.replace(tzinfo=tz).astimezone(UTC)
    today = earliest.astimezone(tz).date()
    near_days = st.integers(-3, 8).map(lambda n: today + n * DAY)
    blackout: set[date] = set()
    for first, length in draw(st.lists(st.tuples(near_days, st.integers(0, 3)), max_size=2)):
        blackout.update(first + n * DAY for n in range(length + 1))
    rule: DayRule | None = draw(
        st.one_of(
            st.none(),
            st.just(CN_WORKDAYS),
            st.frozensets(near_days, max_size=4).map(DatesOff),
        )
    )
    within = draw(st.none() | st.integers(0, 5 * 86400))
    deadline = None if within is None else earliest + within * SECOND
    return tz, schedule_of(weekly, rule, frozenset(blackout)), earliest, deadline


def no_earlier_instant_qualifies(
    start: datetime, stop: datetime, tz: ZoneInfo, schedule: Schedule
) -> bool:
    """Every whole minute of [start, stop), every second before stop, and each change between."""
    check = [stop - n * SECOND for n in range(1, 3)]
    check += [start + n * MINUTE for n in range(min((stop - start) // MINUTE, 6 * 24 * 60))]
    check += [c - SECOND for c in TRANSITIONS[tz.key] if start < c <= stop]
    check += [c for c in TRANSITIONS[tz.key] if start <= c < stop]
    return not any(
        qualifies(instant, tz, schedule.weekly, schedule.days, schedule.blackout)
        for instant in check
        if start <= instant < stop
    )


@settings(max_examples=150, deadline=None, database=None)
@given(plans())
def test_a_planned_instant_is_the_first_callable_one_before_the_deadline(
    plan: tuple[ZoneInfo, Schedule, datetime, datetime | None],
) -> None:
    """Inside a window (weekday, day rule, blackout), >= earliest, < deadline, and minimal."""
    tz, schedule, earliest, deadline = plan
    actual = next_call_at(earliest, schedule, tz, deadline)
    if actual is None:
        assert deadline is not None  # a week holds a window, and blackouts here are short
        assert no_earlier_instant_qualifies(earliest, deadline, tz, schedule)
        return
    assert UTC == actual.tzinfo
    assert qualifies(actual, tz, schedule.weekly, schedule.days, schedule.blackout)
    assert earliest <= actual
    assert deadline is None or actual < deadline
    assert no_earlier_instant_qualifies(earliest, actual, tz, schedule)


@settings(max_examples=100, deadline=None, database=None)
@given(plans(), st.integers(0, 12 * 3600), st.integers(0, 6 * 3600))
def test_a_rotated_retry_is_callable_and_at_most_a_day_later_than_the_plain_one(
    plan: tuple[ZoneInfo, Schedule, datetime, datetime | None], ago: int, spacing: int
) -> None:
    """Rotation still lands in a window, after the spacing, before the deadline, within a day."""
    tz, schedule, now, deadline = plan
    last = now - ago * SECOND
    rules = CallPolicy(
        offset=timedelta(0),
        windows=schedule.weekly,
        max_attempts=3,
        retry_spacing=spacing * SECOND,
        days=schedule.days,
        blackout=schedule.blackout,
        rotate=True,
    )
    earliest = max(now, last + spacing * SECOND)
    unrotated = next_call_at(earliest, schedule, tz, deadline)
    actual = plan_next_call(
        anchor=(now - 10 * DAY).date(),
        attempts_made=1,
        last_attempt_at=last,
        policy=rules,
        tz=tz,
        now=now,
        deadline=deadline,
    )
    if unrotated is None:
        assert actual is None
        return
    assert actual is not None
    window = window_at(actual, tz, schedule.weekly, schedule.days, schedule.blackout)
    assert window is not None
    assert earliest <= actual
    assert deadline is None or actual < deadline
    assert unrotated <= actual <= unrotated + DAY
    if actual != unrotated:
        # Moved for rotation: into the other part of the day than the last attempt's.
        before = window_at(last, tz, schedule.weekly, schedule.days, schedule.blackout)
        last_morning = last.astimezone(tz).hour < 12 if before is None else before.morning
        assert window.morning is not last_morning
