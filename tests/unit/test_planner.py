"""The planner: calling windows, durations and the next callable instant across zones and DST."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.days import CalendarDays, day_rule, format_blackout, parse_blackout
from scheduler.planner import (
    CallPolicy,
    Window,
    anchor_start,
    deadline_at,
    excluded_reason,
    first_call_earliest,
    format_duration,
    format_windows,
    next_call_at,
    parse_duration,
    parse_windows,
    plan_next_call,
    retry_earliest,
)
from scheduler.windows import parse_calling_windows

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HAVANA = ZoneInfo("America/Havana")
HOSPITAL_HOURS = "08:00-11:00,14:00-17:00"

# The 2025 changes, as UTC instants; Lord Howe moves by half an hour.
TRANSITIONS = {
    "America/New_York": ("2025-03-09T07:00", "2025-11-02T06:00"),
    "Europe/Berlin": ("2025-03-30T01:00", "2025-10-26T01:00"),
    "Australia/Lord_Howe": ("2025-04-05T15:00", "2025-10-04T15:30"),
    "Asia/Shanghai": (),
    "UTC": (),
}


def w(start: str, end: str) -> Window:
    """A window from two "HH:MM" strings."""
    return Window(time.fromisoformat(start), time.fromisoformat(end))


def at(text: str, tz: ZoneInfo | None = None) -> datetime:
    """An aware datetime: ISO text with an offset, or a local wall time in `tz`."""
    value = datetime.fromisoformat(text)
    return value if tz is None else value.replace(tzinfo=tz)


def local(value: datetime | None, tz: ZoneInfo) -> str | None:
    """An instant shown as local ISO text with its offset, which makes DST cases readable."""
    return None if value is None else value.astimezone(tz).isoformat()


def qualifies(instant: datetime, windows: Sequence[Window], tz: ZoneInfo) -> bool:
    """Whether the local wall time of `instant` lies in one of the windows."""
    wall = instant.astimezone(tz).time()
    return any(window.start <= wall < window.end for window in windows)


def policy(**changes: object) -> CallPolicy:
    """The hospital campaign: day 7 to day 10 after discharge, three attempts two hours apart."""
    fields: dict[str, object] = {
        "offset": timedelta(days=7),
        "windows": parse_windows(HOSPITAL_HOURS),
        "max_attempts": 3,
        "retry_spacing": timedelta(hours=2),
        "deadline_after": timedelta(days=10),
        "excluded_wards": frozenset({"ICU", " Neonatal ICU "}),
    }
    fields.update(changes)
    return CallPolicy(**fields)  # type: ignore[arg-type]


# --- windows -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HOSPITAL_HOURS, (w("08:00", "11:00"), w("14:00", "17:00"))),
        (" 14:00 - 17:00 , 08:00-11:00 ", (w("08:00", "11:00"), w("14:00", "17:00"))),
        ("8:00-9:30", (w("08:00", "09:30"),)),
        ("11:00-12:00,12:00-13:00", (w("11:00", "12:00"), w("12:00", "13:00"))),
        ("00:00-23:59", (w("00:00", "23:59"),)),
        ("08:00:30-09:00", (w("08:00:30", "09:00"),)),
        # Crossing midnight: the window belongs to the day it starts on.
        ("22:00-02:00", (w("22:00", "02:00"),)),
        ("08:00-11:00,22:00-08:00", (w("08:00", "11:00"), w("22:00", "08:00"))),
        ("18:00-00:00", (w("18:00", "00:00"),)),
    ],
)
def test_parse_windows_reads_sorted_windows(text: str, expected: tuple[Window, ...]) -> None:
    """Good window lists parse, whatever their order and spacing."""
    assert expected == parse_windows(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no calling windows"),
        ("   ", "no calling windows"),
        ("08:00-11:00,", "calling window 2 ''"),
        ("8-11", "'8-11' is not like"),
        ("08:00-11:00;14:00-17:00", "'08:00-11:00;14:00-17:00' is not like"),
        ("08:00-08:00", "'08:00-08:00': window 08:00-08:00 is empty"),
        ("08:00-11:00,22:00-09:00", "22:00-09:00 runs past midnight into the next day's"),
        ("24:00-25:00", "'24:00' is not a time of day"),
        ("08:60-09:00", "'08:60' is not a time of day"),
        ("08:00-11:00,10:00-12:00", "windows 08:00-11:00 and 10:00-12:00 overlap"),
    ],
)
def test_parse_windows_names_the_bad_part(text: str, message: str) -> None:
    """Bad window lists are refused with a message naming what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_windows(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HOSPITAL_HOURS, HOSPITAL_HOURS),
        (" 14:00 - 17:00 , 8:00-11:00 ", HOSPITAL_HOURS),
        ("08:00:30-09:00", "08:00:30-09:00"),
    ],
)
def test_format_windows_is_the_inverse_of_parse_windows(text: str, expected: str) -> None:
    """Formatting parsed windows gives their canonical text, which parses back to them."""
    actual = format_windows(parse_windows(text))
    assert expected == actual
    assert parse_windows(text) == parse_windows(actual)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (time(9), time(9), "is empty"),
        (time(8, tzinfo=UTC), time(9), "must not carry a tzinfo"),
        (time(8, 0, 0, 5), time(9), "whole seconds"),
    ],
)
def test_window_refuses_impossible_bounds(start: time, end: time, message: str) -> None:
    """A window must be a non-empty, naive, whole-second span (it may cross midnight)."""
    with pytest.raises(ValueError, match=message):
        Window(start, end)


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("72h", timedelta(hours=72)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("0d", timedelta(0)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_parse_duration_reads_units(text: str, expected: timedelta) -> None:
    """Durations are whole numbers of days, hours, minutes and seconds, in that order."""
    assert expected == parse_duration(text)


@pytest.mark.parametrize("text", ["", " ", "7", "-1d", "7x", "h", "30m2h", "1.5h", "7 d", "7D"])
def test_parse_duration_refuses_bad_text(text: str) -> None:
    """Text that is not a duration is refused with the text quoted."""
    with pytest.raises(ValueError, match=r"is not like '7d'"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=36), "1d12h"),
        (timedelta(hours=72), "3d"),
        (timedelta(minutes=150), "2h30m"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_writes_the_shortest_text(value: timedelta, expected: str) -> None:
    """Durations are written with the largest units first and zero units left out."""
    assert expected == format_duration(value)


@pytest.mark.parametrize("value", [timedelta(days=-1), timedelta(seconds=1, microseconds=5)])
def test_format_duration_refuses_what_cannot_be_parsed_back(value: timedelta) -> None:
    """Negative and sub-second durations have no text form."""
    with pytest.raises(ValueError, match="non-negative whole number of seconds"):
        format_duration(value)


@settings(max_examples=200, database=None)
@given(st.integers(min_value=0, max_value=10**9).map(lambda seconds: timedelta(seconds=seconds)))
def test_format_duration_parses_back_to_the_same_value(value: timedelta) -> None:
    """Any whole-second duration survives a round trip through its text."""
    assert value == parse_duration(format_duration(value))


# --- anchors and the policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "tz", "expected"),
    [
        (date(2025, 6, 1), SHANGHAI, "2025-05-31T16:00:00+00:00"),
        (date(2025, 3, 9), NEW_YORK, "2025-03-09T05:00:00+00:00"),
        (date(2025, 3, 10), NEW_YORK, "2025-03-10T04:00:00+00:00"),
        (date(2025, 11, 2), NEW_YORK, "2025-11-02T04:00:00+00:00"),
        (date(2025, 10, 5), LORD_HOWE, "2025-10-04T13:30:00+00:00"),
        # Havana springs forward at midnight: the day begins at 01:00 CDT.
        (date(2025, 3, 9), HAVANA, "2025-03-09T05:00:00+00:00"),
    ],
)
def test_anchor_start_is_the_first_instant_of_the_local_day(
    anchor: date, tz: ZoneInfo, expected: str
) -> None:
    """The anchor day starts at local midnight, or at the first instant after a midnight gap."""
    actual = anchor_start(anchor, tz)
    assert expected == actual.isoformat()
    assert UTC == actual.tzinfo


def test_first_call_and_deadline_are_measured_from_local_midnight() -> None:
    """Offset and deadline count from the start of the anchor day in the contact's zone."""
    rules = policy()
    assert at("2025-06-08T00:00+08:00") == first_call_earliest(date(2025, 6, 1), rules, SHANGHAI)
    assert at("2025-06-11T00:00+08:00") == deadline_at(date(2025, 6, 1), rules, SHANGHAI)
    assert deadline_at(date(2025, 6, 1), policy(deadline_after=None), SHANGHAI) is None


def test_offsets_are_exact_elapsed_time_across_a_dst_change() -> None:
    """Seven days after a midnight before spring-forward is 01:00 local, not midnight."""
    actual = first_call_earliest(date(2025, 3, 5), policy(), NEW_YORK)
    assert "2025-03-12T01:00:00-04:00" == local(actual, NEW_YORK)


def test_retry_earliest_adds_the_spacing_in_utc() -> None:
    """The next attempt may start no sooner than the spacing after the last one started."""
    actual = retry_earliest(at("2025-06-09T10:30+08:00"), policy())
    assert "2025-06-09T04:30:00+00:00" == actual.isoformat()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"windows": ()}, "at least one calling window"),
        ({"windows": (w("14:00", "17:00"), w("08:00", "11:00"))}, "sorted"),
        ({"windows": (w("08:00", "11:00"), w("10:00", "12:00"))}, "overlap"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"offset": timedelta(days=-1)}, "must not be negative"),
        ({"retry_spacing": timedelta(hours=-1)}, "must not be negative"),
        ({"deadline_after": timedelta(days=7)}, "deadline_after must be later than offset"),
    ],
)
def test_call_policy_refuses_a_campaign_that_cannot_work(
    changes: dict[str, object], message: str
) -> None:
    """A policy that could never place a call, or is ambiguous, is refused when built."""
    with pytest.raises(ValueError, match=message):
        policy(**changes)


