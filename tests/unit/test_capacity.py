"""deadline_at_risk: slots left before the deadline, and dialling capacity."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.capacity import (
    AtRisk,
    callable_seconds,
    capacity_share,
    deadline_at_risk,
)
from scheduler.days import day_rule
from scheduler.planner import CallPolicy, parse_windows

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def policy(windows: str = "08:00-11:00,14:00-17:00", **changes: object) -> CallPolicy:
    """Hospital hours, retries 2 hours apart: slots at 08:00, 10:00, 14:00 and 16:00 a day."""
    fields: dict[str, object] = {
        "offset": timedelta(0),
        "windows": parse_windows(windows),
        "max_attempts": 5,
        "retry_spacing": timedelta(hours=2),
        "deadline_after": None,
    }
    fields.update(changes)
    return CallPolicy(**fields)  # type: ignore[arg-type]


def at(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """A local wall time in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


@pytest.mark.parametrize(
    ("now", "deadline", "attempts_left", "expected"),
    [
        # Two days of four slots: plenty for three attempts.
        ("2026-06-09T07:00", "2026-06-11T00:00", 3, None),
        # One day, four slots: enough for four attempts, not five.
        ("2026-06-10T07:00", "2026-06-11T00:00", 4, None),
        ("2026-06-10T07:00", "2026-06-11T00:00", 5, AtRisk("slots", 5, 4, None)),
        # From 09:00 the slots are 09:00, 14:00 and 16:00: three attempts just fit, four do not.
        ("2026-06-10T09:00", "2026-06-11T00:00", 3, None),
        ("2026-06-10T09:00", "2026-06-11T00:00", 4, AtRisk("slots", 4, 3, None)),
        ("2026-06-10T17:30", "2026-06-11T00:00", 1, AtRisk("slots", 1, 0, None)),
        # The deadline cuts the day: a call must start strictly before it.
        ("2026-06-10T07:00", "2026-06-10T10:00", 2, AtRisk("slots", 2, 1, None)),
        ("2026-06-10T07:00", "2026-06-10T10:00:01", 2, None),
        # Past the deadline nothing fits.
        ("2026-06-11T09:00", "2026-06-11T00:00", 1, AtRisk("slots", 1, 0, None)),
        # No deadline, or no attempts left: nothing to miss.
        ("2026-06-10T15:00", None, 3, None),
        ("2026-06-10T15:00", "2026-06-10T16:00", 0, None),
    ],
)
def test_a_case_is_at_risk_when_the_slots_left_cannot_hold_the_attempts(
    now: str, deadline: str | None, attempts_left: int, expected: AtRisk | None
) -> None:
    """Slots are counted greedily, retry spacing apart, before the deadline."""
    actual = deadline_at_risk(
        now=at(now),
        deadline=None if deadline is None else at(deadline),
        attempts_left=attempts_left,
        policy=policy(),
        tz=SHANGHAI,
    )
    assert expected == actual


def test_slots_start_from_the_cases_next_call_not_from_now() -> None:
    """A case whose retry waits for the afternoon has only the afternoon's slots."""
    actual = deadline_at_risk(
        now=at("2026-06-10T07:00"),
        deadline=at("2026-06-11T00:00"),
        attempts_left=3,
        policy=policy(),
        tz=SHANGHAI,
        earliest=at("2026-06-10T14:00"),
    )
    assert AtRisk("slots", 3, 2, None) == actual


def test_retries_without_spacing_are_counted_a_call_length_apart() -> None:
    """With no retry spacing, a 12-minute window holds three 5-minute slots, not endless ones."""
    rules = policy("08:00-08:12", retry_spacing=timedelta(0))
    kwargs = {"now": at("2026-06-10T07:00"), "deadline": at("2026-06-11T00:00")}
    assert None is deadline_at_risk(**kwargs, attempts_left=3, policy=rules, tz=SHANGHAI)
    assert AtRisk("slots", 4, 3, None) == deadline_at_risk(
        **kwargs, attempts_left=4, policy=rules, tz=SHANGHAI
    )


@pytest.mark.parametrize(("share", "expected"), [(None, None), (2.0, None), (5.5, None)])
def test_enough_dialling_capacity_leaves_the_case_alone(
    share: float | None, expected: AtRisk | None
) -> None:
    """Two attempts left and capacity for two calls or more (or not counted): not at risk."""
    actual = deadline_at_risk(
        now=at("2026-06-09T07:00"),
        deadline=at("2026-06-12T00:00"),
        attempts_left=2,
        policy=policy(),
        tz=SHANGHAI,
        capacity_share=share,
    )
    assert expected == actual


@pytest.mark.parametrize("share", [0.0, 1.0, 1.99])
def test_too_little_dialling_capacity_puts_the_case_at_risk(share: float) -> None:
    """Slots are plenty, but the dialler cannot place one call per attempt left in time."""
    actual = deadline_at_risk(
        now=at("2026-06-09T07:00"),
        deadline=at("2026-06-12T00:00"),
        attempts_left=2,
        policy=policy(),
        tz=SHANGHAI,
        capacity_share=share,
    )
    assert AtRisk("capacity", 2, 2, share) == actual
    assert "dialling capacity for" in str(actual)


def test_holidays_of_the_day_rule_leave_no_slots() -> None:
    """Before Golden Week with working days only, the last slot is on 30 September."""
    kwargs = {
        "now": at("2026-09-30T15:00"),
        "deadline": at("2026-10-08T00:00"),
        "attempts_left": 2,
        "tz": SHANGHAI,
    }
    workdays = policy(days=day_rule("workdays", region="CN", tz=SHANGHAI))
    assert AtRisk("slots", 2, 1, None) == deadline_at_risk(**kwargs, policy=workdays)
    assert None is deadline_at_risk(**kwargs, policy=policy())


@pytest.mark.parametrize(
    ("windows", "start", "stop", "tz", "expected"),
    [
        ("08:00-11:00,14:00-17:00", "2026-06-10T00:00", "2026-06-11T00:00", SHANGHAI, 6 * 3600),
        ("08:00-11:00,14:00-17:00", "2026-06-10T09:30", "2026-06-10T15:00", SHANGHAI, 2.5 * 3600),
        ("08:00-11:00", "2026-06-10T12:00", "2026-06-10T09:00", SHANGHAI, 0),
        # 02:00-03:00 does not exist on the spring-forward day, and 01:00-02:00 comes twice.
        ("01:00-04:00", "2025-03-09T00:00", "2025-03-10T00:00", NEW_YORK, 2 * 3600),
        ("01:00-04:00", "2025-11-02T00:00", "2025-11-03T00:00", NEW_YORK, 4 * 3600),
    ],
)
def test_callable_seconds_count_local_window_time_between_two_instants(
    windows: str, start: str, stop: str, tz: ZoneInfo, expected: float
) -> None:
    """The seconds a dialler may use, as the contact's clock shows them, DST included."""
    assert expected == callable_seconds(at(start, tz), at(stop, tz), policy(windows), tz)


@pytest.mark.parametrize(
    ("cps", "seconds", "competing", "expected"),
    [(1.0, 3600, 1200, 3.0), (1.0, 3600, 0, 3600.0), (0.5, 600, 600, 0.5)],
)
def test_capacity_share_divides_calls_among_the_competing_cases(
    cps: float, seconds: float, competing: int, expected: float
) -> None:
    """Calls per second x callable seconds / cases competing (at least one)."""
    assert expected == capacity_share(calls_per_second=cps, seconds=seconds, competing=competing)
