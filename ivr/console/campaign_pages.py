"""The supervisor's campaign pages: the list, one campaign's figures, pause/resume, CSV import.

GET  /console/campaigns                     every campaign with its status and case counts
GET  /console/campaigns/<name>              progress today, rates and escalations (build_report),
                                            for ?month=YYYY-MM and split by ?by=GROUP
POST /console/campaigns/<name>/pause        CampaignStatus.PAUSED: the dialler claims nothing
POST /console/campaigns/<name>/resume       CampaignStatus.ACTIVE
POST /console/campaigns/<name>/import       multipart CSV, the importer of `ivr cases import`

The report's downloads (the workbook and the page with charts) are in campaign_downloads.py.
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
from ivr.console.report_choice import ReportChoice
from ivr.console.supervisor_pages import MANAGERS
from ivr.models import Attempt, Campaign, CampaignStatus, Case
from ivr.reports.build import DEADLINE, GROUP_COLUMNS, HEADLINE, build_report
from ivr.reports.case_counts import CaseCounts, case_counts
from ivr.reports.counts import NONE
from ivr.reports.scope import GROUPS

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 200


@dataclass(frozen=True)
class Today:
    """A campaign's calls on the current day of its time zone."""

    day: date
    zone: str
    called: int  #: cases with an attempt placed today
    reached: int  #: of those, cases with an attempt that reached the contact


def campaign_or_404(session: Session, name: str) -> Campaign:
    """The campaign with this name; abort(404) when there is none."""
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


# The report's figures, in the order of `ivr report`'s table; a deadline campaign's come last
# (absent from the others' reports, so skipped there). Split by a group, each group's row has the
# columns of `ivr report --by`'s table (GROUP_COLUMNS), in its order.
SHOWN = HEADLINE + DEADLINE


def _render_campaign(name: str, report: ImportReport | None = None, status: int = 200) -> Any:
    services = current_services()
    choice = ReportChoice.from_args(request.args)
    if choice.bad_month is not None:
        flash(t("sv_bad_month"), "error")
    if choice.bad_by is not None:
        flash(t("sv_bad_by").format(value=choice.bad_by), "error")
    start, end = choice.period
    with services.sessions() as session:
        campaign = campaign_or_404(session, name)
        figures = build_report(session, services, campaign, start=start, end=end, by=choice.by)
        today = progress_today(session, campaign, services.clock())
        session.expunge(campaign)
    errors = [] if report is None else report.errors[:MAX_ERRORS_SHOWN]
    page = render_template(
        "supervisor/campaign.html",
        campaign=campaign,
        figures=figures,
        choice=choice,
        groups=GROUPS,
        no_value=NONE,
        shown=[key for key in SHOWN if key in figures],
        group_columns=[key for key, _ in GROUP_COLUMNS],
        today=today,
        report=report,
        errors=errors,
        more_errors=0 if report is None else len(report.errors) - len(errors),
    )
    return page, status


@bp.get("/campaigns/<name>")
@console_page(*MANAGERS)
def campaign_page(name: str) -> Any:
    """One campaign: today's progress, its rates (whole or per group), escalations by reason,
    pause and import."""
    return _render_campaign(name)


def _set_status(name: str, status: CampaignStatus) -> Response:
    services = current_services()
    with services.sessions.begin() as session:
        campaign = campaign_or_404(session, name)
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
        campaign_id = campaign_or_404(session, name).id
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
