"""`ivr users phone | scope`, the scopes and masked phones in `ivr users list`, and the holder
column of `ivr queue list`, on a migrated SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ivr.db import make_engine, make_sessions
from ivr.models import AuditEntry, Campaign, StaffRole, StaffScope, StaffUser
from tests.integration.test_queue_actions import add_escalation, add_user

NOW = datetime.now(UTC) - timedelta(minutes=1)
PHONE = "+12025550142"  # fictional: 555-01xx


@pytest.fixture
def staff(ivr: Any, env: dict[str, str]) -> dict[str, Any]:
    """A migrated database with a campaign ward-7, an agent ann and a supervisor sue."""
    assert 0 == ivr("db", "upgrade").exit_code
    created = ivr("campaigns", "create", "--template", "post-discharge", "--name", "ward-7")
    assert 0 == created.exit_code, created.output
    engine = make_engine(env["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine).begin() as session:
            add_user(session, NOW, "ann")
            add_user(session, NOW, "sue", StaffRole.SUPERVISOR)
    finally:
        engine.dispose()
    return env


def rows(env: dict[str, str], model: Any) -> list[Any]:
    engine = make_engine(env["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine)() as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def listed(ivr: Any) -> dict[str, dict[str, Any]]:
    result = ivr("users", "list", "--format", "json")
    assert 0 == result.exit_code, result.output
    return {row["username"]: row for row in json.loads(result.stdout)}


def test_a_phone_is_stored_in_e164_and_shown_masked(ivr: Any, staff: dict[str, str]) -> None:
    """Spaces and dashes are normalised away; listings and output never show the whole number."""
    done = ivr("users", "phone", "Ann", "+1 202-555-0142")
    assert 0 == done.exit_code, done.output
    assert PHONE not in done.output and "+12*****0142" in done.output
    ann = next(u for u in rows(staff, StaffUser) if u.username == "ann")
    assert PHONE == ann.phone
    assert "+12*****0142" == listed(ivr)["ann"]["phone"]
    table = ivr("users", "list").stdout
    assert PHONE not in table and "0142" in table
    audit = json.dumps([entry.detail for entry in rows(staff, AuditEntry)])
    assert PHONE not in audit and "staff.phone_set" in [e.action for e in rows(staff, AuditEntry)]
    cleared = ivr("users", "phone", "ann", "--clear")
    assert (0, "phone of ann cleared") == (cleared.exit_code, cleared.stdout.strip())
    assert listed(ivr)["ann"]["phone"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ann", "2025550142"), "international form"),  # no country code
        (("ann", "+1202555"), "not a valid phone number"),
        (("ann", "call me"), "not a valid phone number"),
        (("ann",), "or --clear"),
        (("ann", PHONE, "--clear"), "or --clear"),
        (("nobody", PHONE), "no user named nobody"),
    ],
)
def test_a_bad_phone_is_refused_without_echoing_it(
    ivr: Any, staff: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    """Exit 1 with the reason; the number is masked in the message."""
    result = ivr("users", "phone", *args)
    assert 1 == result.exit_code
    assert message in result.stderr
    assert "2025550142" not in result.stderr


def test_scopes_are_added_listed_and_removed(ivr: Any, staff: dict[str, str]) -> None:
    """Campaign, department or both; duplicates and unknown campaigns refused; audited."""
    assert 0 == ivr("users", "scope", "ann", "--campaign", "ward-7").exit_code
    both = ivr("users", "scope", "ann", "--campaign", "ward-7", "--department", " Cardiology ")
    assert "scope ward-7/Cardiology added to ann" in both.stdout
    assert 0 == ivr("users", "scope", "ann", "--department", "Oncology").exit_code
    again = ivr("users", "scope", "ann", "--department", "oncology")
    assert (1, True) == (again.exit_code, "already has this scope" in again.stderr)
    unknown = ivr("users", "scope", "ann", "--campaign", "ward-9")
    assert (1, True) == (unknown.exit_code, "no campaign named 'ward-9'" in unknown.stderr)
    neither = ivr("users", "scope", "ann")
    assert (1, True) == (neither.exit_code, "campaign, a department, or both" in neither.stderr)
    assert [
        {"campaign": "ward-7", "department": None},
        {"campaign": "ward-7", "department": "Cardiology"},
        {"campaign": None, "department": "Oncology"},
    ] == listed(ivr)["ann"]["scopes"]
    table = ivr("users", "list").stdout
    assert "ward-7/Cardiology" in table and "dept Oncology" in table
    removed = ivr("users", "scope", "ann", "--department", "ONCOLOGY", "--remove")
    assert (0, "scope dept ONCOLOGY removed from ann") == (
        removed.exit_code,
        removed.stdout.strip(),
    )
    missing = ivr("users", "scope", "ann", "--department", "Oncology", "--remove")
    assert (1, True) == (missing.exit_code, "has no such scope" in missing.stderr)
    assert 2 == len(rows(staff, StaffScope))
    assert ["staff.scope_added"] * 3 + ["staff.scope_removed"] == [
        e.action for e in rows(staff, AuditEntry) if e.action.startswith("staff.scope")
    ]
    for command in ("phone", "scope"):
        assert "IVR_SECRET_KEY" in ivr("users", command, "--help").output


def test_queue_list_names_who_holds_each_claimed_escalation(
    ivr: Any, staff: dict[str, str]
) -> None:
    """The JSON rows carry claimed_by and claimed_at; the table a "held by" column."""
    engine = make_engine(staff["IVR_DATABASE_URL"])
    try:
        with make_sessions(engine).begin() as session:
            campaign = session.scalars(select(Campaign)).one()
            first = add_escalation(session, campaign, NOW, ref="P-1")
            add_escalation(session, campaign, NOW, ref="P-2")
    finally:
        engine.dispose()
    assert 0 == ivr("queue", "claim", str(first), "--as", "ann").exit_code
    queue = {
        row["external_ref"]: row
        for row in json.loads(ivr("queue", "list", "--format", "json").stdout)
    }
    assert ("ann", None) == (queue["P-1"]["claimed_by"], queue["P-2"]["claimed_by"])
    assert queue["P-1"]["claimed_at"].endswith("Z")
    table = ivr("queue", "list", COLUMNS="160").stdout
    assert "held by" in table
    assert f"ann since {queue['P-1']['claimed_at'][:16].replace('T', ' ')}" in table
