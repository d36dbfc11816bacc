"""The campaign page's report split by a group (?by=) and downloaded as a workbook or a page with
charts: the report builder's own figures for the report tests' known population (ward 7's
January), the same access as the page, and clear answers to a bad month or grouping; through the
Flask test client on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Campaign, StaffRole
from ivr.reports.build import GROUP_COLUMNS, build_report
from ivr.reports.scope import GROUPS
from ivr.services import Services
from tests import factories
from tests.conftest import FakeClock
from tests.console.support import sign_in
from tests.console.test_agent_queue import add_staff
from tests.integration.test_report_exports import Cells
from tests.report_population import NOW, build_ward

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

PAGE = "/console/campaigns/ward-7"
JANUARY = {"month": "2030-01"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Ward:
    """ward-7's known population (five January discharges, one in December) and ward-9 (empty).

    sue supervises, adam administers, cora is compliance; ann is an agent of ward-7 and cara of
    ward-9.
    """

    app: Flask


@pytest.fixture
def ward(settings: Settings, services: Services, clock: FakeClock) -> Ward:
    """The report tests' population, the staff, and the app, at the report tests' NOW."""
    ward7_id = build_ward(services.sessions)
    clock.now = NOW
    with services.sessions.begin() as session:
        ward9 = factories.campaign(session, NOW, name="ward-9")
        add_staff(session, NOW, "sue", StaffRole.SUPERVISOR)
        add_staff(session, NOW, "adam", StaffRole.ADMIN)
        add_staff(session, NOW, "cora", StaffRole.COMPLIANCE)
        add_staff(session, NOW, "ann", StaffRole.AGENT, campaign_id=ward7_id)
        add_staff(session, NOW, "cara", StaffRole.AGENT, campaign_id=ward9.id)
    return Ward(create_app(settings, services=services))


def client_of(ward: Ward, username: str | None) -> FlaskClient:
    """A browser signed in as this user (None: nobody signed in)."""
    client = ward.app.test_client()
    if username is not None:
        assert 302 == sign_in(client, username).status_code
    return client


def builders_report(
    sessions: sessionmaker[Session], services: Services, by: str | None
) -> dict[str, Any]:
    """ward-7's January report as the report builder makes it for the CLI and the API."""
    with sessions() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == "ward-7")).one()
        return build_report(
            session, services, campaign, start=date(2030, 1, 1), end=date(2030, 1, 31), by=by
        )


def as_shown(key: str, value: Any) -> str:
    """A figure as the page writes it: rates in per cent, other fractions to two places."""
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}%"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


