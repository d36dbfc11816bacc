"""A campaign's report over JSON: the same object as `ivr report --format json`.

Reports are for the people who report upward (supervisors, compliance officers, administrators);
an agent's token gets 403. The figures are built by ivr.reports.build, as for the CLI and the
exports, so the three always agree.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Response, jsonify

from ivr.api.blueprint import bp
from ivr.api.errors import ApiError
from ivr.api.params import invalid, query_choice, query_text
from ivr.api.queue_routes import acting
from ivr.models import Campaign, StaffRole
from ivr.reports.build import MONTH, build_report, month_period
from ivr.reports.scope import GROUPS

REPORTERS = frozenset({StaffRole.SUPERVISOR, StaffRole.COMPLIANCE, StaffRole.ADMIN})
# ASCII digits and a real month, as the OpenAPI document's patterns say: Python's \d also takes
# other scripts' digits (int() reads "٢٠٢٦" as 2026), which a client checking the document refuses.
DAY = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(name: str) -> date | None:
    raw = query_text(name, max_length=10)
    if raw is None:
        return None
    try:
        if not DAY.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid(f"{name} is a date like 2026-11-01") from None


def _period() -> tuple[date | None, date | None]:
    month = query_text("month", max_length=7)
    start, end = _day("from"), _day("to")
    if month is None:
        if start is not None and end is not None and start > end:
            raise invalid(f"the period starts ({start}) after it ends ({end})")
        return start, end
    if start is not None or end is not None:
        raise invalid("give month or from/to, not both")
    try:
        if not MONTH.fullmatch(month):
            raise ValueError
        return month_period(month)
    except ValueError:
        raise invalid("month is a month like 2026-11") from None


@bp.get("/campaigns/<string:name>/report")
def report_route(name: str) -> Response:
    """The campaign's figures for the period (the cases' anchor dates), whole or split."""
    start, end = _period()
    by = query_choice("by", tuple(GROUPS))
    with acting() as (session, services, user):
        if user.role not in REPORTERS:
            raise ApiError(403, "forbidden", "reports are for supervisors, compliance and admins")
        campaign = session.query(Campaign).filter(Campaign.name == name).one_or_none()
        if campaign is None:
            raise ApiError(404, "not_found", f"there is no campaign {name!r}")
        return jsonify(build_report(session, services, campaign, start=start, end=end, by=by))
