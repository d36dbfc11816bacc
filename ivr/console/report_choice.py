"""Which report the campaign page and its downloads show: a month and a grouping, read from the
query string (?month=YYYY-MM&by=GROUP) of the page's GET form.

The month is the report builder's pattern (ivr.reports.build.MONTH) and the groupings are its
own list (ivr.reports.scope.GROUPS), as for `ivr report --by` and the API: one list, not a copy.
A value that is neither is kept aside, so that the page can say so beside the figures it shows
without it, and a download can refuse it with 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ivr.reports.build import MONTH, month_period
from ivr.reports.scope import GROUPS

# Enough of an unknown value to recognise it in a message; the rest is dropped.
SHOWN_CHARS = 40
# What a campaign's name keeps in a file name: letters (any script), digits, dot, dash, underscore.
UNSAFE_IN_FILENAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class ReportChoice:
    """The month (None: every case) and the grouping (None: the whole campaign) to report on."""

    month: str | None = None
    by: str | None = None
    bad_month: str | None = None  #: what was given for the month when it is not one
    bad_by: str | None = None  #: what was given for the grouping when it is not one of GROUPS

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> ReportChoice:
        """Read ?month= and ?by=; empty means not chosen, anything else unknown is set aside."""
        month = args.get("month", "").strip()
        by = args.get("by", "").strip()
        good_month = bool(MONTH.fullmatch(month))
        return cls(
            month=month if good_month else None,
            by=by if by in GROUPS else None,
            bad_month=month[:SHOWN_CHARS] if month and not good_month else None,
            bad_by=by[:SHOWN_CHARS] if by and by not in GROUPS else None,
        )

    @property
    def period(self) -> tuple[date | None, date | None]:
        """The anchor dates reported on: the month's first and last day, or (None, None)."""
        return month_period(self.month) if self.month else (None, None)

    def args(self) -> dict[str, str]:
        """The chosen month and grouping as query arguments, for links that keep them."""
        chosen = {"month": self.month, "by": self.by}
        return {key: value for key, value in chosen.items() if value}

    def filename(self, campaign: str, suffix: str) -> str:
        """A download's name: report-ward-7-2026-11.xlsx, report-ward-7-all-by-doctor.html."""
        name = UNSAFE_IN_FILENAME.sub("-", campaign).strip("-.") or "campaign"
        by = f"-by-{self.by}" if self.by else ""
        return f"report-{name}-{self.month or 'all'}{by}.{suffix}"