class GroupTable(HTMLParser):
    """The header and the rows of the page's per-group table (table#groups), as text."""

    def __init__(self) -> None:
        super().__init__()
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table" and ("id", "groups") in attrs:
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("th", "td"):
            self._cell = self.rows[-1]
            self._cell.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif tag in ("th", "td"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[-1] += data.strip()

    @classmethod
    def of(cls, page: str) -> GroupTable:
        """The table of this page (no rows when it has none)."""
        table = cls()
        table.feed(page)
        if table.rows:
            table.header, table.rows = table.rows[0], table.rows[1:]
        return table


def figure(page: str, key: str) -> str:
    """The value cell of one of the whole campaign's figures."""
    start = page.index(f'<tr id="figure-{key}">')
    cell = page.index("<td", start)
    return page[page.index(">", cell) + 1 : page.index("</td>", cell)].strip()


def test_split_by_doctor_each_group_has_the_report_builders_figures(
    ward: Ward, sessions: sessionmaker[Session], services: Services
) -> None:
    """?by=doctor: a row per doctor (and one for the cases without), the `ivr report --by`
    table's columns in its order, each figure the builder's."""
    answer = client_of(ward, "sue").get(
        PAGE, query_string={**JANUARY, "by": "doctor", "lang": "en"}
    )
    page = answer.get_data(as_text=True)
    expected = builders_report(sessions, services, "doctor")
    table = GroupTable.of(page)

    assert 200 == answer.status_code
    assert ["(none)", "Dr A", "Dr B"] == sorted(expected["groups"])
    assert [
        "Doctor",
        "Cases",
        "Excluded",
        "Called",
        "Reached (a person answered)",
        "Survey finished",
        "Follow-up rate",
        "Reach rate (effective)",
        "Satisfied",
    ] == table.header
    assert [
        [key, *(as_shown(column, figures[column]) for column, _ in GROUP_COLUMNS)]
        for key, figures in expected["groups"].items()
    ] == table.rows
    assert ["(none)", "1", "0", "0", "0", "0", "0.0%", "0.0%", "—"] == table.rows[0]
    assert ["Dr A", "2", "1", "1", "1", "1", "100.0%", "100.0%", "100.0%"] == table.rows[1]
    assert "5" == figure(page, "cases")  # the whole campaign's figures stay above the groups
    assert '<option value="doctor" selected>' in page


def test_the_picker_offers_the_report_builders_groupings_named_in_both_languages(
    ward: Ward,
) -> None:
    """The select lists none, then every key `ivr report --by` takes, each with its own name."""
    client = client_of(ward, "sue")
    for lang, department in (("en", "Department"), ("zh", "科室")):
        page = client.get(PAGE, query_string={"lang": lang}).get_data(as_text=True)
        offered = [
            line.split('"')[1] for line in page.splitlines() if line.strip().startswith("<option")
        ]
        assert ["", *GROUPS] == offered
        assert f'<option value="department">{department}</option>' in page
        assert "sv_by_" not in page  # every grouping has a text: none shows its key


def test_the_cases_without_the_value_are_named_in_chinese(ward: Ward) -> None:
    """The group of cases with no doctor on the list reads 未填写 (not filled in) in Chinese."""
    page = client_of(ward, "sue").get(PAGE, query_string={**JANUARY, "by": "doctor", "lang": "zh"})
    shown = GroupTable.of(page.get_data(as_text=True)).rows[0][0]
    assert "（未填写）" == shown  # noqa: RUF001 (Chinese brackets)


def test_a_month_without_cases_split_by_a_group_says_so(ward: Ward) -> None:
    """March 2030 has no case: no group rows, a line saying there is none."""
    query = {"month": "2030-03", "by": "doctor", "lang": "en"}
    page = client_of(ward, "sue").get(PAGE, query_string=query).get_data(as_text=True)
    assert "No case in this period." in page
    assert "0" == figure(page, "cases")


def test_an_unknown_grouping_is_said_and_the_whole_campaign_is_shown(ward: Ward) -> None:
    """?by=colour: 200, a message naming it, the ungrouped figures and no per-group table."""
    answer = client_of(ward, "sue").get(
        PAGE, query_string={**JANUARY, "by": "colour", "lang": "en"}
    )
    page = answer.get_data(as_text=True)

    assert 200 == answer.status_code
    assert "The figures cannot be split by “colour”" in page
    assert "The figures below are for the whole campaign." in page
    assert "5" == figure(page, "cases")
    assert 'id="groups"' not in page
    assert '<option value="" selected>' in page


def test_an_unknown_grouping_with_markup_is_shown_as_text(ward: Ward) -> None:
    """A by= value is data: its markup is escaped in the message."""
    page = client_of(ward, "sue").get(PAGE, query_string={"by": "<b>x</b>", "lang": "en"})
    text = page.get_data(as_text=True)
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_the_page_links_its_downloads_with_its_month_and_grouping(ward: Ward) -> None:
    """The two links carry the month and the grouping the page shows (a bad one is dropped)."""
    client = client_of(ward, "sue")
    page = client.get(PAGE, query_string={**JANUARY, "by": "ward"}).get_data(as_text=True)
    assert f'href="{PAGE}/report.xlsx?month=2030-01&amp;by=ward"' in page
    assert f'href="{PAGE}/report.html?month=2030-01&amp;by=ward"' in page
    page = client.get(PAGE, query_string={"month": "Jan", "by": "colour"}).get_data(as_text=True)
    assert f'href="{PAGE}/report.xlsx"' in page


def test_the_workbook_download_holds_the_report_builders_figures(
    ward: Ward, sessions: sessionmaker[Session], services: Services
) -> None:
    """report.xlsx?month=2030-01&by=doctor: an attachment openpyxl opens, with the figures."""
    answer = client_of(ward, "sue").get(
        f"{PAGE}/report.xlsx", query_string={**JANUARY, "by": "doctor"}
    )
    expected = builders_report(sessions, services, "doctor")

    assert 200 == answer.status_code
    assert XLSX == answer.mimetype
    assert (
        "attachment; filename=report-ward-7-2030-01-by-doctor.xlsx"
        == (answer.headers["Content-Disposition"])
    )
    assert "no-store" == answer.headers["Cache-Control"]
    book = load_workbook(io.BytesIO(answer.data))
    figures = {row[0]: row[1] for row in book["Figures"].iter_rows(min_row=6, values_only=True)}
    assert (5, 0.75) == (figures["cases"], figures["follow_up_rate"])
    assert expected["cases"] == figures["cases"]
    groups = {row[0]: row[1] for row in book["By doctor"].iter_rows(min_row=2, values_only=True)}
    assert {key: g["cases"] for key, g in expected["groups"].items()} == groups


def test_the_page_download_has_the_figures_and_its_charts(ward: Ward) -> None:
    """report.html?month=2030-01: an HTML attachment with the figures and three SVG charts."""
    answer = client_of(ward, "adam").get(f"{PAGE}/report.html", query_string=JANUARY)
    parsed = Cells()
    parsed.feed(answer.get_data(as_text=True))

    assert 200 == answer.status_code
    assert "text/html; charset=utf-8" == answer.headers["Content-Type"]
    assert (
        "attachment; filename=report-ward-7-2030-01.html" == (answer.headers["Content-Disposition"])
    )
    assert "75.0%" == parsed.cells[parsed.cells.index("follow up rate") + 1]
    assert 3 == parsed.svgs  # reach by hour, satisfaction trend, escalations by reason


def test_a_download_without_a_month_reports_every_case(ward: Ward) -> None:
    """No month: every case (six, December's too), in a file named for all dates."""
    answer = client_of(ward, "sue").get(f"{PAGE}/report.xlsx")
    book = load_workbook(io.BytesIO(answer.data))
    figures = {row[0]: row[1] for row in book["Figures"].iter_rows(min_row=6, values_only=True)}
    assert "attachment; filename=report-ward-7-all.xlsx" == answer.headers["Content-Disposition"]
    assert 6 == figures["cases"]


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("ann", 403),  # an agent of this campaign works its queue, not its report
        ("cara", 403),  # an agent of another campaign
        ("cora", 403),  # compliance officers read calls and the audit log, not this page
        (None, 302),  # nobody signed in: to the sign-in page
    ],
)
def test_downloads_are_refused_as_the_page_is(
    ward: Ward, username: str | None, status: int
) -> None:
    """Whoever may not open the campaign page gets the same answer for its downloads."""
    client = client_of(ward, username)
    answers = [
        client.get(path, query_string=JANUARY)
        for path in (PAGE, f"{PAGE}/report.xlsx", f"{PAGE}/report.html")
    ]
    assert [status] * 3 == [answer.status_code for answer in answers]
    assert all(
        "attachment" not in answer.headers.get("Content-Disposition", "") for answer in answers
    )
    if status == 302:
        assert all("/console/sign-in" in (answer.location or "") for answer in answers)


