"""`ivr users add | list | disable` as an administrator runs them, on a migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from ivr.cli import main
from ivr.db import make_engine, make_sessions
from ivr.models import AuditEntry, StaffUser
from ivr.staff.passwords import password_matches
from tests.conftest import SECRET_KEY

PASSWORD = "fictional-password-42"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def ivr(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `ivr ...` with IVR_DATABASE_URL and IVR_SECRET_KEY set; returns the click Result."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    env = {"IVR_DATABASE_URL": database_url, "IVR_SECRET_KEY": SECRET_KEY}
    runner = CliRunner()

    def run(*args: str, input: str | None = None, **extra: str) -> Result:
        return runner.invoke(
            main, list(args), input=input, env={**env, **extra}, catch_exceptions=False
        )

    assert 0 == run("db", "upgrade").exit_code
    yield run


def users(ivr: Any) -> list[dict[str, Any]]:
    result = ivr("users", "list", "--format", "json")
    assert 0 == result.exit_code, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def rows_of(database_url: str, model: Any) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with make_sessions(engine)() as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def test_a_script_adds_a_user_with_the_password_on_stdin(ivr: Any, database_url: str) -> None:
    """--password-stdin reads one line; the stored hash checks it; the user is listed active."""
    added = ivr(
        "users", "add", "QA.Lead", "--role", "compliance", "--password-stdin", input=PASSWORD + "\n"
    )
    assert 0 == added.exit_code, added.output
    assert "added qa.lead (compliance)" in added.stdout
    assert PASSWORD not in added.output
    [row] = users(ivr)
    assert ("qa.lead", "compliance", True, None) == (
        row["username"],
        row["role"],
        row["active"],
        row["locked_until"],
    )
    [user] = rows_of(database_url, StaffUser)
    assert password_matches(user.password_hash, PASSWORD)
    assert PASSWORD not in user.password_hash


def test_a_person_types_the_password_twice_without_echo(ivr: Any) -> None:
    """The prompt hides the input and asks for confirmation."""
    added = ivr(
        "users", "add", "ward.supervisor", "--role", "supervisor", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert 0 == added.exit_code, added.output
    assert PASSWORD not in added.output
    assert ["ward.supervisor"] == [row["username"] for row in users(ivr)]


def test_a_short_password_or_a_taken_name_is_refused(ivr: Any) -> None:
    """Clear one-line errors, exit status 1, nothing written."""
    short = ivr("users", "add", "qa.lead", "--role", "admin", "--password-stdin", input="short\n")
    assert 1 == short.exit_code
    assert "at least 12 characters" in short.output
    assert [] == users(ivr)
    ivr("users", "add", "qa.lead", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    again = ivr(
        "users", "add", "QA.LEAD", "--role", "agent", "--password-stdin", input=PASSWORD + "\n"
    )
    assert 1 == again.exit_code
    assert "already a user named qa.lead" in again.output
    assert (
        1
        == ivr(
            "users", "add", "bad name", "--role", "agent", "--password-stdin", input=PASSWORD + "\n"
        ).exit_code
    )


def test_disabling_a_user_keeps_the_row_and_audits_both_changes(
    ivr: Any, database_url: str
) -> None:
    """Users are never deleted; additions and disabling are in the audit log."""
    ivr("users", "add", "qa.lead", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    disabled = ivr("users", "disable", "qa.lead")
    assert (0, "disabled qa.lead") == (disabled.exit_code, disabled.stdout.strip())
    assert "already disabled" in ivr("users", "disable", "qa.lead").stdout
    assert [False] == [row["active"] for row in users(ivr)]
    assert "disabled" in ivr("users", "list").stdout
    assert 1 == ivr("users", "disable", "nobody.here").exit_code
    entries = rows_of(database_url, AuditEntry)
    assert ["staff.user_added", "staff.user_disabled"] == [e.action for e in entries]
    assert all(e.actor.startswith("cli") for e in entries)
    assert PASSWORD not in json.dumps([e.detail for e in entries])


def test_changes_need_the_secret_key_that_keys_the_audit_log(ivr: Any) -> None:
    """Without IVR_SECRET_KEY no change is made (it could not be audited)."""
    result = ivr(
        "users",
        "add",
        "qa.lead",
        "--role",
        "admin",
        "--password-stdin",
        input=PASSWORD + "\n",
        IVR_SECRET_KEY="",
    )
    assert 2 == result.exit_code
    assert "IVR_SECRET_KEY" in result.output
    assert [] == users(ivr)


def test_the_users_commands_explain_themselves(ivr: Any) -> None:
    """--help names the settings each reads."""
    assert "IVR_SECRET_KEY" in ivr("users", "add", "--help").output
    assert "IVR_DATABASE_URL" in ivr("users", "list", "--help").output
