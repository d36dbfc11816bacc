"""`ivr queue claim | release | resolve | reopen | reassign | show` as staff run them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.db import make_engine, make_sessions
from ivr.models import Campaign, StaffRole
from tests import factories
from tests.integration.test_queue_actions import add_escalation, add_recording, add_user

# The commands run on the real clock; the rows are made a moment before.
NOW = datetime.now(UTC) - timedelta(minutes=1)
PDF = b"%PDF-1.4\n% a signed letter receipt (fictional)\n%%EOF\n"
SID = "RE" + "e5" * 16


@pytest.fixture
def missell(ivr: Any, env: dict[str, str]) -> int:
    """A cooling-off campaign, a missell_suspected escalation with a stored recording, staff."""
    assert 0 == ivr("db", "upgrade").exit_code
    created = ivr("campaigns", "create", "--template", "cooling-off", "--name", "co-2030")
    assert 0 == created.exit_code, created.output
    engine = make_engine(env["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine).begin() as session:
            campaign = session.scalars(select(Campaign)).one()
            add_user(session, NOW, "ann")
            add_user(session, NOW, "bob")
            add_user(session, NOW, "carl")
            add_user(session, NOW, "sue", StaffRole.SUPERVISOR)
            escalation_id = add_escalation(
                session,
                campaign,
                NOW,
                "missell_suspected",
                ref="POL-7",
                details={"seller": "carl"},
            )
            case = factories.case(session, campaign, NOW, ref="POL-8")
            add_recording(session, case.id, NOW, sid=SID)  # of another case
            return escalation_id
    finally:
        engine.dispose()


def show(ivr: Any, escalation_id: int) -> dict[str, Any]:
    result = ivr("queue", "show", str(escalation_id), "--format", "json")
    assert 0 == result.exit_code, result.output
    view: dict[str, Any] = json.loads(result.output)
    return view


def test_every_queue_command_explains_itself(ivr: Any) -> None:
    """Each subcommand has --help naming what it reads."""
    for command in ("claim", "release", "resolve", "reopen", "reassign", "show"):
        result = ivr("queue", command, "--help")
        assert 0 == result.exit_code, command
        assert "IVR_DATABASE_URL" in result.output, command
    assert "IVR_CLAIM_IDLE_MINUTES" in ivr("queue", "claim", "--help").output


def test_claim_then_a_second_claim_exits_1_naming_the_holder(ivr: Any, missell: int) -> None:
    """The loser is told who holds it and since when."""
    first = ivr("queue", "claim", str(missell), "--as", "ann")
    assert (0, f"escalation {missell} claimed by ann\n") == (first.exit_code, first.output)
    second = ivr("queue", "claim", str(missell), "--as", "bob")
    assert 1 == second.exit_code
    assert "held by ann since 2" in second.output
    view = show(ivr, missell)
    assert ("claimed", "ann") == (view["status"], view["claimed_by"])


def test_release_reassign_resolve_and_reopen_from_the_command_line(
    ivr: Any, missell: int, tmp_path: Path
) -> None:
    """The whole round, then `queue show` lists the evidence and every step of the history."""
    assert 0 == ivr("queue", "claim", str(missell), "--as", "ann").exit_code
    assert 0 == ivr("queue", "release", str(missell), "--as", "ann").exit_code
    refused = ivr("queue", "reassign", str(missell), "--to", "bob", "--as", "ann")
    assert (1, True) == (refused.exit_code, "supervisor" in refused.output)
    moved = ivr("queue", "reassign", str(missell), "--to", "bob", "--as", "sue", "--note", "cover")
    assert 0 == moved.exit_code, moved.output
    no_proof = ivr("queue", "resolve", str(missell), "--as", "bob", "--outcome", "letter_sent")
    assert 1 == no_proof.exit_code
    assert "needs a scan" in no_proof.output
    scan = tmp_path / "receipt.pdf"
    scan.write_bytes(PDF)
    done = ivr(
        "queue",
        "resolve",
        str(missell),
        "--as",
        "bob",
        "--outcome",
        "letter_sent",
        "--note",
        "receipt signed",
        "--scan",
        str(scan),
    )
    assert 0 == done.exit_code, done.output
    assert 0 == ivr("queue", "reopen", str(missell), "--as", "sue", "--note", "unsigned").exit_code
    view = show(ivr, missell)
    assert ("open", None) == (view["status"], view["outcome"])
    assert ["scan"] == [e["kind"] for e in view["evidence"]]
    assert hashlib.sha256(PDF).hexdigest() == view["evidence"][0]["sha256"]
    assert [
        ("system:calls", "raised"),
        ("ann", "claimed"),
        ("ann", "released"),
        ("sue", "reassigned"),
        ("bob", "evidence_added"),
        ("bob", "resolved"),
        ("sue", "reopened"),
    ] == [(h["actor"], h["action"]) for h in view["history"]]
    assert "confirmed" in view["outcomes"]
    table = ivr("queue", "show", str(missell))
    assert 0 == table.exit_code
    assert "reopened" in table.output and "evidence" in table.output
    audit = json.loads(ivr("audit", "show", "--format", "json").output)
    assert {"escalation.reassign", "escalation.resolve", "escalation.reopen"} <= {
        entry["action"] for entry in audit
    }


def test_resolve_with_a_recording_of_another_case_is_refused(ivr: Any, missell: int) -> None:
    """--recording must name a stored recording of this escalation's case."""
    ivr("queue", "claim", str(missell), "--as", "ann")
    result = ivr(
        "queue",
        "resolve",
        str(missell),
        "--as",
        "ann",
        "--outcome",
        "confirmed",
        "--recording",
        SID,
    )
    assert 1 == result.exit_code
    assert "not a recording of this case" in result.output


def test_clear_errors_for_unknown_users_escalations_and_the_seller(ivr: Any, missell: int) -> None:
    """Exit 1 with one line: no such user, no such escalation, the seller may not claim."""
    unknown = ivr("queue", "claim", str(missell), "--as", "nobody")
    assert (1, True) == (unknown.exit_code, "no user named nobody" in unknown.output)
    missing = ivr("queue", "show", "999")
    assert (1, True) == (missing.exit_code, "no escalation 999" in missing.output)
    seller = ivr("queue", "claim", str(missell), "--as", "carl")
    assert (1, True) == (seller.exit_code, "carl sold this policy" in seller.output)
    outcome = ivr("queue", "resolve", str(missell), "--as", "sue", "--outcome", "nope")
    assert 1 == outcome.exit_code
    assert "outcomes: confirmed, refund_cancelled" in outcome.output


def test_audited_actions_need_the_secret_key(ivr: Any, missell: int) -> None:
    """Without IVR_SECRET_KEY nothing audited is done (exit 2)."""
    result = ivr("queue", "reassign", str(missell), "--to", "bob", "--as", "sue", IVR_SECRET_KEY="")
    assert 2 == result.exit_code
    assert "IVR_SECRET_KEY" in result.output
    assert "open" == show(ivr, missell)["status"]
