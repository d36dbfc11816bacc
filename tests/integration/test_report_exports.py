"""The monthly report as a workbook and as an HTML page: the same figures as the JSON report."""

from __future__ import annotations

import io
import json
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ivr.db import make_engine, make_sessions
from ivr.models import Campaign, Case
from ivr.reports.monthly import monthly_report, to_html, to_xlsx
from ivr.services import Services
from tests.report_population import NOW, build_ward

INJECTED = '<script>alert("x")</script> Cardiology'


class Cells(HTMLParser):
    """The text of every table cell and how many inline SVG charts a page has."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.svgs = 0
        self.scripts = 0
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")
        self.svgs += tag == "svg"
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data.strip()


def january(sessions: sessionmaker[Session], services: Services) -> Any:
    campaign_id = build_ward(sessions)
    with sessions.begin() as session:
        session.execute(update(Case).where(Case.external_ref == "P-02").values(department=INJECTED))
    services.clock.now = NOW  # type: ignore[attr-defined]
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        return monthly_report(
            session,
            services,
            campaign,
            start=date(2030, 1, 1),
            end=date(2030, 1, 31),
            by="department",
        )


def test_the_workbook_holds_the_reports_figures(
    sessions: sessionmaker[Session], services: Services
) -> None:
    monthly = january(sessions, services)
    book = load_workbook(io.BytesIO(to_xlsx(monthly)))
    assert book.sheetnames == [
        "Figures",
        "By department",
        "Satisfaction",
        "Escalations",
        "Staff",
        "Reach by hour",
        "Satisfaction trend",
    ]
    figures = {row[0]: row[1:] for row in book["Figures"].iter_rows(min_row=5, values_only=True)}
    assert figures["cases"][0] == 5
    assert figures["follow_up_rate"] == (0.75, 0.8, False)
    (rate_row,) = [row for row in book["Figures"].iter_rows() if row[0].value == "follow_up_rate"]
    assert rate_row[1].number_format == "0.0%"
    groups = [row for row in book["By department"].iter_rows(min_row=2, values_only=True)]
    assert {row[0] for row in groups} == {"Cardiology", INJECTED}
    trend = list(book["Satisfaction trend"].iter_rows(min_row=2, values_only=True))
    assert len(trend) == 12 and trend[-1] == ("2030-01", 0.5)


def test_the_page_shows_the_figures_escapes_the_data_and_draws_three_charts(
    sessions: sessionmaker[Session], services: Services
) -> None:
    page = to_html(january(sessions, services))
    parsed = Cells()
    parsed.feed(page)
    assert parsed.scripts == 0 and INJECTED not in page  # a department name is data, not markup
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Cardiology" in page
    cells = parsed.cells
    assert cells[cells.index("follow up rate") + 1] == "75.0%"
    assert "80 %" in cells[cells.index("follow up rate") + 2]
    assert parsed.svgs >= 3  # reach by hour, satisfaction trend, escalations by reason
    assert "Cases with anchor dates from 2030-01-01 to 2030-01-31; figures as of" in page


def test_ivr_report_exports_to_a_file_and_refuses_other_kinds(
    ivr: Any, env: dict[str, str], tmp_path: Path
) -> None:
    assert ivr("db", "upgrade").exit_code == 0
    engine = make_engine(env["IVR_DATABASE_URL"])
    build_ward(make_sessions(engine))
    engine.dispose()

    target = tmp_path / "january.xlsx"
    args = ("report", "--campaign", "ward-7", "--month", "2030-01")
    shown = ivr(*args, "--format", "json", "--export", str(target))
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["cases"] == 5
    assert load_workbook(target)["Figures"]["B5"].value == "value"
    page = tmp_path / "january.html"
    assert ivr(*args, "--export", str(page)).exit_code == 0
    assert "<svg" in page.read_text(encoding="utf-8")
    refused = ivr(*args, "--export", str(tmp_path / "january.pdf"))
    assert refused.exit_code == 2 and ".xlsx or .html" in refused.output
