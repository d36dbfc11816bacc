"""The audit log's chain on SQLite and PostgreSQL: tampering found, concurrent appends, the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from ivr.audit.log import (
    GENESIS,
    AuditKeyMissing,
    ChainBreak,
    check_chain,
    entry_hash,
    record,
    verify_chain,
)
from ivr.cli import main
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import AuditEntry
from ivr.services import Services
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def append(services: Services, count: int, *, actor: str = "compliance-1") -> list[int]:
    """Append `count` entries, each in its own transaction as a replay would; their ids."""
    ids = []
    for n in range(count):
        with services.sessions.begin() as session:
            entry = record(
                session,
                services,
                actor=actor,
                action="recording.replay",
                object_kind="recording",
                object_id=f"RE{n:04d}",
                detail={"n": n, "reason": "quality review"},
            )
            ids.append(entry.id)
    return ids


def execute(sessions: sessionmaker[Session], statement: Any) -> None:
    """Run one statement behind the log's back (what someone with database access could do)."""
    with sessions.begin() as session:
        session.execute(statement)


def test_an_untouched_log_verifies_and_names_its_last_entry(services: Services) -> None:
    """Every entry checks; the report gives the count and the last id and hash to note."""
    ids = append(services, 5)
    with services.sessions() as session:
        report = check_chain(session, services)
        last_hash = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.id == ids[-1]))
    assert (5, ids[-1], last_hash, None) == (
        report.checked,
        report.last_id,
        report.last_hash,
        report.broken,
    )


def test_an_empty_log_verifies(services: Services) -> None:
    """Nothing written yet: nothing checked, no last entry, no break."""
    with services.sessions() as session:
        report = check_chain(session, services)
    assert (0, None, None, None) == (
        report.checked,
        report.last_id,
        report.last_hash,
        report.broken,
    )


def test_entries_link_from_genesis(services: Services) -> None:
    """The first entry links to GENESIS, each later one to the entry before it."""
    append(services, 3)
    with services.sessions() as session:
        rows = session.execute(
            select(AuditEntry.prev_hash, AuditEntry.entry_hash).order_by(AuditEntry.id)
        ).all()
    assert [GENESIS, rows[0][1], rows[1][1]] == [row[0] for row in rows]


def test_an_entry_changed_with_raw_sql_is_reported_altered_at_that_id(services: Services) -> None:
    """UPDATE audit_entry SET actor = ... on the third entry breaks the chain exactly there."""
    ids = append(services, 5)
    execute(
        services.sessions,
        text("UPDATE audit_entry SET actor = :actor WHERE id = :id").bindparams(
            actor="someone-else", id=ids[2]
        ),
    )
    with services.sessions() as session:
        assert ChainBreak(ids[2], "altered") == verify_chain(session, services)


@pytest.mark.parametrize(
    "values",
    [
        {"at": datetime(2031, 1, 1, tzinfo=UTC)},
        {"action": "recording.export"},
        {"object_id": "RE9999"},
        {"detail": {"n": 1, "reason": "something else"}},
    ],
)
def test_any_field_changed_is_reported_altered(services: Services, values: dict[str, Any]) -> None:
    """Time, action, object and detail are all covered by the entry's hash."""
    ids = append(services, 3)
    execute(services.sessions, update(AuditEntry).where(AuditEntry.id == ids[1]).values(**values))
    with services.sessions() as session:
        assert ChainBreak(ids[1], "altered") == verify_chain(session, services)


def test_an_entry_deleted_from_the_middle_breaks_the_link_of_the_next(services: Services) -> None:
    """The entry after the gap points at a hash that is no longer there."""
    ids = append(services, 5)
    execute(services.sessions, delete(AuditEntry).where(AuditEntry.id == ids[2]))
    with services.sessions() as session:
        assert ChainBreak(ids[3], "broken link") == verify_chain(session, services)


def test_an_entry_appended_with_a_forged_hash_is_detected(services: Services) -> None:
    """Linked correctly to the last entry, but hashed without the installation's key."""
    ids = append(services, 3)
    with services.sessions() as session:
        last = session.get_one(AuditEntry, ids[-1])
        forged = AuditEntry(
            id=ids[-1] + 1,
            at=last.at,
            actor="compliance-1",
            action="recording.release",
            object_kind="recording",
            object_id="RE0001",
            detail={"reason": "looks legitimate"},
            prev_hash=last.entry_hash,
        )
    forged.entry_hash = entry_hash(b"a guessed key", forged)
    execute(services.sessions, insert(AuditEntry).values(**_columns(forged)))
    with services.sessions() as session:
        assert ChainBreak(ids[-1] + 1, "altered") == verify_chain(session, services)


