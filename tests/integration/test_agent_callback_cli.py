"""`ivr queue callback` and the callbacks in `ivr queue show`, as staff run them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import select

from ivr.db import make_engine, make_sessions
from ivr.models import Campaign, StaffRole
from tests import factories
from tests.conftest import ACCOUNT_SID
from tests.integration.test_agent_callback import AGENT_SID
from tests.integration.test_queue_actions import add_escalation, add_user

# The commands run on the real clock; the rows are made a moment before.
NOW = datetime.now(UTC) - timedelta(minutes=1)
CALLS_URL = "http://127.0.0.1:9/2010-04-01/Accounts/" + ACCOUNT_SID + "/Calls.json"


@pytest.fixture
def cli_desk(ivr: Any, env: dict[str, str]) -> int:
    """An escalation claimed by ann (with a phone); cat has none and holds nothing."""
    assert 0 == ivr("db", "upgrade").exit_code
    created = ivr("campaigns", "create", "--template", "post-discharge", "--name", "w7")
    assert 0 == created.exit_code, created.output
    engine = make_engine(env["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine).begin() as session:
            campaign = session.scalars(select(Campaign)).one()
            add_user(session, NOW, "ann").phone = factories.FICTIONAL_PHONES[50]
            add_user(session, NOW, "cat")
            add_user(session, NOW, "sue", StaffRole.SUPERVISOR)
            escalation_id = add_escalation(session, campaign, NOW)
    finally:
        engine.dispose()
    assert 0 == ivr("queue", "claim", str(escalation_id), "--as", "ann").exit_code
    return escalation_id


def test_queue_callback_rings_the_agent_and_queue_show_lists_it(
    ivr: Any, cli_desk: int, mocked: responses.RequestsMock
) -> None:
    """With an override (the real clock may be outside the windows) the call is placed, and
    `queue show` lists the callback with its status, agent and override."""
    mocked.post(CALLS_URL, json={"sid": AGENT_SID, "status": "queued"}, status=201)

    result = ivr(
        "queue", "callback", str(cli_desk), "--as", "ann", "--override-window", "--reason", "ok"
    )

    assert 0 == result.exit_code, result.output
    assert f"of escalation {cli_desk}: your phone is ringing" in result.output
    shown = ivr("queue", "show", str(cli_desk), "--format", "json")
    (callback,) = json.loads(shown.output)["callbacks"]
    assert ("calling_agent", "ann", None) == (
        callback["status"],
        callback["agent"],
        callback["dial_status"],
    )
    assert isinstance(callback["window_override"], bool)
    table = ivr("queue", "show", str(cli_desk))
    assert "callbacks" in table.output


def test_queue_callback_refusals_exit_1_with_the_reason(ivr: Any, cli_desk: int) -> None:
    """Not the holder, no phone, a reason without the override: one line each, exit 1."""
    not_holder = ivr("queue", "callback", str(cli_desk), "--as", "cat")
    assert (1, True) == (not_holder.exit_code, "claim escalation" in not_holder.output)
    lone_reason = ivr("queue", "callback", str(cli_desk), "--as", "ann", "--reason", "x")
    assert (1, True) == (lone_reason.exit_code, "--override-window" in lone_reason.output)
    assert "IVR_DATABASE_URL" in ivr("queue", "callback", "--help").output


def test_queue_callback_without_a_phone_names_the_command_to_set_it(
    ivr: Any, cli_desk: int
) -> None:
    """The holder has no phone: exit 1 naming `ivr users phone`."""
    assert 0 == ivr("queue", "reassign", str(cli_desk), "--to", "cat", "--as", "sue").exit_code

    result = ivr("queue", "callback", str(cli_desk), "--as", "cat")

    assert 1 == result.exit_code
    assert "ivr users phone cat +E164" in result.output
