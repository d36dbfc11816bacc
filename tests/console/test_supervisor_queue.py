"""The supervisor's queue of all: order, filters, reassigning and releasing, CSRF, roles and
escaping, through the Flask test client on SQLite and PostgreSQL (the world of
test_agent_queue.py: ward-7's P-1 and P-2, ward-9's O-1; agents ann, bob (ward-7), cara
(ward-9); sue supervises, cora is compliance, adam is the administrator)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ivr.config import Settings
from ivr.models import AuditEntry, EscalationStatus
from ivr.services import Services
from tests.conftest import FakeClock
from tests.console.support import form_token, post_form, sign_in
from tests.console.test_agent_queue import (
    World,
    build_world,
    client_of,
    escalation,
    holder,
    listed,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The world of the agent's queue tests (two wards, their staff, three escalations)."""
    return build_world(settings, services, clock)


def test_a_supervisor_signs_in_to_the_queue_of_all(world: World) -> None:
    """sue's first page is the queue of all, and the navigation links to the campaigns."""
    client = world.app.test_client()
    assert "/console/all" == sign_in(client, "sue").location
    assert 'href="/console/campaigns"' in client.get("/console/all").get_data(as_text=True)


def test_the_queue_of_all_lists_every_campaign_overdue_first(world: World) -> None:
    """P-2 (overdue, lower priority) comes before P-1 and O-1, across both wards."""
    page = client_of(world, "sue").get("/console/all?lang=en").get_data(as_text=True)
    rows = listed(page)
    assert world.p2 == rows[0]
    assert {world.p1, world.p2, world.o1} == set(rows)
    assert "overdue" in page
    assert f'href="/console/cases/{world.p2_case}"' in page


def test_filters_narrow_the_queue(world: World) -> None:
    """campaign=ward-9 lists O-1 only; an unknown holder lists nothing, not everything."""
    client = client_of(world, "sue")
    assert [world.o1] == listed(client.get("/console/all?campaign=ward-9").get_data(as_text=True))
    assert [] == listed(client.get("/console/all?holder=nobody").get_data(as_text=True))


def test_injection_in_a_filter_is_neither_sql_nor_html(world: World) -> None:
    """A quote-and-OR filter matches nothing; a <script> filter value comes back escaped."""
    client = client_of(world, "sue")
    sql = client.get("/console/all", query_string={"reason": "' OR '1'='1"})
    assert (200, []) == (sql.status_code, listed(sql.get_data(as_text=True)))
    page = client.get(
        "/console/all", query_string={"holder": "<script>alert(1)</script>"}
    ).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_reassign_select_offers_only_users_who_may_work_the_case(world: World) -> None:
    """P-1 (ward-7) may go to ann or bob, never to cara (ward-9) or cora (compliance)."""
    page = client_of(world, "sue").get("/console/all").get_data(as_text=True)
    row = page.split(f'<tr id="escalation-{world.p1}"', 1)[1].split("</tr>", 1)[0]
    assert '<option value="ann">' in row and '<option value="bob">' in row
    assert '<option value="cara">' not in row and '<option value="cora">' not in row


def test_a_supervisor_reassigns_then_releases(world: World, services: Services) -> None:
    """sue hands P-1 to ann (audited), then gives it back to the queue."""
    client = client_of(world, "sue")
    answer = post_form(
        client, "/console/all", f"/console/all/{world.p1}/reassign", {"to": "ann", "note": "x"}
    )
    assert 302 == answer.status_code
    assert "ann" == holder(services, world.p1)
    with services.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "escalation.reassign" in actions
    answer = post_form(client, "/console/all", f"/console/all/{world.p1}/release", {})
    assert 302 == answer.status_code
    assert EscalationStatus.OPEN == escalation(services, world.p1).status


def test_a_reassign_outside_the_users_scope_is_refused_and_shown(
    world: World, services: Services
) -> None:
    """P-1 to cara (ward-9) changes nothing; the page says why."""
    client = client_of(world, "sue")
    post_form(client, "/console/all", f"/console/all/{world.p1}/reassign", {"to": "cara"})
    page = client.get("/console/all?lang=en").get_data(as_text=True)
    assert 'role="alert"' in page and "outside the scope of cara" in page
    assert holder(services, world.p1) is None


def test_an_agent_may_not_reassign(world: World, services: Services) -> None:
    """ann's POST (with a good token) is refused with 403; the queue of all is 403 too."""
    client = client_of(world, "ann")
    token = form_token(client.get("/console/queue"))
    answer = client.post(
        f"/console/all/{world.p1}/reassign", data={"to": "ann", "csrf_token": token}
    )
    assert 403 == answer.status_code
    assert holder(services, world.p1) is None
    assert 403 == client.get("/console/all").status_code
    assert 403 == client_of(world, "cora").get("/console/all").status_code


def test_a_reassign_without_the_csrf_token_is_refused(world: World, services: Services) -> None:
    """No token: 400 and the escalation is not handed to anyone."""
    client = client_of(world, "sue")
    answer = client.post(f"/console/all/{world.p1}/reassign", data={"to": "ann"})
    assert 400 == answer.status_code
    assert holder(services, world.p1) is None


def test_an_administrator_opens_the_queue_of_all(world: World) -> None:
    """adam (admin) sees the same queue."""
    assert 200 == client_of(world, "adam").get("/console/all").status_code


def test_the_queue_of_all_speaks_chinese_and_english(world: World) -> None:
    """The same page in each language, with the tablet-friendly table."""
    client = client_of(world, "sue")
    chinese = client.get("/console/all?lang=zh").get_data(as_text=True)
    english = client.get("/console/all?lang=en").get_data(as_text=True)
    assert "全部待办" in chinese and "转派" in chinese
    assert "All escalations" in english and "Reassign" in english
    assert '<table class="responsive">' in english