@pytest.mark.parametrize(
    ("ward", "expected"),
    [
        ("ICU", "ward ICU is excluded"),
        ("icu", "ward ICU is excluded"),
        ("  Icu ", "ward ICU is excluded"),
        ("neonatal icu", "ward Neonatal ICU is excluded"),
        ("ICU 2", None),
        ("Cardiology", None),
        ("", None),
        (None, None),
    ],
)
def test_excluded_reason_matches_wards_case_insensitively(
    ward: str | None, expected: str | None
) -> None:
    """Wards match the excluded set ignoring case and surrounding spaces."""
    assert expected == excluded_reason(ward, policy())


# --- the next callable instant -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "windows", "earliest", "expected"),
    [
        # The default zone, hospital hours.
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T06:30", "2025-06-02T08:00:00+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T09:15", "2025-06-02T09:15:00+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T09:15:30.5", "2025-06-02T09:15:30.500000+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T11:00", "2025-06-02T14:00:00+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T17:00", "2025-06-03T08:00:00+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-06-02T19:00", "2025-06-03T08:00:00+08:00"),
        (SHANGHAI, HOSPITAL_HOURS, "2025-12-31T23:00", "2026-01-01T08:00:00+08:00"),
        # New York, spring-forward (02:00 EST -> 03:00 EDT) and fall-back (02:00 EDT -> 01:00 EST).
        (NEW_YORK, HOSPITAL_HOURS, "2025-03-09T00:00", "2025-03-09T08:00:00-04:00"),
        (NEW_YORK, HOSPITAL_HOURS, "2025-11-02T00:00", "2025-11-02T08:00:00-05:00"),
        (NEW_YORK, HOSPITAL_HOURS, "2025-11-01T17:30", "2025-11-02T08:00:00-05:00"),
        (NEW_YORK, "02:30-04:00", "2025-03-09T00:00", "2025-03-09T03:00:00-04:00"),
        (NEW_YORK, "02:00-02:30", "2025-03-09T00:00", "2025-03-10T02:00:00-04:00"),
        (NEW_YORK, "01:00-02:30", "2025-03-09T01:59", "2025-03-09T01:59:00-05:00"),
        (NEW_YORK, "01:00-02:30", "2025-03-09T03:00", "2025-03-10T01:00:00-04:00"),
        (NEW_YORK, "01:30-03:00", "2025-11-02T01:00", "2025-11-02T01:30:00-04:00"),
        (NEW_YORK, "01:30-03:00", "2025-11-02T01:45", "2025-11-02T01:45:00-04:00"),
        # Berlin: a window wholly inside the gap does not open that day.
        (BERLIN, "02:15-02:45", "2025-03-30T00:00", "2025-03-31T02:15:00+02:00"),
        (BERLIN, HOSPITAL_HOURS, "2025-10-26T02:30", "2025-10-26T08:00:00+01:00"),
        # Lord Howe moves by half an hour: 02:00 -> 02:30 in October.
        (LORD_HOWE, "02:00-03:00", "2025-10-05T00:00", "2025-10-05T02:30:00+11:00"),
    ],
)
def test_next_call_at_finds_the_first_instant_in_a_window(
    tz: ZoneInfo, windows: str, earliest: str, expected: str
) -> None:
    """Before a window moves to its start, inside stays, after the last goes to the next day."""
    actual = next_call_at(at(earliest, tz), parse_windows(windows), tz)
    assert expected == local(actual, tz)
    assert actual is not None
    assert UTC == actual.tzinfo


