"""The per-number call caps (ivr.consent.caps): local days, a rolling week, DST; pure.

Also the phone spelling the do-not-call list keys on, and the templates' consent defaults.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from ivr.campaigns.options import campaign_config
from ivr.campaigns.templates import TEMPLATES
from ivr.consent.caps import CallCaps, CapReached, cap_reached, start_of_day
from ivr.consent.dnc import normalise_phone
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8 all year
NEW_YORK = ZoneInfo("America/New_York")  # 2030: EST until 03-10 02:00, then EDT
HEALTH = CallCaps(daily=1, weekly=3)


def at(tz: ZoneInfo, text: str) -> datetime:
    """A local wall time in tz ("2030-01-07 09:00"), as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


def utc(text: str) -> datetime:
    """An aware UTC instant from "2030-01-07 01:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# caps, zone, earlier calls (local), now (local), expected: None or (cap, limit, until local)
TABLE = [
    pytest.param(HEALTH, SHANGHAI, [], "2030-01-07 09:00", None, id="first-call"),
    pytest.param(
        HEALTH, SHANGHAI, ["2030-01-07 09:00"], "2030-01-07 15:00",
        ("daily", 1, "2030-01-08 00:00"), id="second-call-same-day-waits-for-local-midnight",
    ),
    pytest.param(
        # 23:30 and 00:30 local are one UTC day (15:30Z, 16:30Z) but two local days.
        HEALTH, SHANGHAI, ["2030-01-07 23:30"], "2030-01-08 00:30", None,
        id="shanghai-next-local-day-same-utc-day",
    ),
    pytest.param(
        # 00:30 and 23:00 local are two UTC days (01-06 16:30Z, 01-07 15:00Z) but one local day.
        HEALTH, SHANGHAI, ["2030-01-07 00:30"], "2030-01-07 23:00",
        ("daily", 1, "2030-01-08 00:00"), id="shanghai-same-local-day-two-utc-days",
    ),
    pytest.param(
        HEALTH, NEW_YORK, ["2030-01-06 23:30"], "2030-01-07 00:30", None,
        id="new-york-next-local-day",
    ),
    pytest.param(
        HEALTH, NEW_YORK, ["2030-01-07 00:10"], "2030-01-07 20:50",
        ("daily", 1, "2030-01-08 00:00"), id="new-york-same-local-day",
    ),
    pytest.param(
        HEALTH, SHANGHAI, ["2030-01-07 09:00", "2030-01-08 09:00", "2030-01-09 09:00"],
        "2030-01-10 09:00", ("weekly", 3, "2030-01-14 00:00"),
        id="fourth-call-in-a-week-waits-until-the-first-leaves-the-seven-days",
    ),
    pytest.param(
        # Fri, Sat, Sun, then Monday: a calendar week would allow it, a rolling one does not.
        HEALTH, SHANGHAI, ["2030-01-11 10:00", "2030-01-12 10:00", "2030-01-13 10:00"],
        "2030-01-14 10:00", ("weekly", 3, "2030-01-18 00:00"),
        id="rolling-week-crosses-the-calendar-week",
    ),
    pytest.param(
        HEALTH, SHANGHAI, ["2030-01-01 10:00", "2030-01-02 10:00", "2030-01-03 10:00"],
        "2030-01-08 08:00", None, id="calls-eight-days-ago-no-longer-count",
    ),
    pytest.param(
        # Mon and Tue called, Wed's call made: Thu is blocked by the week, so the wait is weekly.
        HEALTH, SHANGHAI, ["2030-01-07 10:00", "2030-01-08 10:00", "2030-01-09 10:00"],
        "2030-01-09 16:00", ("weekly", 3, "2030-01-14 00:00"),
        id="the-cap-named-is-the-one-that-holds-the-call-longest",
    ),
    pytest.param(
        # The week of the spring-forward (Sun 03-10, a 23-hour day) is still seven local days.
        HEALTH, NEW_YORK, ["2030-03-09 10:00", "2030-03-10 10:00", "2030-03-11 10:00"],
        "2030-03-12 10:00", ("weekly", 3, "2030-03-16 00:00"), id="dst-spring-forward-week",
    ),
    pytest.param(
        HEALTH, NEW_YORK, ["2030-03-10 00:30"], "2030-03-10 23:30",
        ("daily", 1, "2030-03-11 00:00"), id="dst-spring-forward-day-is-one-day",
    ),
    pytest.param(
        # Sun 11-03 has 25 hours: 00:30 EDT and 23:30 EST are one local day, 24 hours apart.
        HEALTH, NEW_YORK, ["2030-11-03 00:30"], "2030-11-03 23:30",
        ("daily", 1, "2030-11-04 00:00"), id="dst-fall-back-day-is-one-day",
    ),
    pytest.param(
        CallCaps(daily=2, weekly=3), SHANGHAI, ["2030-01-07 09:00"], "2030-01-07 14:00", None,
        id="two-a-day-allows-an-afternoon-retry",
    ),
    pytest.param(
        CallCaps(weekly=3), SHANGHAI, ["2030-01-07 08:00"] * 3, "2030-01-07 16:00",
        ("weekly", 3, "2030-01-14 00:00"), id="weekly-only",
    ),
    pytest.param(
        CallCaps(), SHANGHAI, ["2030-01-07 08:00"] * 9, "2030-01-07 16:00", None, id="no-caps",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("caps", "tz", "earlier", "now", "expected"), TABLE)
def test_cap_rule_table(
    caps: CallCaps,
    tz: ZoneInfo,
    earlier: list[str],
    now: str,
    expected: tuple[Literal["daily", "weekly"], int, str] | None,
) -> None:
    """Each row: the calls made so far, now, and whether a call may go or from when."""
    result = cap_reached([at(tz, e) for e in earlier], caps, tz=tz, now=at(tz, now))
    want = None if expected is None else CapReached(expected[0], expected[1], at(tz, expected[2]))
    assert want == result


def test_the_allowed_instant_is_aware_utc() -> None:
    """The instant returned is UTC, the start of the local day: 16:00Z for Shanghai midnight."""
    result = cap_reached(
        [utc("2030-01-07 01:00")], HEALTH, tz=SHANGHAI, now=utc("2030-01-07 02:00")
    )
    assert result is not None
    assert utc("2030-01-07 16:00") == result.until and UTC == result.until.tzinfo


def test_a_day_whose_midnight_is_skipped_starts_at_the_end_of_the_gap() -> None:
    """Chile springs forward at midnight: 2030-09-08 starts at 01:00 -03, 04:00Z."""
    santiago = ZoneInfo("America/Santiago")
    start = start_of_day(date(2030, 9, 8), santiago)
    assert utc("2030-09-08 04:00") == start
    assert (date(2030, 9, 8), time(1, 0)) == (
        start.astimezone(santiago).date(),
        start.astimezone(santiago).time(),
    )
    assert date(2030, 9, 7) == (start - timedelta(seconds=1)).astimezone(santiago).date()


def test_a_call_stamped_a_little_after_now_still_gets_an_answer() -> None:
    """Another dispatcher's clock may run ahead: its call counts and the rule still ends."""
    now = utc("2030-01-07 01:00")
    result = cap_reached([now + timedelta(seconds=3)], HEALTH, tz=SHANGHAI, now=now)
    assert result is not None and utc("2030-01-07 16:00") == result.until


