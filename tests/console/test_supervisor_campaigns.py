"""The supervisor's campaign pages: the list and figures, pause and resume (and the dialler
honouring them), CSV import from the browser with its per-line errors, CSRF and escaping;
through the Flask test client on SQLite and PostgreSQL (the world of test_agent_queue.py)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from ivr.config import Settings
from ivr.models import Attempt, Campaign, CampaignStatus, Case
from ivr.services import Services
from scheduler.claims import Search, claim_batch
from scheduler.pass_report import PassReport
from tests.conftest import FakeClock
from tests.console.support import form_token
from tests.console.test_agent_queue import (
    World,
    build_world,
    client_of,
)
from tests.factories import FICTIONAL_PHONES

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The world of the agent's queue tests (two wards, their staff, three escalations)."""
    return build_world(settings, services, clock)


HEADER = "external_ref,name,phone,discharge_date,department,ward\n"


def status_of(services: Services, name: str) -> CampaignStatus:
    with services.sessions() as session:
        return session.scalars(select(Campaign.status).where(Campaign.name == name)).one()


def attempts_in(services: Services, name: str) -> int:
    """How many attempts the dialler has written for a campaign's cases."""
    with services.sessions() as session:
        return (
            session.scalar(
                select(func.count(Attempt.id))
                .join(Case, Attempt.case_id == Case.id)
                .join(Campaign, Case.campaign_id == Campaign.id)
                .where(Campaign.name == name)
            )
            or 0
        )


def cases_in(services: Services, name: str) -> set[str]:
    with services.sessions() as session:
        return set(
            session.scalars(select(Case.external_ref).join(Campaign).where(Campaign.name == name))
        )


def claim_pass(services: Services) -> None:
    """One claim pass of the dialler (the calls are not placed: no telephony here)."""
    claim_batch(services, PassReport(), Search(), 50)


def upload(client: FlaskClient, name: str, text: str, *, token: bool = True) -> TestResponse:
    """POST a CSV file to the campaign's import form, as a browser's multipart upload."""
    data: dict[str, object] = {"file": (io.BytesIO(text.encode("utf-8-sig")), "cases.csv")}
    if token:
        data["csrf_token"] = form_token(client.get(f"/console/campaigns/{name}"))
    return client.post(
        f"/console/campaigns/{name}/import", data=data, content_type="multipart/form-data"
    )


def test_the_campaign_list_shows_status_and_counts(world: World) -> None:
    """Both wards are listed, active, with their case counts and a link to their page."""
    page = client_of(world, "sue").get("/console/campaigns?lang=en").get_data(as_text=True)
    assert 'href="/console/campaigns/ward-7"' in page and 'href="/console/campaigns/ward-9"' in page
    assert "active" in page


def test_the_campaign_page_shows_today_rates_and_escalations(
    world: World, services: Services
) -> None:
    """A call placed and reached today counts in today's progress; escalations by reason."""
    now = services.clock()
    with services.sessions.begin() as session:
        case = session.scalars(select(Case).where(Case.external_ref == "P-1")).one()
        session.add(
            Attempt(
                case_id=case.id,
                number=1,
                language="zh-CN",
                reached=True,
                created_at=now - timedelta(minutes=5),
                placed_at=now - timedelta(minutes=5),
            )
        )
    page = client_of(world, "sue").get("/console/campaigns/ward-7?lang=en").get_data(as_text=True)
    assert '<td id="called-today">1</td>' in page
    assert '<td id="reached-today">1</td>' in page
    assert "Asia/Shanghai" in page
    assert "clinical_concern" in page and "SLA missed" in page


def test_pause_then_resume_and_the_dialler_honours_it(world: World, services: Services) -> None:
    """Paused, ward-9's due case is not claimed by a claim pass (ward-7's is); resumed, it is."""
    with services.sessions.begin() as session:
        # Its own number: the world's cases share one, and a number in a call is not dialled.
        session.get_one(Case, world.o1_case).contact.phone = FICTIONAL_PHONES[60]
    client = client_of(world, "sue")
    token = form_token(client.get("/console/campaigns/ward-9"))
    answer = client.post("/console/campaigns/ward-9/pause", data={"csrf_token": token})
    assert 302 == answer.status_code
    assert CampaignStatus.PAUSED == status_of(services, "ward-9")
    claim_pass(services)
    assert (1, 0) == (attempts_in(services, "ward-7"), attempts_in(services, "ward-9"))
    assert "Resume calling" in client.get("/console/campaigns/ward-9?lang=en").get_data(
        as_text=True
    )
    answer = client.post("/console/campaigns/ward-9/resume", data={"csrf_token": token})
    assert CampaignStatus.ACTIVE == status_of(services, "ward-9")
    claim_pass(services)
    assert 1 == attempts_in(services, "ward-9")