@pytest.mark.parametrize(
    ("tz", "windows", "earliest", "expected"),
    [
        # The second 01:10 (EST) is before the window on the clock, so wait for the second 01:30.
        (NEW_YORK, "01:30-03:00", "2025-11-02T01:10-05:00", "2025-11-02T01:30:00-05:00"),
        # After the first pass of the window, the clock falls back into it again.
        (NEW_YORK, "00:30-01:30", "2025-11-02T01:45-04:00", "2025-11-02T01:00:00-05:00"),
        (LORD_HOWE, "01:45-02:15", "2025-04-06T01:50+11:00", "2025-04-06T01:50:00+11:00"),
        (LORD_HOWE, "01:45-02:15", "2025-04-06T01:30+10:30", "2025-04-06T01:45:00+10:30"),
    ],
)
def test_next_call_at_follows_the_clock_through_the_repeated_hour(
    tz: ZoneInfo, windows: str, earliest: str, expected: str
) -> None:
    """On a fall-back day an instant is callable when the clock then shows a time in a window."""
    assert expected == local(next_call_at(at(earliest), parse_windows(windows), tz), tz)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (SHANGHAI, "2025-06-02T09:00:00+08:00"),
        (NEW_YORK, "2025-06-02T08:00:00-04:00"),
        (BERLIN, "2025-06-02T08:00:00+02:00"),
    ],
)
def test_next_call_at_uses_the_contacts_zone(tz: ZoneInfo, expected: str) -> None:
    """One instant is inside the window in Shanghai but night in New York and Berlin."""
    earliest = at("2025-06-02T01:00+00:00")
    assert expected == local(next_call_at(earliest, parse_windows(HOSPITAL_HOURS), tz), tz)


