"""The agent's queue in the console: what it lists and in what order, claiming, the holder shown
to the loser of a claim, CSRF and roles, through the Flask test client on SQLite and PostgreSQL.

The world built here (two wards, four agents, a supervisor) is shared with test_case_page.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Escalation, EscalationStatus, StaffRole, StaffScope, StaffUser
from ivr.services import Services
from tests import factories
from tests.conftest import FakeClock
from tests.console.support import form_token, post_form, sign_in
from tests.integration.test_queue_actions import add_campaign, add_escalation
from tests.integration.test_replay import TEST_HASH

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

ANN_PHONE = factories.FICTIONAL_PHONES[50]
BOB_PHONE = factories.FICTIONAL_PHONES[52]
SUE_PHONE = factories.FICTIONAL_PHONES[51]


@dataclass(frozen=True)
class World:
    """ward-7: P-1 (due in two days, priority 1) and P-2 (overdue, priority 3); ward-9: O-1.

    ann and bob are agents of ward-7, cara of ward-9; sue supervises, cora is compliance.
    """

    app: Flask
    p1: int  #: the escalation of case P-1
    p2: int
    o1: int
    p1_case: int
    p2_case: int
    o1_case: int


def add_staff(
    session: Session,
    now: datetime,
    name: str,
    role: StaffRole,
    *,
    phone: str | None = None,
    campaign_id: int | None = None,
) -> StaffUser:
    """A member of staff who signs in with the tests' password, scoped to one campaign if given."""
    user = StaffUser(username=name, password_hash=TEST_HASH, role=role, phone=phone, created_at=now)
    session.add(user)
    session.flush()
    if campaign_id is not None:
        session.add(StaffScope(user_id=user.id, campaign_id=campaign_id))
    return user


def build_world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The campaigns, cases, escalations and staff of these tests, and the app."""
    now = clock.now
    with services.sessions.begin() as session:
        ward7 = add_campaign(session, now, name="ward-7")
        ward9 = add_campaign(session, now, name="ward-9")
        add_staff(session, now, "ann", StaffRole.AGENT, phone=ANN_PHONE, campaign_id=ward7.id)
        add_staff(session, now, "bob", StaffRole.AGENT, phone=BOB_PHONE, campaign_id=ward7.id)
        add_staff(session, now, "cara", StaffRole.AGENT, campaign_id=ward9.id)
        add_staff(session, now, "sue", StaffRole.SUPERVISOR, phone=SUE_PHONE)
        add_staff(session, now, "cora", StaffRole.COMPLIANCE)
        add_staff(session, now, "adam", StaffRole.ADMIN)
        p1 = add_escalation(session, ward7, now, ref="P-1")
        p2 = add_escalation(session, ward7, now, ref="P-2")
        o1 = add_escalation(session, ward9, now, ref="O-1")
        # The SLA order differs from the priority order: P-2 is less urgent but overdue.
        for escalation_id, due, priority in (
            (p1, timedelta(days=2), 1),
            (p2, -timedelta(hours=1), 3),
        ):
            row = session.get_one(Escalation, escalation_id)
            row.due_at, row.priority = now + due, priority
        cases = {e.id: e.case_id for e in session.scalars(select(Escalation))}
    app = create_app(settings, services=services)
    return World(app, p1, p2, o1, cases[p1], cases[p2], cases[o1])


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    return build_world(settings, services, clock)


def client_of(world: World, username: str) -> FlaskClient:
    """A browser signed in to the console as this user."""
    client = world.app.test_client()
    assert 302 == sign_in(client, username).status_code
    return client


def listed(page: str) -> list[int]:
    """The escalation ids of a queue page, top to bottom."""
    return [int(found) for found in re.findall(r'<tr id="escalation-(\d+)"', page)]


def escalation(services: Services, escalation_id: int) -> Escalation:
    with services.sessions() as session:
        return session.get_one(Escalation, escalation_id)


def holder(services: Services, escalation_id: int) -> str | None:
    with services.sessions() as session:
        row = session.get_one(Escalation, escalation_id)
        user = session.get(StaffUser, row.claimed_by_id) if row.claimed_by_id else None
        return None if user is None else user.username


# --- the tests ------------------------------------------------------------------------------------


def test_an_agent_signs_in_to_their_queue(world: World) -> None:
    """An agent's first page is the queue, and the navigation links to it."""
    client = world.app.test_client()
    assert "/console/queue" == sign_in(client, "ann").location
    assert 'href="/console/queue"' in client.get("/console/").get_data(as_text=True)


def test_the_queue_lists_only_the_agents_scope_soonest_due_first(world: World) -> None:
    """ann (ward-7) sees P-2 (overdue, marked) before P-1 (higher priority, due later), not O-1."""
    page = client_of(world, "ann").get("/console/queue?lang=en").get_data(as_text=True)
    assert [world.p2, world.p1] == listed(page)
    assert "overdue" in page
    assert "O-1" not in page
    assert [world.o1] == listed(
        client_of(world, "cara").get("/console/queue").get_data(as_text=True)
    )