def test_pause_without_the_csrf_token_is_refused(world: World, services: Services) -> None:
    """No token: 400 and the campaign stays active."""
    answer = client_of(world, "sue").post("/console/campaigns/ward-7/pause")
    assert 400 == answer.status_code
    assert CampaignStatus.ACTIVE == status_of(services, "ward-7")


def test_csv_upload_lists_bad_lines_and_imports_the_good_ones(
    world: World, services: Services
) -> None:
    """Lines 3 and 5 are wrong (phone, date); N-1 and N-3 are imported; the page says both."""
    rows = [
        f"N-1,Test Patient 1,{FICTIONAL_PHONES[1]},2030-01-05,Cardiology,3B",
        "N-2,Test Patient 2,not-a-phone,2030-01-05,Cardiology,3B",
        f"N-3,Test Patient 3,{FICTIONAL_PHONES[3]},2030-01-05,Cardiology,3B",
        f"N-4,Test Patient 4,{FICTIONAL_PHONES[4]},not-a-date,Cardiology,3B",
    ]
    client = client_of(world, "sue")
    client.get("/console/all?lang=en")
    answer = upload(client, "ward-7", HEADER + "\n".join(rows) + "\n")
    page = answer.get_data(as_text=True)
    assert 200 == answer.status_code
    assert '<strong id="imported">2</strong>' in page
    assert '<tr class="import-error"><td>3</td><td>N-2</td>' in page
    assert '<tr class="import-error"><td>5</td><td>N-4</td>' in page
    assert {"N-1", "N-3"} <= cases_in(services, "ward-7")
    assert not {"N-2", "N-4"} & cases_in(services, "ward-7")


def test_a_script_in_a_csv_cell_is_escaped(world: World) -> None:
    """A bad line's reference <script>... is shown as text, not run."""
    row = "<script>alert(1)</script>,Test Patient,not-a-phone,2030-01-05,Cardiology,3B\n"
    page = upload(client_of(world, "sue"), "ward-7", HEADER + row).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_import_without_the_csrf_token_is_refused(world: World, services: Services) -> None:
    """No token: 400 and no case is added."""
    row = f"N-9,Test Patient 9,{FICTIONAL_PHONES[9]},2030-01-05,Cardiology,3B\n"
    answer = upload(client_of(world, "sue"), "ward-7", HEADER + row, token=False)
    assert 400 == answer.status_code
    assert "N-9" not in cases_in(services, "ward-7")


def test_a_file_that_is_not_utf8_is_refused_with_a_message(world: World) -> None:
    """GB18030 bytes: 400 and the page says the file is not UTF-8."""
    client = client_of(world, "sue")
    token = form_token(client.get("/console/campaigns/ward-7?lang=en"))
    answer = client.post(
        "/console/campaigns/ward-7/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO((HEADER + "N-1,测试患者\n").encode("gb18030")), "cases.csv"),
        },
        content_type="multipart/form-data",
    )
    assert 400 == answer.status_code
    assert "not UTF-8" in answer.get_data(as_text=True)


def test_agents_and_compliance_may_not_open_campaign_pages(world: World) -> None:
    """ann and cora get 403 on the list and a campaign's page."""
    for name in ("ann", "cora"):
        client = client_of(world, name)
        assert 403 == client.get("/console/campaigns").status_code
        assert 403 == client.get("/console/campaigns/ward-7").status_code


def figure(page: str, key: str) -> str:
    found = re.search(rf'<tr id="figure-{key}">.*?<td[^>]*>(.*?)</td>', page, re.DOTALL)
    assert found is not None, key
    return found.group(1).strip()


def test_the_campaign_page_shows_a_months_figures_against_their_targets(world: World) -> None:
    """?month= gives the figures `ivr report --month` gives; the template's targets beside them."""
    client = client_of(world, "sue")

    december = client.get("/console/campaigns/ward-7?lang=en&month=2029-12").get_data(as_text=True)
    january = client.get("/console/campaigns/ward-7?lang=en&month=2030-01").get_data(as_text=True)
    every = client.get("/console/campaigns/ward-7?lang=en").get_data(as_text=True)

    assert ("2", "0", "2") == (
        figure(december, "cases"),
        figure(january, "cases"),
        figure(every, "cases"),
    )
    assert "Cases with anchor dates in 2029-12" in december
    assert 'value="2029-12"' in december
    assert "—" == figure(january, "follow_up_rate")  # no case: no rate, not 0 %
    assert "target 80%" in december  # the post-discharge template's follow-up target


def test_a_malformed_month_is_said_and_every_case_is_shown(world: World) -> None:
    page = client_of(world, "sue").get("/console/campaigns/ward-7?lang=en&month=2029-13")

    text = page.get_data(as_text=True)
    assert 200 == page.status_code
    assert "A month is written like 2026-11." in text
    assert "2" == figure(text, "cases")