@pytest.mark.parametrize(
    ("earliest", "deadline", "expected"),
    [
        ("2025-06-02T17:30", "2025-06-03T08:00", None),
        ("2025-06-02T17:30", "2025-06-03T08:00:01", "2025-06-03T08:00:00+08:00"),
        ("2025-06-02T09:00", "2025-06-02T09:30", "2025-06-02T09:00:00+08:00"),
        ("2025-06-02T09:00", "2025-06-02T09:00", None),
        ("2025-06-02T09:00", "2025-06-01T09:00", None),
    ],
)
def test_next_call_at_respects_the_deadline(
    earliest: str, deadline: str, expected: str | None
) -> None:
    """A call must start strictly before the deadline; when none can, there is no call."""
    actual = next_call_at(
        at(earliest, SHANGHAI), parse_windows(HOSPITAL_HOURS), SHANGHAI, at(deadline, SHANGHAI)
    )
    assert expected == local(actual, SHANGHAI)


@pytest.mark.parametrize(
    ("earliest", "windows", "deadline", "message"),
    [
        (datetime(2025, 6, 2, 9), HOSPITAL_HOURS, None, "earliest must be an aware datetime"),
        (at("2025-06-02T09:00+08:00"), HOSPITAL_HOURS, datetime(2025, 6, 3), "deadline must"),
        (at("2025-06-02T09:00+08:00"), "", None, "no calling windows"),
    ],
)
def test_next_call_at_refuses_naive_times_and_no_windows(
    earliest: datetime, windows: str, deadline: datetime | None, message: str
) -> None:
    """Naive datetimes and an empty window list are programming errors."""
    parsed = parse_windows(windows) if windows else ()
    with pytest.raises(ValueError, match=message):
        next_call_at(earliest, parsed, SHANGHAI, deadline)


# --- planning a case -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts_made", "last_attempt_at", "now", "expected"),
    [
        (0, None, "2025-06-02T10:00", "2025-06-08T08:00:00+08:00"),
        (0, None, "2025-06-09T09:00", "2025-06-09T09:00:00+08:00"),
        (0, None, "2025-06-09T12:00", "2025-06-09T14:00:00+08:00"),
        (1, "2025-06-09T10:30", "2025-06-09T10:35", "2025-06-09T14:00:00+08:00"),
        (1, "2025-06-09T14:10", "2025-06-09T14:15", "2025-06-09T16:10:00+08:00"),
        (2, "2025-06-09T15:30", "2025-06-09T15:31", "2025-06-10T08:00:00+08:00"),
        (3, "2025-06-09T15:30", "2025-06-09T15:31", None),
        (1, "2025-06-10T16:00", "2025-06-10T16:01", None),
        (0, None, "2025-06-11T00:00", None),
    ],
)
def test_plan_next_call_combines_offset_retry_spacing_attempts_and_deadline(
    attempts_made: int, last_attempt_at: str | None, now: str, expected: str | None
) -> None:
    """Day 7 to day 10, three attempts two hours apart, only in hospital hours."""
    actual = plan_next_call(
        anchor=date(2025, 6, 1),
        attempts_made=attempts_made,
        last_attempt_at=None if last_attempt_at is None else at(last_attempt_at, SHANGHAI),
        policy=policy(),
        tz=SHANGHAI,
        now=at(now, SHANGHAI),
    )
    assert expected == local(actual, SHANGHAI)


def test_plan_next_call_without_a_deadline_keeps_calling_on_later_days() -> None:
    """With no deadline the case stays callable after day 10."""
    actual = plan_next_call(
        anchor=date(2025, 6, 1),
        attempts_made=0,
        last_attempt_at=None,
        policy=policy(deadline_after=None),
        tz=SHANGHAI,
        now=at("2025-07-01T18:00", SHANGHAI),
    )
    assert "2025-07-02T08:00:00+08:00" == local(actual, SHANGHAI)