def test_a_download_of_an_unknown_campaign_is_not_found(ward: Ward) -> None:
    """No campaign of that name: 404, as for its page."""
    client = client_of(ward, "sue")
    assert 404 == client.get("/console/campaigns/nope/report.xlsx").status_code
    assert 404 == client.get("/console/campaigns/nope").status_code


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"month": "2030-13"}, "A month is written like 2026-11."),
        ({"month": "Jan"}, "A month is written like 2026-11."),
        # 2030-01 in Arabic-Indic digits, which Python's \d would take
        ({"month": "\u0662\u0660\u0663\u0660-\u0660\u0661"}, "A month is written like 2026-11."),
        ({"by": "colour"}, "The figures cannot be split by “colour”"),
    ],
)
def test_a_download_for_a_bad_month_or_grouping_is_a_400_saying_why(
    ward: Ward, query: dict[str, str], message: str
) -> None:
    """A download has no page to show a message beside: 400, with the reason on the error page."""
    for kind in ("xlsx", "html"):
        answer = client_of(ward, "sue").get(
            f"{PAGE}/report.{kind}", query_string={**query, "lang": "en"}
        )
        assert 400 == answer.status_code
        assert "attachment" not in answer.headers.get("Content-Disposition", "")
        assert message in answer.get_data(as_text=True)