def test_an_entry_replaced_in_the_middle_is_detected(services: Services) -> None:
    """Delete entry 3 and insert a forged one in its place, linked to entry 2: altered at 3."""
    ids = append(services, 5)
    with services.sessions() as session:
        original = session.get_one(AuditEntry, ids[2])
        forged = AuditEntry(**{**_columns(original), "actor": "nobody"})
    forged.entry_hash = entry_hash(b"a guessed key", forged)
    execute(services.sessions, delete(AuditEntry).where(AuditEntry.id == ids[2]))
    execute(services.sessions, insert(AuditEntry).values(**_columns(forged)))
    with services.sessions() as session:
        assert ChainBreak(ids[2], "altered") == verify_chain(session, services)


def test_an_entry_slipped_in_with_a_stale_link_is_a_broken_link(services: Services) -> None:
    """An entry appended that links to an older entry, not the last, breaks the link there."""
    ids = append(services, 3)
    with services.sessions() as session:
        first = session.get_one(AuditEntry, ids[0])
        forged = AuditEntry(**{**_columns(first), "id": ids[-1] + 1, "entry_hash": "f" * 64})
    execute(services.sessions, insert(AuditEntry).values(**_columns(forged)))
    with services.sessions() as session:
        assert ChainBreak(ids[-1] + 1, "broken link") == verify_chain(session, services)


def test_another_secret_key_reports_the_first_entry_altered(services: Services) -> None:
    """Checked with a different IVR_SECRET_KEY, not one entry matches: altered at the first."""
    ids = append(services, 3)
    other = replace(services, settings=replace(services.settings, secret_key="another-key-123456"))
    with services.sessions() as session:
        assert ChainBreak(ids[0], "altered") == verify_chain(session, other)


def test_without_a_secret_key_nothing_is_written_or_checked(services: Services) -> None:
    """No key: appending and checking both refuse, and no entry is left behind."""
    keyless = replace(services, settings=replace(services.settings, secret_key=""))
    with pytest.raises(AuditKeyMissing), keyless.sessions.begin() as session:
        record(session, keyless, actor="a", action="x", object_kind="k", object_id=1)
    with pytest.raises(AuditKeyMissing), keyless.sessions() as session:
        check_chain(session, keyless)
    with services.sessions() as session:
        assert 0 == session.scalar(select(func.count()).select_from(AuditEntry))


def test_an_entry_rolls_back_with_the_action_it_records(services: Services) -> None:
    """Written in the caller's transaction: an action that fails leaves no entry."""

    class Failed(Exception):
        """The audited action failed after its entry was written."""

    with pytest.raises(Failed), services.sessions.begin() as session:
        record(session, services, actor="a", action="x", object_kind="k", object_id=1)
        raise Failed
    append(services, 1)
    with services.sessions() as session:
        report = check_chain(session, services)
    assert (1, None) == (report.checked, report.broken)


def test_a_check_leaves_the_callers_session_alone(services: Services) -> None:
    """Walking the chain does not detach or reload the caller's own objects."""
    append(services, 3)
    with services.sessions() as session:
        mine = session.get_one(AuditEntry, 1)
        check_chain(session, services, batch=2)
        assert mine in session


def test_four_threads_appending_at_once_never_fork_the_chain(services: Services) -> None:
    """4 x 50 entries appended concurrently: one chain of 200, every link used once."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            append(services, 50, actor=f"worker-{n}")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    with services.sessions() as session:
        report = check_chain(session, services)
        links = session.scalar(select(func.count(func.distinct(AuditEntry.prev_hash))))
    assert (200, None, 200) == (report.checked, report.broken, links)


def _columns(entry: AuditEntry) -> dict[str, Any]:
    return {column.name: getattr(entry, column.name) for column in AuditEntry.__table__.columns}


# --- through the command line -------------------------------------------------------------------


@pytest.fixture
def ivr(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`ivr ...` on the test's database, migrated by `ivr db upgrade` as a user would."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    env = {
        "IVR_DATABASE_URL": settings.database_url,
        "IVR_RECORDINGS_DIR": str(settings.recordings_dir),
        "IVR_SECRET_KEY": settings.secret_key,
    }
    runner = CliRunner()

    def run(*args: str, **extra_env: str) -> Result:
        return runner.invoke(main, list(args), env={**env, **extra_env}, catch_exceptions=False)

    assert 0 == run("db", "upgrade").exit_code
    return run


@pytest.fixture
def migrated(
    ivr: Callable[..., Result], settings: Settings, clock: FakeClock
) -> Iterator[Services]:
    """Services on the migrated database the commands use."""
    engine = make_engine(settings.database_url)
    yield Services(settings=settings, sessions=make_sessions(engine), clock=clock)
    engine.dispose()


def test_cli_verify_prints_count_and_last_entry(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """Exit 0 with the number checked and ID:HASH of the last entry to note elsewhere."""
    ids = append(migrated, 4)
    result = ivr("audit", "verify")
    assert 0 == result.exit_code, result.output
    with migrated.sessions() as session:
        last_hash = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.id == ids[-1]))
    assert "4 entries checked" in result.output
    assert f"{ids[-1]}:{last_hash}" in result.output
    assert "truncation" in ivr("audit", "verify", "--help").output


def test_cli_verify_json_names_the_first_broken_entry_and_exits_1(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """A changed entry: exit 1, the entry's id and the problem, for scripts and for people."""
    ids = append(migrated, 4)
    execute(migrated.sessions, update(AuditEntry).where(AuditEntry.id == ids[1]).values(actor="x"))
    result = ivr("audit", "verify", "--format", "json")
    assert 1 == result.exit_code
    payload = json.loads(result.output)
    assert (False, {"entry_id": ids[1], "problem": "altered"}) == (
        payload["ok"],
        payload["broken"],
    )
    table = ivr("audit", "verify")
    assert 1 == table.exit_code
    assert f"broken at entry {ids[1]}: altered" in table.output