@pytest.mark.parametrize(
    ("attempts_made", "now", "message"),
    [
        (-1, at("2025-06-09T09:00+08:00"), "attempts_made must not be negative"),
        (0, datetime(2025, 6, 9, 9), "now must be an aware datetime"),
    ],
)
def test_plan_next_call_refuses_impossible_input(
    attempts_made: int, now: datetime, message: str
) -> None:
    """A negative attempt count or a naive clock reading is a programming error."""
    with pytest.raises(ValueError, match=message):
        plan_next_call(
            anchor=date(2025, 6, 1),
            attempts_made=attempts_made,
            last_attempt_at=None,
            policy=policy(),
            tz=SHANGHAI,
            now=now,
        )


# --- properties ----------------------------------------------------------------------------------

MINUTE = timedelta(minutes=1)
ZONES = tuple(TRANSITIONS)
# Minutes of the day, often in the small hours where every DST change in these zones happens.
DAY_MINUTES = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(0, 4 * 60))


@st.composite
def window_sets(draw: st.DrawFn) -> tuple[Window, ...]:
    """One to three sorted, non-overlapping windows on whole minutes."""
    bounds = sorted(draw(st.lists(DAY_MINUTES, min_size=2, max_size=6, unique=True)))
    clock = [time(minute // 60, minute % 60) for minute in bounds]
    return tuple(Window(start, end) for start, end in zip(clock[::2], clock[1::2], strict=False))


@st.composite
def planning_cases(
    draw: st.DrawFn,
) -> tuple[ZoneInfo, tuple[Window, ...], datetime, datetime | None]:
    """A zone, windows, an earliest instant on a whole minute, often near a DST change, and
    an optional deadline up to three days later."""
    name = draw(st.sampled_from(ZONES))
    near = [datetime.fromisoformat(text).replace(tzinfo=UTC) for text in TRANSITIONS[name]]
    anywhere = st.datetimes(datetime(1980, 1, 1), datetime(2060, 1, 1), timezones=st.just(UTC))
    if near:
        around = st.sampled_from(near).flatmap(
            lambda change: st.integers(-2 * 24 * 60, 2 * 24 * 60).map(
                lambda minutes: change + minutes * MINUTE
            )
        )
        anywhere = st.one_of(anywhere, around)
    earliest = draw(anywhere).replace(second=0, microsecond=0)
    within = draw(st.none() | st.integers(0, 3 * 24 * 60))
    deadline = None if within is None else earliest + within * MINUTE
    return ZoneInfo(name), draw(window_sets()), earliest, deadline


@settings(max_examples=200, deadline=None, database=None)
@given(planning_cases())
def test_next_call_at_returns_a_callable_instant_with_none_callable_before(
    case: tuple[ZoneInfo, tuple[Window, ...], datetime, datetime | None],
) -> None:
    """The result is in a window, not before earliest, before the deadline, and minimal."""
    tz, windows, earliest, deadline = case
    actual = next_call_at(earliest, windows, tz, deadline)
    if actual is None:
        assert deadline is not None
        return
    assert UTC == actual.tzinfo
    assert qualifies(actual, windows, tz)
    assert earliest <= actual
    assert deadline is None or actual < deadline
    before = max(earliest, actual - MINUTE)
    assert before == actual or not qualifies(before, windows, tz)


@settings(max_examples=200, deadline=None, database=None)
@given(planning_cases())
def test_next_call_at_agrees_with_a_minute_by_minute_search(
    case: tuple[ZoneInfo, tuple[Window, ...], datetime, datetime | None],
) -> None:
    """Inputs and DST changes fall on whole minutes here, so a minute scan finds the answer."""
    tz, windows, earliest, deadline = case
    stop = earliest + timedelta(days=3) if deadline is None else deadline
    minutes = range((stop - earliest) // MINUTE)
    candidates = (earliest + step * MINUTE for step in minutes)
    expected = next((m for m in candidates if qualifies(m, windows, tz)), None)
    assert deadline is not None or expected is not None
    assert expected == next_call_at(earliest, windows, tz, deadline)


def test_plan_next_call_takes_the_cases_own_deadline() -> None:
    """A stored deadline overrides the policy's; None means the case has none."""
    tz = ZoneInfo("Asia/Shanghai")
    policy = CallPolicy(
        offset=timedelta(days=7),
        windows=parse_windows("08:00-11:00,14:00-17:00"),
        max_attempts=3,
        retry_spacing=timedelta(hours=2),
        deadline_after=timedelta(days=10),
    )
    anchor = date(2030, 1, 1)
    late = datetime(2030, 1, 10, 4, 0, tzinfo=UTC)  # 12:00 local on day 9: next window 14:00
    assert plan_next_call(
        anchor=anchor, attempts_made=1, last_attempt_at=None, policy=policy, tz=tz, now=late
    ) == datetime(2030, 1, 10, 6, 0, tzinfo=UTC)
    own = datetime(2030, 1, 10, 5, 0, tzinfo=UTC)  # 13:00 local: before the afternoon window
    assert (
        plan_next_call(
            anchor=anchor,
            attempts_made=1,
            last_attempt_at=None,
            policy=policy,
            tz=tz,
            now=late,
            deadline=own,
        )
        is None
    )
    far = datetime(2030, 3, 1, 4, 0, tzinfo=UTC)
    assert plan_next_call(
        anchor=anchor,
        attempts_made=1,
        last_attempt_at=None,
        policy=policy,
        tz=tz,
        now=far,
        deadline=None,
    ) == datetime(2030, 3, 1, 6, 0, tzinfo=UTC)


# --- windows per weekday, crossing midnight, day rules, blackout, rotation ----------------------

CN_WORKDAYS = day_rule("workdays", region="CN", tz=SHANGHAI)
CN_NO_HOLIDAYS = day_rule("no_holidays", region="CN", tz=SHANGHAI)
WEEK = "mon-fri 08:00-11:00,14:00-17:00; sat 09:00-12:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-sun 08:00-11:00", "08:00-11:00"),
        ("mon-fri 08:00-11:00,14:00-17:00", "mon-fri 08:00-11:00,14:00-17:00"),
        (
            "sat 09:00-12:00; MON-fri 14:00-17:00,08:00-11:00",
            "mon-fri 08:00-11:00,14:00-17:00; sat 09:00-12:00",
        ),
        ("fri-mon 18:00-20:00", "mon,fri-sun 18:00-20:00"),
        ("sat, sun 10:00-12:00; wed 10:00-12:00", "wed,sat,sun 10:00-12:00"),
        ("fri 22:00-02:00; sat 02:00-04:00", "fri 22:00-02:00; sat 02:00-04:00"),
    ],
)
def test_windows_per_weekday_parse_and_format_canonically(text: str, expected: str) -> None:
    """Days with equal windows are grouped, Monday first; the same every day is the plain list."""
    parsed = parse_calling_windows(text)
    assert expected == format_windows(parsed)
    assert parsed == parse_calling_windows(format_windows(parsed))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("monday 08:00-11:00", "'monday' is not a day"),
        ("mon 08:00-11:00; 14:00-17:00", "'14:00-17:00' are not like 'mon-fri"),
        ("mon-fri 08:00-11:00; fri 14:00-17:00", "fri is given calling windows twice"),
        ("mon 08:00-25:00", "mon: calling window '08:00-25:00': '25:00' is not a time"),
        ("sun 23:00-09:00; mon 08:00-11:00", "23:00-09:00 runs past midnight into mon's"),
        ("mon", "'mon' are not like"),
    ],
)
def test_windows_per_weekday_name_the_bad_part(text: str, message: str) -> None:
    """A bad day, a day given twice or a shift running into the next day's window is refused."""
    with pytest.raises(ValueError, match=message):
        parse_calling_windows(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", frozenset()),
        ("", frozenset()),
        ("2026-12-24", frozenset({date(2026, 12, 24)})),
        (
            "2026-12-31..2027-01-02, 2026-12-24",
            frozenset({date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2)}),
        ),
    ],
)
def test_blackout_lists_dates_and_inclusive_ranges(text: str, expected: frozenset[date]) -> None:
    """Dates and ranges, in any order, parse into the set of local dates."""
    assert expected == parse_blackout(text)
    assert expected == parse_blackout(format_blackout(expected))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30", "blackout item 1 '2026-02-30' is not a date"),
        ("2026-12-24,24.12.2026", "blackout item 2 '24.12.2026'"),
        ("2027-01-02..2026-12-31", "ends before it starts"),
        ("2026-01-01..2027-06-01", "longer than a year"),
    ],
)
def test_blackout_names_the_bad_item(text: str, message: str) -> None:
    """Impossible dates, reversed ranges and year-long ranges are refused."""
    with pytest.raises(ValueError, match=message):
        parse_blackout(text)


