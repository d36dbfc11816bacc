"""The supervisor's campaign pages: the list, one campaign's figures, pause/resume, CSV import.

GET  /console/campaigns                     every campaign with its status and case counts
GET  /console/campaigns/<name>              progress today, rates and escalations (build_report)
POST /console/campaigns/<name>/pause        CampaignStatus.PAUSED: the dialler claims nothing
POST /console/campaigns/<name>/resume       CampaignStatus.ACTIVE
POST /console/campaigns/<name>/import       multipart CSV, the importer of `ivr cases import`

The upload is bounded by the app's MAX_CONTENT_LENGTH (IVR_MAX_BODY_BYTES): a larger file is
refused with 413 before any of it is read.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

import ivr.console.supervisor_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.campaigns.options import campaign_config
from ivr.campaigns.service import CampaignError
from ivr.cases.csv_rows import CsvFormatError
from ivr.cases.importer import ImportReport, import_cases
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.console.supervisor_pages import MANAGERS
from ivr.models import Attempt, Campaign, CampaignStatus, Case
from ivr.reports.build import DEADLINE, HEADLINE, MONTH, build_report, month_period
from ivr.reports.case_counts import CaseCounts, case_counts

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 200


@dataclass(frozen=True)
class Today:
    """A campaign's calls on the current day of its time zone."""

    day: date
    zone: str
    called: int  #: cases with an attempt placed today
    reached: int  #: of those, cases with an attempt that reached the contact


def _campaign(session: Session, name: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        abort(404)
    return campaign


def progress_today(session: Session, campaign: Campaign, now: datetime) -> Today:
    """Cases called and reached since local midnight, in the campaign's time zone."""
    zone_name = campaign_config(campaign.options).timezone
    zone = ZoneInfo(zone_name)
    day = now.astimezone(zone).date()
    # Midnight to midnight in local time: 23 or 25 hours on a DST change, so computed from the
    # local dates rather than now minus 24 hours.
    start = datetime.combine(day, time(), zone).astimezone(now.tzinfo)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(now.tzinfo)
    today = (
        select(Attempt.case_id)
        .join(Case, Attempt.case_id == Case.id)
        .where(
            Case.campaign_id == campaign.id,
            Attempt.placed_at >= start,
            Attempt.placed_at < end,
        )
    )
    called = session.scalar(select(func.count(func.distinct(today.subquery().c.case_id))))
    reached_q = today.where(Attempt.reached.is_(True)).subquery()
    reached = session.scalar(select(func.count(func.distinct(reached_q.c.case_id))))
    return Today(day, zone_name, called or 0, reached or 0)


@bp.get("/campaigns")
@console_page(*MANAGERS)
def campaigns() -> str:
    """Every campaign, its status and case counts (as `ivr campaigns list`)."""
    with current_services().sessions() as session:
        counts = case_counts(session)
        rows = [
            (campaign, counts.get(campaign.id, CaseCounts()))
            for campaign in session.scalars(select(Campaign).order_by(Campaign.name))
        ]
        session.expunge_all()
    return render_template("supervisor/campaigns.html", rows=rows)


def _month() -> str | None:
    """The report's month from ?month=YYYY-MM (a browser's month input); None: every case."""
    month = request.args.get("month", "").strip()
    if not month:
        return None
    if not MONTH.fullmatch(month):
        flash(t("sv_bad_month"), "error")
        return None
    return month


# The report's figures, in the order of `ivr report`'s table; a deadline campaign's come last
# (absent from the others' reports, so skipped there).
SHOWN = HEADLINE + DEADLINE


def _render_campaign(name: str, report: ImportReport | None = None, status: int = 200) -> Any:
    services = current_services()
    month = _month()
    start, end = month_period(month) if month else (None, None)
    with services.sessions() as session:
        campaign = _campaign(session, name)
        figures = build_report(session, services, campaign, start=start, end=end)
        today = progress_today(session, campaign, services.clock())
        session.expunge(campaign)
    errors = [] if report is None else report.errors[:MAX_ERRORS_SHOWN]
    page = render_template(
        "supervisor/campaign.html",
        campaign=campaign,
        figures=figures,
        month=month,
        shown=[key for key in SHOWN if key in figures],
        today=today,
        report=report,
        errors=errors,
        more_errors=0 if report is None else len(report.errors) - len(errors),
    )
    return page, status


@bp.get("/campaigns/<name>")
@console_page(*MANAGERS)
def campaign_page(name: str) -> Any:
    """One campaign: today's progress, its rates, escalations by reason, pause and import."""
    return _render_campaign(name)


def _set_status(name: str, status: CampaignStatus) -> Response:
    services = current_services()
    with services.sessions.begin() as session:
        campaign = _campaign(session, name)
        campaign.status = status
    log.info(
        "campaign status set",
        extra={
            "action": f"campaign.{'paused' if status == CampaignStatus.PAUSED else 'resumed'}",
            "campaign_id": campaign.id,
            "actor": signed_in().username,
        },
    )
    flash(t("sv_paused_ok" if status == CampaignStatus.PAUSED else "sv_resumed_ok"), "ok")
    return redirect(url_for("console.campaign_page", name=name))


@bp.post("/campaigns/<name>/pause")
@console_page(*MANAGERS)
def pause_campaign(name: str) -> Response:
    """Stop dialling this campaign's cases (calls in flight finish)."""
    return _set_status(name, CampaignStatus.PAUSED)


@bp.post("/campaigns/<name>/resume")
@console_page(*MANAGERS)
def resume_campaign(name: str) -> Response:
    """Dial this campaign's due cases again."""
    return _set_status(name, CampaignStatus.ACTIVE)


@bp.post("/campaigns/<name>/import")
@console_page(*MANAGERS)
def import_campaign_cases(name: str) -> Any:
    """Import an uploaded CSV; the page shows the counts and each bad line with its number."""
    services = current_services()
    with services.sessions() as session:
        campaign_id = _campaign(session, name).id
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(t("sv_no_file"), "error")
        return _render_campaign(name, status=400)
    try:
        # utf-8-sig drops the BOM spreadsheet programs write; newline="" as the csv module wants.
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(t("sv_not_utf8"), "error")
        return _render_campaign(name, status=400)
    try:
        report = import_cases(
            services.sessions,
            campaign_id,
            io.StringIO(text, newline=""),
            now=services.clock(),
            secret_key=services.settings.secret_key or None,
        )
    except (CsvFormatError, CampaignError) as exc:
        flash(f"{t('sv_bad_file')} {exc}", "error")
        return _render_campaign(name, status=400)
    log.info(
        "cases imported from the console",
        extra={
            "action": "console.cases_imported",
            "campaign_id": campaign_id,
            "actor": signed_in().username,
        },
    )
    return _render_campaign(name, report)