def test_cli_verify_reports_a_deleted_entry_as_a_broken_link(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """An entry removed from the middle: exit 1 at the next id, 'broken link'."""
    ids = append(migrated, 4)
    execute(migrated.sessions, delete(AuditEntry).where(AuditEntry.id == ids[1]))
    result = ivr("audit", "verify")
    assert 1 == result.exit_code
    assert f"broken at entry {ids[2]}: broken link" in result.output


def test_cli_verify_without_the_secret_key_exits_2(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """No IVR_SECRET_KEY: a clear error naming it, exit 2."""
    append(migrated, 1)
    result = ivr("audit", "verify", IVR_SECRET_KEY="")
    assert 2 == result.exit_code
    assert "IVR_SECRET_KEY" in result.output


def test_cli_verify_with_a_noted_entry_detects_a_cut_tail(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """The tail cut off still chains; the hash noted earlier is what shows it."""
    append(migrated, 4)
    noted = json.loads(ivr("audit", "verify", "--format", "json").output)
    expect = f"{noted['last_id']}:{noted['last_hash']}"
    assert 0 == ivr("audit", "verify", "--expect", expect).exit_code
    execute(migrated.sessions, delete(AuditEntry).where(AuditEntry.id >= noted["last_id"] - 1))
    assert 0 == ivr("audit", "verify").exit_code  # the shorter chain on its own looks fine
    result = ivr("audit", "verify", "--expect", expect)
    assert 1 == result.exit_code
    assert "gone or carries another hash" in result.output
    assert 2 == ivr("audit", "verify", "--expect", "12").exit_code


def test_cli_show_lists_newest_first_and_filters(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """--action, --object KIND:ID and --limit narrow the list; JSON carries every field."""
    append(migrated, 3)
    with migrated.sessions.begin() as session:
        record(
            session,
            migrated,
            actor="compliance-2",
            action="recording.hold",
            object_kind="recording",
            object_id="RE0001",
            detail={"reason": "complaint 17"},
        )
    rows = json.loads(ivr("audit", "show", "--format", "json").output)
    assert [4, 3, 2, 1] == [row["id"] for row in rows]
    held = json.loads(ivr("audit", "show", "--action", "recording.hold", "--format", "json").output)
    assert [("compliance-2", {"reason": "complaint 17"})] == [
        (row["actor"], row["detail"]) for row in held
    ]
    one = json.loads(
        ivr("audit", "show", "--object", "recording:RE0001", "--format", "json").output
    )
    assert [4, 2] == [row["id"] for row in one]
    limited = json.loads(ivr("audit", "show", "--limit", "2", "--format", "json").output)
    assert [4, 3] == [row["id"] for row in limited]
    table = ivr("audit", "show", "--object", "recording", COLUMNS="200")
    assert 0 == table.exit_code
    assert "complaint 17" in table.output and "4 entries" in table.output
    assert 2 == ivr("audit", "show", "--object", "recording:").exit_code


def test_cli_show_on_an_empty_log(ivr: Callable[..., Result], migrated: Services) -> None:
    """Nothing yet: an empty list, exit 0."""
    assert [] == json.loads(ivr("audit", "show", "--format", "json").output)
    assert "0 entries" in ivr("audit", "show").output


def test_cli_help_names_the_settings(ivr: Callable[..., Result], tmp_path: Path) -> None:
    """Each audit command explains itself and names what it reads."""
    for command in (("audit", "verify"), ("audit", "show")):
        result = ivr(*command, "--help")
        assert 0 == result.exit_code
        assert "IVR_DATABASE_URL" in result.output