def weekly(text: str, **changes: object) -> CallPolicy:
    """The hospital policy with other windows and calendar rules, and no deadline."""
    return policy(windows=parse_calling_windows(text), deadline_after=None, **changes)


def first_call(rules: CallPolicy, earliest: str, tz: ZoneInfo = SHANGHAI) -> str | None:
    """The next callable instant at or after a local wall time, as local text."""
    return local(next_call_at(at(earliest, tz), rules.schedule, tz), tz)


@pytest.mark.parametrize(
    ("windows", "earliest", "expected"),
    [
        # 2026-01-09 is a Friday.
        (WEEK, "2026-01-09T17:00", "2026-01-10T09:00:00+08:00"),
        (WEEK, "2026-01-10T12:00", "2026-01-12T08:00:00+08:00"),
        (WEEK, "2026-01-10T10:00", "2026-01-10T10:00:00+08:00"),
        # Friday's shift runs into Saturday morning; Saturday has no shift of its own.
        ("fri 22:00-02:00", "2026-01-10T01:00", "2026-01-10T01:00:00+08:00"),
        ("fri 22:00-02:00", "2026-01-10T02:00", "2026-01-16T22:00:00+08:00"),
        ("fri 22:00-02:00", "2026-01-09T21:00", "2026-01-09T22:00:00+08:00"),
        ("22:00-00:00", "2026-01-09T23:59:59", "2026-01-09T23:59:59+08:00"),
        ("22:00-00:00", "2026-01-10T00:00", "2026-01-10T22:00:00+08:00"),
    ],
)
def test_windows_belong_to_the_weekday_they_start_on(
    windows: str, earliest: str, expected: str
) -> None:
    """Each weekday has its own windows; a shift crossing midnight is its start day's."""
    assert expected == first_call(weekly(windows), earliest)


