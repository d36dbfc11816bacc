"""The campaign page's report as files, the same ones `ivr report --export` writes.

GET /console/campaigns/<name>/report.xlsx[?month=YYYY-MM&by=GROUP]   the workbook (openpyxl)
GET /console/campaigns/<name>/report.html[?month=YYYY-MM&by=GROUP]   the page with SVG charts

Both are built by ivr.reports.monthly, as for the CLI, and sent as attachments named after the
campaign, month and grouping (report-ward-7-2026-11-by-doctor.xlsx). Who may download is who may
open the campaign page: supervisors and administrators (others 403, the sign-in page for nobody),
an unknown campaign 404. A download has no page to say a mistake on, so a malformed month or an
unknown grouping is a 400 naming it, where the page shows its figures without it.
"""

from __future__ import annotations

import io
import logging

from flask import abort, request, send_file
from werkzeug.wrappers import Response

import ivr.console.supervisor_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.campaign_pages import campaign_or_404
from ivr.console.i18n import t
from ivr.console.report_choice import ReportChoice
from ivr.console.supervisor_pages import MANAGERS

log = logging.getLogger(__name__)

# Werkzeug adds "; charset=utf-8" to a text/ type itself (the page is encoded as UTF-8).
MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
}


# Two fixed rules rather than one `report.<any(xlsx, html):kind>`: a URL is built for either
# from the campaign's name alone.
@bp.get("/campaigns/<name>/report.xlsx", defaults={"kind": "xlsx"})
@bp.get("/campaigns/<name>/report.html", defaults={"kind": "html"})
@console_page(*MANAGERS)
def campaign_report_file(name: str, kind: str) -> Response:
    """The campaign's report for ?month= and ?by=, as a workbook or a page with charts."""
    choice = ReportChoice.from_args(request.args)
    if choice.bad_month is not None:
        abort(400, description=t("sv_bad_month"))
    if choice.bad_by is not None:
        abort(400, description=t("sv_bad_by_download").format(value=choice.bad_by))
    # matplotlib and openpyxl load with the first download, not with every web worker.
    from ivr.reports.monthly import monthly_report, to_html, to_xlsx

    services = current_services()
    start, end = choice.period
    with services.sessions() as session:
        campaign = campaign_or_404(session, name)
        monthly = monthly_report(session, services, campaign, start=start, end=end, by=choice.by)
        campaign_id = campaign.id
    body = to_xlsx(monthly) if kind == "xlsx" else to_html(monthly).encode("utf-8")
    log.info(
        "report downloaded from the console",
        extra={
            "action": "console.report_downloaded",
            "campaign_id": campaign_id,
            "actor": signed_in().username,
            "kind": kind,
        },
    )
    return send_file(
        io.BytesIO(body),
        mimetype=MIMETYPES[kind],
        as_attachment=True,
        download_name=choice.filename(name, kind),
    )