@pytest.mark.parametrize(("daily", "weekly"), [(0, None), (None, 0), (-1, 3)])
def test_caps_below_one_are_refused(daily: int | None, weekly: int | None) -> None:
    """A cap of 0 would mean never call: that is the do-not-call list's job, not a cap's."""
    with pytest.raises(ValueError, match="must be at least 1"):
        CallCaps(daily, weekly)


def test_naive_times_are_refused() -> None:
    """Local-day counting needs aware instants; a naive one is a bug upstream."""
    naive = datetime(2030, 1, 7, 9, 0)
    with pytest.raises(ValueError, match="aware"):
        cap_reached([], HEALTH, tz=SHANGHAI, now=naive)
    with pytest.raises(ValueError, match="aware"):
        cap_reached([naive], HEALTH, tz=SHANGHAI, now=utc("2030-01-07 01:00"))


HEALTH_TEMPLATES = ["post-discharge", "post-discharge-1w", "care-insurance"]


@pytest.mark.parametrize("name", HEALTH_TEMPLATES)
def test_health_templates_default_to_one_call_a_day_and_three_a_week(name: str) -> None:
    """Hospital and care follow-ups keep to the health-call limits unless a campaign says not."""
    config = campaign_config(TEMPLATES[name].defaults)
    assert (1, 3) == (config.daily_cap, config.weekly_cap)


def test_campaigns_stored_before_the_caps_are_not_capped() -> None:
    """Options saved without the keys (older campaigns) mean no cap, not a default one."""
    stored = {k: v for k, v in TEMPLATES["post-discharge"].defaults.items() if "cap" not in k}
    config = campaign_config(stored)
    assert (None, None) == (config.daily_cap, config.weekly_cap)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_windows_keep_inside_the_laws_calling_hours(name: str) -> None:
    """US: 08:00-21:00 at the called person's place; China's insurers: not 21:00-09:00."""
    tpl = TEMPLATES[name]
    opens = time(9) if "insurance" in tpl.flow or tpl.flow == "cooling-off" else time(8)
    windows: Any = campaign_config(tpl.defaults).policy.windows
    # Per weekday windows (scheduler.windows.WeeklyWindows) or one tuple for every day.
    for day in getattr(windows, "days", (windows,)):
        for window in day:
            assert opens <= window.start < window.end <= time(21), (name, str(window))


def test_national_and_international_spellings_are_one_number() -> None:
    """Numbers are kept as E.164 (the importer's rule), so any spelling finds the entry."""
    assert "+8613800138000" == normalise_phone("138 0013 8000")
    assert "+8613800138000" == normalise_phone("+86-138-0013-8000", "US")
    assert factories.FICTIONAL_PHONES[0] == normalise_phone("(202) 555-0100", "US")
    with pytest.raises(ValueError, match="not a valid number for region CN"):
        normalise_phone("12345")