@pytest.mark.parametrize(
    ("windows", "earliest", "expected"),
    [
        # New York springs forward at 02:00 on Sunday 2025-03-09: Saturday's shift ends then.
        ("sat 23:00-02:30", "2025-03-09T01:59", "2025-03-09T01:59:00-05:00"),
        ("sat 23:00-02:30", "2025-03-09T03:00", "2025-03-15T23:00:00-04:00"),
        # Fall-back at 02:00 EDT on Sunday 2025-11-02: the shift's tail comes round twice.
        ("sat 23:00-01:30", "2025-11-02T01:45-04:00", "2025-11-02T01:00:00-05:00"),
        ("sat 23:00-01:30", "2025-11-02T01:30-05:00", "2025-11-08T23:00:00-05:00"),
    ],
)
def test_a_shift_crossing_midnight_follows_the_clock_through_dst(
    windows: str, earliest: str, expected: str
) -> None:
    """Local wall time decides, also in the part of a shift that runs into the next day."""
    value = at(earliest) if earliest[-6] in "+-" else at(earliest, NEW_YORK)
    actual = next_call_at(value, weekly(windows).schedule, NEW_YORK)
    assert expected == local(actual, NEW_YORK)


WEEK_HOURS = "mon-fri 08:00-11:00,14:00-17:00"


@pytest.mark.parametrize(
    ("rule", "day", "expected"),
    [
        # 2026: New Year's Day on Thursday, Friday off in lieu, Sunday 4 January worked (调休).
        (CN_WORKDAYS, "2026-01-01", False),
        (CN_WORKDAYS, "2026-01-02", False),
        (CN_WORKDAYS, "2026-01-04", True),
        # Spring Festival 15-23 February, Saturdays 14 and 28 February worked.
        (CN_WORKDAYS, "2026-02-14", True),
        (CN_WORKDAYS, "2026-02-23", False),
        (CN_WORKDAYS, "2026-02-28", True),
        # National Day 1-7 October, Sunday 20 September and Saturday 10 October worked.
        (CN_WORKDAYS, "2026-09-20", True),
        (CN_WORKDAYS, "2026-10-05", False),
        (CN_WORKDAYS, "2026-10-10", True),
        (CN_WORKDAYS, "2026-10-17", False),
        # Every day but holiday breaks: an ordinary weekend is called, Golden Week's is not.
        (CN_NO_HOLIDAYS, "2026-10-17", True),
        (CN_NO_HOLIDAYS, "2026-10-04", False),
        (CN_NO_HOLIDAYS, "2026-10-08", True),
        (CN_NO_HOLIDAYS, "2026-01-03", False),
        # 2027 has no official notice in the installed `holidays`: statutory days, estimated.
        (CN_WORKDAYS, "2027-02-08", False),
        (CN_WORKDAYS, "2027-10-01", False),
        (CN_WORKDAYS, "2027-10-04", True),
        (CN_NO_HOLIDAYS, "2027-10-02", False),
    ],
)
def test_day_rules_follow_chinas_holidays_and_adjusted_working_days(
    rule: CalendarDays, day: str, expected: bool
) -> None:
    """The 2026 notice's holidays and 调休 days; the 2027 statutory holidays."""
    assert expected == rule.callable_day(date.fromisoformat(day))


def test_day_rules_say_when_they_estimated() -> None:
    """2027 (and late December 2026, which 2027's notice may change) are estimates."""
    assert not CN_WORKDAYS.estimated(date(2026, 6, 1))
    assert CN_WORKDAYS.estimated(date(2026, 12, 28))
    assert CN_WORKDAYS.estimated(date(2027, 3, 1))


