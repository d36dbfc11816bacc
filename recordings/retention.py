"""How long a campaign's recordings are kept: the retention rules and the day each one ends.

Pure: a campaign's rule and a case's dates and details in, the first day its recordings may be
deleted out. The purge (recordings.purge) loads the rows, calls `retention_for` and persists.

Rules (the campaign options `retention` and `retention_from`):

- a period, ``30y`` or ``180d``, counted from the case's anchor date (``anchor``: discharge,
  receipt signed, visit) or from the day the case closed (``done``; an open case is never due);
- ``insurer``: the insurance rule as commonly cited (保险法 art. 87 for an insurer's records;
  保险销售行为可回溯管理暂行办法, 2017, for sales recordings): kept 5 years after the contract
  ends when its term is one year or less, 10 years after it ends for longer terms. The case's
  details carry ``contract_end`` (YYYY-MM-DD) and ``term_months``. Without ``contract_end`` no
  date can be given, and the recording is kept until the case carries one: any guess from the
  anchor date would delete a policy running more than a year before the rule allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

INSURER = "insurer"
SHORT_TERM_MONTHS = 12  # "one year or less": kept 5 years after the end; longer terms 10 years
SHORT_TERM_YEARS = 5
LONG_TERM_YEARS = 10
MAX_TERM_MONTHS = 1200

_PERIOD = re.compile(r"([0-9]{1,4})([yd])")
# [0-9], not \d: \d also matches full-width and other Unicode digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTHS = re.compile(r"[0-9]{1,4}")


class CountFrom(StrEnum):
    """The case's day a retention period is counted from."""

    ANCHOR = "anchor"  #: the case's anchor date: discharge, receipt signed, visit, call day
    DONE = "done"  #: the day the case closed; a case still open is never due


@dataclass(frozen=True)
class RetentionRule:
    """A campaign's retention: the insurer rule, or `years` / `days` after a day of the case."""

    insurer: bool = False
    years: int = 0
    days: int = 0
    count_from: CountFrom = CountFrom.ANCHOR

    def __str__(self) -> str:
        return format_retention(self)


@dataclass(frozen=True)
class CaseDates:
    """What a rule reads from a case: its anchor date, the day it closed, its details."""

    anchor: date
    done_on: date | None  # the local day the case closed; None while it is open
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Retention:
    """When a recording may be deleted, and the rule that says so (kept in the audit entry)."""

    until: date | None  #: the first day it may be deleted; None: not while this holds
    rule: str  #: how `until` was reached, or why there is none
    unknown: bool = False  #: no rule could be applied (bad details, no campaign rule, no case)

    def due(self, today: date) -> bool:
        """True when the recording may be deleted on `today`."""
        return self.until is not None and self.until <= today

    @classmethod
    def not_known(cls, reason: str) -> Retention:
        """No rule applies: kept until someone fixes what `reason` names."""
        return cls(until=None, rule=reason, unknown=True)


def parse_retention(text: str) -> RetentionRule:
    """Read the `retention` option: "insurer", or a period such as "30y" or "180d"."""
    value = text.strip().lower()
    if value == INSURER:
        return RetentionRule(insurer=True)
    match = _PERIOD.fullmatch(value)
    if match is None:
        raise ValueError(f"{text!r} is not 'insurer' or a period such as 30y, 15y or 180d")
    amount, unit = int(match[1]), match[2]
    if unit == "y" and not 1 <= amount <= 100:
        raise ValueError("years must be between 1 and 100")
    if unit == "d" and not 1 <= amount <= 36_500:
        raise ValueError("days must be between 1 and 36500")
    return RetentionRule(years=amount) if unit == "y" else RetentionRule(days=amount)


def format_retention(rule: RetentionRule) -> str:
    """Write a rule back as the `retention` option reads it."""
    if rule.insurer:
        return INSURER
    return f"{rule.years}y" if rule.years else f"{rule.days}d"


def parse_count_from(text: str) -> CountFrom:
    """Read the `retention_from` option: anchor or done."""
    try:
        return CountFrom(text.strip().lower())
    except ValueError:
        raise ValueError("must be anchor or done") from None


def rule_from_options(options: Mapping[str, str]) -> RetentionRule | None:
    """A campaign's rule from its stored options; None for a campaign older than the options."""
    if "retention" not in options:
        return None
    rule = parse_retention(options["retention"])
    count_from = parse_count_from(options.get("retention_from", CountFrom.ANCHOR))
    return RetentionRule(rule.insurer, rule.years, rule.days, count_from)


def add_years(start: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 1 March (the later reading: kept longer)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def retention_for(rule: RetentionRule, case: CaseDates) -> Retention:
    """The first day a recording of this case may be deleted under the campaign's rule."""
    if rule.count_from == CountFrom.DONE:
        if case.done_on is None:
            return Retention(until=None, rule=f"{rule} after done: the case is still open")
        start, start_name = case.done_on, "done"
    else:
        start, start_name = case.anchor, "anchor"
    if rule.insurer:
        return _insurer(case.details)
    if rule.years:
        until = add_years(start, rule.years)
    else:
        until = start + timedelta(days=rule.days)
    return Retention(until=until, rule=f"{rule} after {start_name} {start.isoformat()}")


def _insurer(details: Mapping[str, Any]) -> Retention:
    end_text = details.get("contract_end")
    if end_text is None or str(end_text).strip() == "":
        return Retention.not_known("insurer: no contract_end on the case")
    end = _iso_date(str(end_text))
    if end is None:
        # Bad data must never lead to a deletion: kept until the case is corrected.
        return Retention.not_known("insurer: contract_end is not a date YYYY-MM-DD")
    term_text = details.get("term_months")
    if term_text is None or str(term_text).strip() == "":
        years = LONG_TERM_YEARS  # the longer of the two periods when the term is unknown
        term = "term unknown"
    else:
        months = _months(str(term_text))
        if months is None:
            return Retention.not_known(
                f"insurer: term_months is not a whole number of months 1-{MAX_TERM_MONTHS}"
            )
        years = SHORT_TERM_YEARS if months <= SHORT_TERM_MONTHS else LONG_TERM_YEARS
        term = f"term {months} months"
    return Retention(
        until=add_years(end, years),
        rule=f"insurer: {term}, {years}y after contract_end {end.isoformat()}",
    )


def _iso_date(text: str) -> date | None:
    value = text.strip()
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _months(text: str) -> int | None:
    value = text.strip()
    if not _MONTHS.fullmatch(value):
        return None
    months = int(value)
    return months if 1 <= months <= MAX_TERM_MONTHS else None
