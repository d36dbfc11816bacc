"""The administrator's pages: users (add, sign in, disable), campaigns from templates with their
option errors, and each campaign's flow checked; CSRF and roles; through the Flask test client
on SQLite and PostgreSQL (the world of test_agent_queue.py: adam is the administrator)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ivr.campaigns.service import create_campaign
from ivr.config import Settings
from ivr.flows.loader import shipped_flow_path
from ivr.models import Campaign, StaffRole, StaffUser
from ivr.services import Services
from tests.conftest import FakeClock
from tests.console.support import post_form, sign_in
from tests.console.test_agent_queue import (
    World,
    build_world,
    client_of,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The world of the agent's queue tests (two wards, their staff, three escalations)."""
    return build_world(settings, services, clock)


NEW_PASSWORD = "a long enough passphrase"


def user_named(services: Services, name: str) -> StaffUser | None:
    with services.sessions() as session:
        return session.scalar(select(StaffUser).where(StaffUser.username == name))


def campaign_names(services: Services) -> set[str]:
    with services.sessions() as session:
        return set(session.scalars(select(Campaign.name)))


def test_the_users_page_lists_roles_scopes_and_masked_phones(world: World) -> None:
    """ann is listed as an agent of ward-7; her phone shows only its last four digits."""
    page = client_of(world, "adam").get("/console/admin/users?lang=en").get_data(as_text=True)
    row = page.split('<tr id="user-ann">', 1)[1].split("</tr>", 1)[0]
    assert "Agent" in row and "ward-7" in row and "active" in row
    assert "+1202555" not in page  # numbers are masked


def test_an_added_user_can_sign_in(world: World, services: Services) -> None:
    """adam adds dora (supervisor) with a password; dora then signs in through the form."""
    answer = post_form(
        client_of(world, "adam"),
        "/console/admin/users",
        "/console/admin/users",
        {"username": "dora", "role": "supervisor", "password": NEW_PASSWORD},
    )
    assert 302 == answer.status_code
    user = user_named(services, "dora")
    assert user is not None and StaffRole.SUPERVISOR == user.role
    assert "/console/all" == sign_in(world.app.test_client(), "dora", NEW_PASSWORD).location


def test_a_short_password_is_refused_and_shown(world: World, services: Services) -> None:
    """The CLI's password policy: too short is 400 with the reason; no user is added."""
    answer = post_form(
        client_of(world, "adam"),
        "/console/admin/users",
        "/console/admin/users",
        {"username": "dora", "role": "agent", "password": "short"},
    )
    assert 400 == answer.status_code
    assert "at least" in answer.get_data(as_text=True)
    assert user_named(services, "dora") is None


def test_adding_a_user_without_the_csrf_token_is_refused(world: World, services: Services) -> None:
    """No token: 400 and no user."""
    answer = client_of(world, "adam").post(
        "/console/admin/users",
        data={"username": "dora", "role": "agent", "password": NEW_PASSWORD},
    )
    assert 400 == answer.status_code
    assert user_named(services, "dora") is None


def test_a_disabled_user_can_no_longer_sign_in(world: World, services: Services) -> None:
    """adam disables bob; bob's sign-in fails."""
    client = client_of(world, "adam")
    answer = post_form(client, "/console/admin/users", "/console/admin/users/bob/disable", {})
    assert 302 == answer.status_code
    user = user_named(services, "bob")
    assert user is not None and not user.active
    assert 401 == sign_in(world.app.test_client(), "bob").status_code


def test_admin_pages_are_for_administrators_only(world: World) -> None:
    """A supervisor, an agent and a compliance officer get 403 on every admin page."""
    for name in ("sue", "ann", "cora"):
        client = client_of(world, name)
        for path in (
            "/console/admin/users",
            "/console/admin/campaigns/new",
            "/console/admin/flows",
        ):
            assert 403 == client.get(path).status_code, (name, path)


def test_a_campaign_is_created_from_a_template(world: World, services: Services) -> None:
    """A name and a valid override: the campaign exists and its page opens."""
    client = client_of(world, "adam")
    answer = post_form(
        client,
        "/console/admin/campaigns/new",
        "/console/admin/campaigns/new",
        {"template": "post-discharge", "name": "ward-11", "overrides": "max_attempts=2\n"},
    )
    assert (302, "/console/campaigns/ward-11") == (answer.status_code, answer.location)
    with services.sessions() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == "ward-11")).one()
        assert "2" == campaign.options["max_attempts"]


def test_a_bad_option_is_shown_and_nothing_is_created(world: World, services: Services) -> None:
    """An unknown key and a line that is not KEY=VALUE each come back as the CLI's message."""
    client = client_of(world, "adam")
    for overrides, expected in (("colour=blue", "unknown option(s) colour"), ("oops", "KEY=VALUE")):
        answer = post_form(
            client,
            "/console/admin/campaigns/new",
            "/console/admin/campaigns/new",
            {"template": "post-discharge", "name": "ward-12", "overrides": overrides},
        )
        assert 400 == answer.status_code
        assert expected in answer.get_data(as_text=True)
    assert "ward-12" not in campaign_names(services)


def test_the_flow_page_lists_a_broken_custom_flow(
    world: World, services: Services, tmp_path: Path
) -> None:
    """A campaign made with its own flow file (ivr campaigns create --flow FILE) whose stored
    flow no longer passes the checker is listed with its problem; the others are valid."""
    raw = yaml.safe_load(shipped_flow_path("post-discharge").read_text(encoding="utf-8"))
    raw["id"] = "custom-flow"
    flow_file = tmp_path / "custom.yaml"
    flow_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with services.sessions.begin() as session:
        campaign = create_campaign(
            session,
            name="custom",
            template_name="post-discharge",
            overrides={},
            now=services.clock(),
            flow_file=flow_file,
        )
        # As if the stored text had been written before a rule the checker now enforces.
        del raw["reprompt"]
        campaign.flow_definition = yaml.safe_dump(raw, allow_unicode=True)
    page = client_of(world, "adam").get("/console/admin/flows?lang=en").get_data(as_text=True)
    assert "missing top-level key &#39;reprompt&#39;" in page
    assert "custom-flow (own flow)" in page
    assert 2 == page.count("valid")  # ward-7 and ward-9
