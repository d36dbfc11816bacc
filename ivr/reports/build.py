"""One report, built the same way for the CLI, the exports, the API and the console."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from ivr.models import Campaign
from ivr.reports.figures import ReportScope, campaign_figures
from ivr.reports.targets import targets_for
from ivr.services import Services

# The columns of the CSV (one row per group) and of the table, in the order users read them.
HEADLINE = (
    "cases",
    "excluded",
    "attempted",
    "reached",
    "completed",
    "open",
    "paused",
    "follow_up_rate",
    "effective_rate",
    "completion_rate",
    "satisfaction_rate",
    "complaints",
    "average_attempts_to_reach",
)
DEADLINE = (
    "deadline_passed",
    "verified_within_deadline",
    "success_within_deadline_rate",
    "open_with_days_left",
)
RATES = frozenset(name for name in HEADLINE + DEADLINE if name.endswith("_rate"))


# The per-group table's columns (short headers: it must fit a terminal with several groups).
GROUP_COLUMNS = (
    ("cases", "cases"),
    ("excluded", "excl."),
    ("attempted", "called"),
    ("reached", "reached"),
    ("completed", "done"),
    ("follow_up_rate", "f-up"),
    ("effective_rate", "eff."),
    ("satisfaction_rate", "sat."),
)


def period_label(period: Mapping[str, str | None]) -> str:
    """A report's period as a title says it: '2026-11-01 to 2026-11-30', 'from 2026-11-01',
    'up to 2026-11-30', or 'all dates' (the JSON's period: from / to, either may be None)."""
    start, end = period["from"], period["to"]
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"from {start}"
    if end:
        return f"up to {end}"
    return "all dates"


def period_sentence(period: Mapping[str, str | None]) -> str:
    """Which cases a report counts, as a sentence: 'Cases with anchor dates from 2026-11-01 to
    2026-11-30', '... from 2026-11-01 on', '... up to 2026-11-30', or 'Every case'."""
    start, end = period["from"], period["to"]
    if start and end:
        return f"Cases with anchor dates from {start} to {end}"
    if start:
        return f"Cases with anchor dates from {start} on"
    if end:
        return f"Cases with anchor dates up to {end}"
    return "Every case, whatever its anchor date"


# A month as people and the API write it, in ASCII digits: Python's \d takes other scripts' too.
MONTH_PATTERN = "^[0-9]{4}-(0[1-9]|1[0-2])$"
MONTH = re.compile(MONTH_PATTERN)


def month_period(text: str) -> tuple[date, date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    try:
        year, month = (int(part) for part in text.split("-"))
        last = calendar.monthrange(year, month)[1]
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"{text!r} is not a month like 2026-11") from None
    return date(year, month, 1), date(year, month, last)


def build_report(
    session: Session,
    services: Services,
    campaign: Campaign,
    *,
    start: date | None = None,
    end: date | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """The report of a campaign as `ivr report --format json` prints it."""
    scope = ReportScope(campaign, start=start, end=end, by=by)
    return campaign_figures(
        session,
        scope,
        flow=services.flow(campaign),
        now=services.clock(),
        targets=targets_for(campaign.template, campaign.options),
    )