@pytest.mark.parametrize(
    ("rule", "earliest", "expected"),
    [
        (None, "2026-09-30T18:00", "2026-10-01T08:00:00+08:00"),
        (CN_WORKDAYS, "2026-09-30T18:00", "2026-10-08T08:00:00+08:00"),
        # Sunday 4 January is worked: called in the weekday windows though sun has none.
        (CN_WORKDAYS, "2026-01-01T09:00", "2026-01-04T08:00:00+08:00"),
        (CN_NO_HOLIDAYS, "2026-09-30T18:00", "2026-10-08T08:00:00+08:00"),
        (CN_WORKDAYS, "2027-09-30T18:00", "2027-10-04T08:00:00+08:00"),
    ],
)
def test_plans_skip_the_days_the_rule_excludes(
    rule: CalendarDays | None, earliest: str, expected: str
) -> None:
    """Holidays are skipped and adjusted working days called, in the weekday windows."""
    assert expected == first_call(weekly(WEEK_HOURS, days=rule), earliest)


@pytest.mark.parametrize(
    ("earliest", "expected"),
    [
        ("2026-12-23T22:30", "2026-12-23T22:30:00+08:00"),
        ("2026-12-23T23:59:59", "2026-12-23T23:59:59+08:00"),
        # The 23rd's shift is cut at midnight, and the 24th's does not open.
        ("2026-12-24T00:00", "2026-12-25T22:00:00+08:00"),
        ("2026-12-30T12:00", "2026-12-30T22:00:00+08:00"),
        ("2026-12-31T00:00", "2027-01-03T22:00:00+08:00"),
    ],
)
def test_blackout_dates_have_no_call_at_any_time(earliest: str, expected: str) -> None:
    """A blacked-out local date opens no window and ends the evening shift before it."""
    rules = weekly("22:00-02:00", blackout=parse_blackout("2026-12-24,2026-12-31..2027-01-02"))
    assert expected == first_call(rules, earliest)


@pytest.mark.parametrize(
    ("windows", "last", "deadline", "expected"),
    [
        # Morning attempt: 2h later is the afternoon anyway.
        (HOSPITAL_HOURS, "2026-06-09T09:00", None, "2026-06-09T14:00:00+08:00"),
        # Afternoon attempt: 16:10 is afternoon again, so the next morning is preferred.
        (HOSPITAL_HOURS, "2026-06-09T14:10", None, "2026-06-10T08:00:00+08:00"),
        # ... unless the deadline comes first: then the earliest window after all.
        (HOSPITAL_HOURS, "2026-06-09T14:10", "2026-06-10T08:00", "2026-06-09T16:10:00+08:00"),
        # An attempt outside the windows counts by the clock: 12:30 is afternoon.
        (HOSPITAL_HOURS, "2026-06-09T12:30", None, "2026-06-10T08:00:00+08:00"),
        # The evening window of a shift is not morning, though its tail runs past midnight.
        ("09:00-11:00,22:00-01:00", "2026-06-09T00:30", None, "2026-06-09T09:00:00+08:00"),
        # No afternoon window within a day of Tuesday 08:00: rotation does not delay the call.
        (
            "mon-fri 08:00-11:00; sat 14:00-17:00",
            "2026-06-08T09:30",
            None,
            "2026-06-09T08:00:00+08:00",
        ),
    ],
)
def test_rotation_alternates_morning_and_afternoon_within_a_day(
    windows: str, last: str, deadline: str | None, expected: str
) -> None:
    """After a morning attempt an afternoon window, and vice versa, if one opens soon enough."""
    rules = weekly(windows, rotate=True, max_attempts=5)
    actual = plan_next_call(
        anchor=date(2026, 6, 1),
        attempts_made=1,
        last_attempt_at=at(last, SHANGHAI),
        policy=rules,
        tz=SHANGHAI,
        now=at(last, SHANGHAI) + timedelta(minutes=1),
        deadline=None if deadline is None else at(deadline, SHANGHAI),
    )
    assert expected == local(actual, SHANGHAI)


def test_without_rotation_the_retry_takes_the_earliest_window() -> None:
    """The default keeps today's behaviour: 14:10 + 2h is 16:10 the same afternoon."""
    actual = plan_next_call(
        anchor=date(2026, 6, 1),
        attempts_made=1,
        last_attempt_at=at("2026-06-09T14:10", SHANGHAI),
        policy=weekly(HOSPITAL_HOURS),
        tz=SHANGHAI,
        now=at("2026-06-09T14:11", SHANGHAI),
    )
    assert "2026-06-09T16:10:00+08:00" == local(actual, SHANGHAI)


def test_plain_windows_in_next_call_at_ignore_the_policys_days() -> None:
    """Windows alone know no day rule; the policy's schedule does (callers pass it)."""
    rules = weekly(HOSPITAL_HOURS, days=CN_WORKDAYS)
    earliest = at("2026-10-01T09:00", SHANGHAI)
    assert "2026-10-01T09:00:00+08:00" == local(
        next_call_at(earliest, rules.windows, SHANGHAI), SHANGHAI
    )
    assert "2026-10-08T08:00:00+08:00" == first_call(rules, "2026-10-01T09:00")
