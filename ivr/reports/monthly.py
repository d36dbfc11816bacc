"""The monthly report as files: a spreadsheet (openpyxl) and an HTML page with its charts.

Both carry the same figures as `ivr report --format json` for the period (one code path:
ivr.reports.cli.build_report), plus the satisfaction trend of the twelve months up to the
period's end.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from ivr.models import Campaign
from ivr.reports import charts
from ivr.reports.build import (
    DEADLINE,
    GROUP_COLUMNS,
    HEADLINE,
    RATES,
    build_report,
    month_period,
    period_label,
    period_sentence,
)
from ivr.services import Services

TEMPLATES = Path(__file__).parent / "templates"
TREND_MONTHS = 12


@dataclass(frozen=True)
class MonthlyReport:
    """A report and the satisfaction trend that ends with it."""

    report: dict[str, Any]
    trend: list[tuple[str, float | None]]  # (YYYY-MM, satisfied share)

    @property
    def period(self) -> str:
        """The period as a title says it ('2026-11-01 to 2026-11-30', 'from 2026-11-01', ...)."""
        return period_label(self.report["period"])

    @property
    def scope(self) -> str:
        """Which cases the report counts, as a sentence."""
        return period_sentence(self.report["period"])

    def figures(self) -> list[tuple[str, Any]]:
        names = HEADLINE + (DEADLINE if "deadline_passed" in self.report else ())
        return [(name, _shown(name, self.report[name])) for name in names]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if name in RATES else str(value)


def _months_back(end: date, count: int) -> list[str]:
    year, month = end.year, end.month
    labels = []
    for _ in range(count):
        labels.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(labels))


def monthly_report(
    session: Session,
    services: Services,
    campaign: Campaign,
    *,
    start: date | None,
    end: date | None,
    by: str | None = None,
) -> MonthlyReport:
    """The report of [start, end] and the satisfaction trend of the 12 months up to `end`."""
    report = build_report(session, services, campaign, start=start, end=end, by=by)
    last = end or services.clock().date()
    trend = []
    for label in _months_back(last, TREND_MONTHS):
        first_day, last_day = month_period(label)
        month = build_report(session, services, campaign, start=first_day, end=last_day)
        trend.append((label, month["satisfaction_rate"]))
    return MonthlyReport(report, trend)


def to_html(monthly: MonthlyReport) -> str:
    """A self-contained page (charts inline as SVG), printable to PDF from any browser."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
    )
    r = monthly.report
    groups = [
        (key, [_shown(name, figures[name]) for name, _ in GROUP_COLUMNS])
        for key, figures in r.get("groups", {}).items()
    ]
    satisfaction = [(q, s) for q, s in r["satisfaction"].items() if s["rated"]]
    chart_svgs = [charts.reach_by_hour(r["reach_by_hour"])]
    if any(value is not None for _, value in monthly.trend):
        chart_svgs.append(charts.satisfaction_trend(monthly.trend))
    if r["escalations"]:
        chart_svgs.append(charts.escalations_by_reason(r["escalations"], r["sla"]))
    return environment.get_template("monthly.html").render(
        r=r,
        as_of=datetime.fromisoformat(r["as_of"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        period=monthly.period,
        scope=monthly.scope,
        figures=monthly.figures(),
        groups=groups,
        group_columns=GROUP_COLUMNS,
        satisfaction=satisfaction,
        charts=chart_svgs,
        pct=lambda rate: "n/a" if rate is None else f"{rate:.1%}",
    )


def to_xlsx(monthly: MonthlyReport) -> bytes:
    """A workbook: Figures (against targets), groups, satisfaction, escalations, hours, trend.
    Rates are numbers formatted as percentages, so the spreadsheet can compute with them."""
    r = monthly.report
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Figures"
    sheet.append(["campaign", r["campaign"]])
    sheet.append(["period", monthly.period])
    sheet.append(["as of", r["as_of"]])
    sheet.append([])
    _header(sheet, ["figure", "value", "target", "met"])
    names = HEADLINE + (DEADLINE if "deadline_passed" in r else ())
    for name in names:
        target = r["targets"].get(name)
        sheet.append(
            [
                name,
                r[name],
                None if target is None else target["target"],
                None if target is None else target["met"],
            ]
        )
        if name in RATES:
            for cell in sheet[sheet.max_row][1:3]:
                cell.number_format = "0.0%"
    if "groups" in r:
        groups = book.create_sheet(f"By {r['by']}")
        _header(groups, [r["by"], *names])
        for key, figures in r["groups"].items():
            groups.append([key, *(figures[name] for name in names)])
    ratings = book.create_sheet("Satisfaction")
    _header(ratings, ["question", "1", "2", "3", "4", "5", "rated", "satisfied share"])
    for question, s in r["satisfaction"].items():
        d = s["distribution"]
        ratings.append([question, *(d[v] for v in "12345"), s["rated"], s["satisfied_share"]])
    escalations = book.create_sheet("Escalations")
    _header(escalations, ["reason", "raised", "SLA met", "missed", "pending"])
    for reason, count in r["escalations"].items():
        sla = r["sla"][reason]
        escalations.append([reason, count, sla["met"], sla["missed"], sla["pending"]])
    staff = book.create_sheet("Staff")
    _header(staff, ["user", "resolved", "SLA met", "missed", "callbacks", "reached customer"])
    for name, did in r["staff"].items():
        staff.append(
            [
                name,
                did["resolved"],
                did["sla_met"],
                did["sla_missed"],
                did["callbacks"],
                did["callbacks_completed"],
            ]
        )
    hours = book.create_sheet("Reach by hour")
    _header(hours, ["hour", "calls", "reached", "reach rate"])
    for row in r["reach_by_hour"]:
        hours.append([row["hour"], row["attempts"], row["reached"], row["reach_rate"]])
    trend = book.create_sheet("Satisfaction trend")
    _header(trend, ["month", "satisfied share"])
    for label, value in monthly.trend:
        trend.append([label, value])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _header(sheet: Any, names: list[str]) -> None:
    sheet.append(names)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)


def write_export(monthly: MonthlyReport, path: Path) -> None:
    """Write the report to path; its suffix picks the kind (.xlsx or .html)."""
    if path.suffix == ".xlsx":
        path.write_bytes(to_xlsx(monthly))
    elif path.suffix == ".html":
        path.write_text(to_html(monthly), encoding="utf-8")
    else:
        raise ValueError(f"cannot export to {path.name}: use .xlsx or .html")