def test_claiming_from_the_queue_takes_the_escalation_and_says_so(
    world: World, services: Services
) -> None:
    """The claim form posts with the page's token, redirects back, and one line says it worked."""
    ann = client_of(world, "ann")
    answer = post_form(ann, "/console/queue", f"/console/queue/{world.p1}/claim", {})
    assert (302, "/console/queue") == (answer.status_code, answer.location)
    page = ann.get("/console/queue").get_data(as_text=True)
    assert "已认领。" in page and f"escalation {world.p1} claimed by ann" in page
    assert "已认领。" not in ann.get("/console/queue").get_data(as_text=True)  # shown once
    assert "ann" == holder(services, world.p1)
    assert [world.p1] == listed(ann.get("/console/queue?mine=1").get_data(as_text=True))


def test_a_second_agents_claim_is_refused_naming_the_holder(
    world: World, services: Services
) -> None:
    """bob loaded the queue before ann claimed P-1: his claim changes nothing and names ann."""
    bob = client_of(world, "bob")
    token = form_token(bob.get("/console/queue?lang=en"))
    post_form(client_of(world, "ann"), "/console/queue", f"/console/queue/{world.p1}/claim", {})
    bob.post(f"/console/queue/{world.p1}/claim", data={"csrf_token": token})
    page = bob.get("/console/queue?lang=en").get_data(as_text=True)
    assert "Someone else holds it: ann." in page
    assert "ann" == holder(services, world.p1)
    assert world.p1 not in listed(page)  # a colleague's claim is not bob's to work


def test_a_claim_without_its_csrf_token_is_refused_and_changes_nothing(
    world: World, services: Services
) -> None:
    """No token, or another session's token: 400, and the escalation stays open."""
    ann = client_of(world, "ann")
    assert 400 == ann.post(f"/console/queue/{world.p1}/claim").status_code
    bob_token = form_token(client_of(world, "bob").get("/console/queue"))
    forged = ann.post(f"/console/queue/{world.p1}/claim", data={"csrf_token": bob_token})
    assert 400 == forged.status_code
    assert EscalationStatus.OPEN == escalation(services, world.p1).status


def test_a_claim_outside_the_scope_is_refused(world: World, services: Services) -> None:
    """cara (ward-9) posting a claim of a ward-7 escalation is told no; nothing changes."""
    cara = client_of(world, "cara")
    post_form(cara, "/console/queue", f"/console/queue/{world.p1}/claim", {})
    assert "outside the scope" in cara.get("/console/queue").get_data(as_text=True)
    assert EscalationStatus.OPEN == escalation(services, world.p1).status


def test_a_case_ref_with_markup_is_escaped_in_the_queue(world: World, services: Services) -> None:
    """A reference imported as <script> is shown as text, never run."""
    with services.sessions.begin() as session:
        session.get_one(Escalation, world.p1).case.external_ref = "<script>alert(1)</script>"
    page = client_of(world, "ann").get("/console/queue").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_queue_speaks_chinese_and_english(world: World) -> None:
    """Chinese by default, English on request."""
    ann = client_of(world, "ann")
    assert "我的队列" in ann.get("/console/queue").get_data(as_text=True)
    assert "My queue" in ann.get("/console/queue?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("name", ["sue", "cora", "adam"])
def test_the_queue_is_the_agents_page(world: World, name: str) -> None:
    """Other roles have their own pages: the agent's queue is 403 to them."""
    assert 403 == client_of(world, name).get("/console/queue").status_code


def _roles_of(view: object) -> frozenset[StaffRole] | None:
    """The roles an ivr.console.access.console_page view admits, read from its guard's closure
    (None: not a guarded view)."""
    for cell in getattr(view, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, frozenset) and value and all(isinstance(r, StaffRole) for r in value):
            return value
    return None


def test_an_agent_gets_403_on_every_console_page_of_other_roles(world: World) -> None:
    """Whatever pages and forms the other roles have (read from the app's routes), an agent
    opening or posting to them with a valid CSRF token is refused."""
    ann = client_of(world, "ann")
    token = form_token(ann.get("/console/queue"))
    refused: list[str] = []
    for rule in world.app.url_map.iter_rules():
        roles = _roles_of(world.app.view_functions[rule.endpoint])
        if not rule.endpoint.startswith("console.") or roles is None or StaffRole.AGENT in roles:
            continue
        built = rule.build(dict.fromkeys(rule.arguments, 1), append_unknown=False)
        assert built is not None
        methods = rule.methods or set()
        if "GET" in methods:
            assert 403 == ann.get(built[1]).status_code, rule.rule
        if "POST" in methods:
            assert 403 == ann.post(built[1], data={"csrf_token": token}).status_code, rule.rule
        refused.append(rule.rule)
    # The pages of other roles arrive with their own issues; none yet is not a failure.
    assert "/console/queue" not in refused


def test_the_only_mine_filter_takes_no_sql_and_reflects_no_markup(world: World) -> None:
    """An injected filter value is neither a query nor markup: the whole queue, nothing echoed."""
    ann = client_of(world, "ann")
    page = ann.get("/console/queue", query_string={"mine": "1' OR '1'='1<script>"})
    assert 200 == page.status_code
    assert [world.p2, world.p1] == listed(page.get_data(as_text=True))
    assert "<script>" not in page.get_data(as_text=True)
