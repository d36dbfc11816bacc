"""Retention, legal hold and purge on SQLite and PostgreSQL, with real files in a tmp store."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from ivr.audit.log import AuditKeyMissing, check_chain
from ivr.campaigns.service import create_campaign
from ivr.cli import main
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import (
    Attempt,
    AuditEntry,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Recording,
    RecordingStatus,
)
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from recordings.hold import HoldError, place_hold, release_hold
from recordings.purge import SYSTEM_ACTOR, carry_out, plan_purge, purge_expired
from recordings.store import LocalStore, recording_path
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

TODAY = date(2030, 1, 7)  # FakeClock's default day (UTC)
WAV = recording_wav(1.0)
LISTEN = b"ID3 a compressed listening copy"
PAST = date(2028, 6, 1)  # with retention=1y: due since 2029-06-01
RECENT = date(2029, 12, 31)  # with retention=1y: due on 2030-12-31


def sid(n: int) -> str:
    """A provider-shaped recording id."""
    return f"RE{n:032x}"


def campaign(
    services: Services, name: str = "ward-7", template: str = "post-discharge", **overrides: str
) -> int:
    """A campaign from a template; its id."""
    with services.sessions.begin() as session:
        return create_campaign(
            session, name=name, template_name=template, overrides=overrides, now=services.clock()
        ).id


def stored(
    services: Services,
    campaign_id: int | None,
    n: int,
    *,
    anchor: date = PAST,
    details: dict[str, Any] | None = None,
    listen: bool = True,
    status: RecordingStatus = RecordingStatus.STORED,
) -> str:
    """A recording of a call to case n (its own case), its files written to the store; its sid."""
    now = services.clock()
    recording_sid = sid(n)
    path = recording_path(recording_sid, now)
    listen_path = path.replace(".wav", ".listen.mp3") if listen else None
    store = LocalStore(services.settings.recordings_dir)
    with services.sessions.begin() as session:
        attempt_id = None
        if campaign_id is not None:
            case = factories.case(
                session,
                session.get_one(Campaign, campaign_id),
                now,
                ref=f"P-{n:04d}",
                phone=factories.FICTIONAL_PHONES[n],
                anchor=anchor,
                details=details,
            )
            attempt = Attempt(case_id=case.id, number=1, language="zh-CN", created_at=now)
            session.add(attempt)
            session.flush()
            attempt_id = attempt.id
        if status is RecordingStatus.STORED:
            store.put(path, WAV)
            if listen_path:
                store.put(listen_path, LISTEN)
        session.add(
            Recording(
                attempt_id=attempt_id,
                recording_sid=recording_sid,
                call_sid=f"CA{n:032x}",
                media_url=f"https://api.example.test/{recording_sid}",
                status=status,
                sha256=hashlib.sha256(WAV).hexdigest(),
                size_bytes=len(WAV),
                path=path if status is RecordingStatus.STORED else None,
                listen_path=listen_path if status is RecordingStatus.STORED else None,
                created_at=now,
            )
        )
    return recording_sid


def load(services: Services, recording_sid: str) -> Recording:
    """The recording's row as the database has it now."""
    with services.sessions() as session:
        return session.scalars(
            select(Recording).where(Recording.recording_sid == recording_sid)
        ).one()


def files_of(services: Services, recording_sid: str) -> list[str]:
    """The recording's files still in the store."""
    root = services.settings.recordings_dir
    return sorted(p.name for p in root.rglob(f"{recording_sid}*") if p.is_file())


def audit(services: Services, action: str | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first, optionally of one action."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with services.sessions() as session:
        return list(session.scalars(query))


def chain_intact(services: Services) -> bool:
    """The audit chain verifies from the first entry to the last."""
    with services.sessions() as session:
        return check_chain(session, services).broken is None


def hold(services: Services, recording_sid: str, reason: str = "complaint 17") -> None:
    """Place a legal hold as compliance-1."""
    with services.sessions.begin() as session:
        place_hold(session, services, recording_sid, reason=reason, actor="compliance-1")


def release(services: Services, recording_sid: str, reason: str = "complaint closed") -> None:
    """Release a legal hold as compliance-1."""
    with services.sessions.begin() as session:
        release_hold(session, services, recording_sid, reason=reason, actor="compliance-1")


# --- purge ----------------------------------------------------------------------------------------


def test_a_recording_past_retention_is_deleted_marked_and_audited(
    services: Services, clock: FakeClock
) -> None:
    """Both files go, the row stays with purged_at, one audit entry names paths and checksum."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    report = purge_expired(services)
    row = load(services, recording_sid)
    assert ([recording_sid], [], clock.now, date(2029, 6, 1)) == (
        [item.recording_sid for item in report.purged],
        files_of(services, recording_sid),
        row.purged_at,
        row.retain_until,
    )
    (entry,) = audit(services)
    assert (SYSTEM_ACTOR, "recording.purge", "recording", str(row.id)) == (
        entry.actor,
        entry.action,
        entry.object_kind,
        entry.object_id,
    )
    assert {
        "recording_sid": recording_sid,
        "path": row.path,
        "listen_path": row.listen_path,
        "sha256": hashlib.sha256(WAV).hexdigest(),
        "retain_until": "2029-06-01",
        "rule": "1y after anchor 2028-06-01",
        "missing": [],
    } == entry.detail
    assert chain_intact(services)


def test_a_recording_not_yet_due_is_kept_and_its_date_saved(services: Services) -> None:
    """Retention running out later: files kept, retain_until written, nothing audited."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1, anchor=RECENT)
    report = purge_expired(services)
    row = load(services, recording_sid)
    assert (0, 1, 1) == (len(report.purged), report.not_due, report.refreshed)
    assert (date(2030, 12, 31), None) == (row.retain_until, row.purged_at)
    assert 2 == len(files_of(services, recording_sid))
    assert [] == audit(services)


def test_a_recording_is_due_on_its_retain_until_day(services: Services, clock: FakeClock) -> None:
    """retain_until is the first day it may go: kept the day before, deleted that day."""
    recording_sid = stored(services, campaign(services, retention="7d"), 1, anchor=date(2030, 1, 1))
    clock.now = datetime(2030, 1, 7, 23, 59, tzinfo=UTC)
    assert 0 == len(purge_expired(services).purged)
    clock.now = datetime(2030, 1, 8, 0, 0, tzinfo=UTC)
    assert [recording_sid] == [item.recording_sid for item in purge_expired(services).purged]


def test_a_held_recording_past_retention_is_kept_until_released(services: Services) -> None:
    """On hold: not deleted however old. Released: the next purge deletes it."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    hold(services, recording_sid)
    report = purge_expired(services)
    assert (0, 1) == (len(report.purged), report.on_hold)
    assert 2 == len(files_of(services, recording_sid))
    release(services, recording_sid)
    assert 1 == len(purge_expired(services).purged)
    assert [] == files_of(services, recording_sid)
    assert ["recording.hold", "recording.release", "recording.purge"] == [
        entry.action for entry in audit(services)
    ]
    assert chain_intact(services)


def test_a_hold_placed_after_the_plan_wins(services: Services) -> None:
    """Held between the first pass and the deletion: the check under the row lock keeps it."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    plan = plan_purge(services, today=TODAY, write=True)
    assert [recording_sid] == [due.item.recording_sid for due in plan.due]
    hold(services, recording_sid)
    report = carry_out(services, plan, actor=SYSTEM_ACTOR)
    assert (0, 1) == (len(report.purged), report.on_hold)
    assert 2 == len(files_of(services, recording_sid))
    assert load(services, recording_sid).purged_at is None


def test_a_dry_run_deletes_nothing_and_writes_nothing(services: Services) -> None:
    """Lists what would go and counts why the rest stays; files, rows and audit log untouched."""
    campaign_id = campaign(services, retention="1y")
    due = stored(services, campaign_id, 1)
    held = stored(services, campaign_id, 2)
    stored(services, campaign_id, 3, anchor=RECENT)
    stored(services, None, 4)  # no case: retention unknown
    hold(services, held)
    entries_before = len(audit(services))
    report = purge_expired(services, dry_run=True)
    assert ([due], 1, 1, 1, 4) == (
        [item.recording_sid for item in report.purged],
        report.on_hold,
        report.not_due,
        sum(report.unknown.values()),
        report.checked,
    )
    assert str(report).startswith("would purge 1, on hold 1, not yet due 1, retention unknown 1")
    row = load(services, due)
    assert (None, None) == (row.retain_until, row.purged_at)
    assert 2 == len(files_of(services, due))
    assert entries_before == len(audit(services))


def test_a_recording_whose_files_are_already_missing_is_purged_cleanly(
    services: Services,
) -> None:
    """A run that crashed after deleting the files: the next one finds them gone and completes."""
    campaign_id = campaign(services, retention="1y")
    both_gone = stored(services, campaign_id, 1)
    listen_gone = stored(services, campaign_id, 2)
    root = services.settings.recordings_dir
    for path in root.rglob(f"{both_gone}*"):
        path.unlink()
    (root / load(services, listen_gone).listen_path).unlink()  # type: ignore[operator]
    report = purge_expired(services)
    assert ([], 2, 3) == (report.failed, len(report.purged), report.files_missing)
    missing = {entry.detail["recording_sid"]: entry.detail["missing"] for entry in audit(services)}
    assert 2 == len(missing[both_gone])
    assert [load(services, listen_gone).listen_path] == missing[listen_gone]
    assert [] == files_of(services, listen_gone)
    assert load(services, both_gone).purged_at is not None


def test_a_file_that_cannot_be_deleted_leaves_the_row_for_the_next_run(
    services: Services,
) -> None:
    """A store error rolls the recording back (no purged_at, no entry); the others go on."""
    campaign_id = campaign(services, retention="1y")
    stuck = stored(services, campaign_id, 1, listen=False)
    fine = stored(services, campaign_id, 2)
    evidence = services.settings.recordings_dir / load(services, stuck).path  # type: ignore[operator]
    evidence.unlink()
    evidence.mkdir()  # a folder where the file was: unlink fails, whoever runs the test
    report = purge_expired(services)
    assert ([fine], 1) == ([item.recording_sid for item in report.purged], len(report.failed))
    assert stuck in report.failed[0]
    assert load(services, stuck).purged_at is None
    assert [fine] == [entry.detail["recording_sid"] for entry in audit(services)]
    evidence.rmdir()
    assert [stuck] == [item.recording_sid for item in purge_expired(services).purged]


def test_a_second_run_deletes_nothing_more(services: Services) -> None:
    """Purged rows are left alone: one audit entry per recording, ever."""
    stored(services, campaign(services, retention="1y"), 1)
    purge_expired(services)
    again = purge_expired(services)
    assert (0, 0) == (len(again.purged), again.checked)
    assert 1 == len(audit(services, "recording.purge"))


def test_a_corrected_anchor_date_moves_retain_until(services: Services) -> None:
    """Each run computes retention again from the case, so a corrected date takes effect."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1, anchor=RECENT)
    assert 0 == len(purge_expired(services).purged)
    with services.sessions.begin() as session:
        session.execute(update(Case).values(anchor_date=PAST))
    report = purge_expired(services)
    assert [recording_sid] == [item.recording_sid for item in report.purged]
    assert date(2029, 6, 1) == load(services, recording_sid).retain_until


def test_retention_from_done_waits_for_the_case_to_close(
    services: Services, clock: FakeClock
) -> None:
    """retention_from=done: an open case is never due; once closed, counted from that day."""
    recording_sid = stored(
        services, campaign(services, retention="180d", retention_from="done"), 1, anchor=PAST
    )
    report = purge_expired(services)
    assert (0, 1) == (len(report.purged), report.not_due)
    assert load(services, recording_sid).retain_until is None
    with services.sessions.begin() as session:
        session.execute(
            update(Case).values(
                status=CaseStatus.DONE,
                outcome=CaseOutcome.COMPLETED,
                # 16:30 UTC is the next morning in Asia/Shanghai: the campaign's local day counts.
                done_at=datetime(2029, 7, 9, 16, 30, tzinfo=UTC),
            )
        )
    report = purge_expired(services)
    assert [recording_sid] == [item.recording_sid for item in report.purged]
    assert date(2030, 1, 6) == load(services, recording_sid).retain_until  # 2029-07-10 + 180d


def test_a_campaign_without_the_retention_option_is_never_purged(services: Services) -> None:
    """Created before the option existed: retention unknown, kept, and the reason counted."""
    campaign_id = campaign(services)
    recording_sid = stored(services, campaign_id, 1, anchor=date(1990, 1, 1))
    with services.sessions.begin() as session:
        row = session.get_one(Campaign, campaign_id)
        row.options = {k: v for k, v in row.options.items() if not k.startswith("retention")}
    report = purge_expired(services)
    assert (0, 1) == (len(report.purged), sum(report.unknown.values()))
    assert "no retention option" in next(iter(report.unknown))
    assert 2 == len(files_of(services, recording_sid))


def test_recordings_not_stored_and_without_a_case_are_left_alone(services: Services) -> None:
    """Pending and failed recordings are not looked at; one with no case is never due."""
    campaign_id = campaign(services, retention="1y")
    stored(services, campaign_id, 1, status=RecordingStatus.PENDING)
    stored(services, campaign_id, 2, status=RecordingStatus.FAILED)
    orphan = stored(services, None, 3)
    report = purge_expired(services)
    assert (1, 0, {"no case: not a recording of a campaign's call": 1}) == (
        report.checked,
        len(report.purged),
        dict(report.unknown),
    )
    assert 2 == len(files_of(services, orphan))


def test_the_insurer_rule_through_a_purge(services: Services) -> None:
    """Term 12 months: 5 years after the end; 13 months: 10 years; no contract_end: kept."""
    campaign_id = campaign(services, "policies", "cooling-off")
    short = stored(
        services, campaign_id, 1, details={"contract_end": "2024-06-30", "term_months": 12}
    )
    long = stored(
        services, campaign_id, 2, details={"contract_end": "2024-06-30", "term_months": 13}
    )
    unknown = stored(services, campaign_id, 3, anchor=date(2009, 12, 1))
    report = purge_expired(services)
    assert [short] == [item.recording_sid for item in report.purged]
    assert 1 == report.not_due
    assert {"insurer: no contract_end on the case": 1} == dict(report.unknown)
    assert date(2029, 6, 30) == load(services, short).retain_until
    assert date(2034, 6, 30) == load(services, long).retain_until
    assert load(services, unknown).retain_until is None
    rules = {entry.detail["recording_sid"]: entry.detail["rule"] for entry in audit(services)}
    assert "insurer: term 12 months, 5y after contract_end 2024-06-30" == rules[short]
    assert unknown not in rules


def test_purge_refuses_without_the_secret_key_but_a_dry_run_does_not_need_it(
    services: Services,
) -> None:
    """Every deletion is audited: no key, nothing deleted. A dry run writes nothing, so it runs."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    keyless = replace(services, settings=replace(services.settings, secret_key=""))
    with pytest.raises(AuditKeyMissing):
        purge_expired(keyless)
    assert 2 == len(files_of(services, recording_sid))
    assert 1 == len(purge_expired(keyless, dry_run=True).purged)


def test_two_purges_at_once_delete_each_recording_once(services: Services) -> None:
    """Concurrent runs (two schedulers): every recording purged and audited exactly once."""
    campaign_id = campaign(services, retention="1y")
    sids = [stored(services, campaign_id, n) for n in range(1, 11)]
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(purge_expired(services))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    purged = sorted(item.recording_sid for report in reports for item in report.purged)
    assert sids == purged
    purge_entries = audit(services, "recording.purge")
    assert sorted(sids) == sorted(e.detail["recording_sid"] for e in purge_entries)
    assert len(sids) == len({e.object_id for e in purge_entries})
    assert chain_intact(services)


# --- legal hold -----------------------------------------------------------------------------------


def test_hold_and_release_are_audited_with_their_reason(services: Services) -> None:
    """Each writes an entry naming the actor and the reason; the flag follows."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    hold(services, recording_sid, "court order 2030-17")
    assert load(services, recording_sid).legal_hold
    release(services, recording_sid, "order lifted")
    assert not load(services, recording_sid).legal_hold
    assert [
        ("recording.hold", "compliance-1", "court order 2030-17"),
        ("recording.release", "compliance-1", "order lifted"),
    ] == [(e.action, e.actor, e.detail["reason"]) for e in audit(services)]
    assert chain_intact(services)


@pytest.mark.parametrize(
    ("setup", "act", "message"),
    [
        (None, "hold", "no recording 'RE404'"),
        ("hold", "hold", "already on hold"),
        (None, "release", "is not on hold"),
        ("purge", "hold", "was purged on 2030-01-07"),
    ],
)
def test_hold_and_release_refuse_what_makes_no_sense(
    services: Services, setup: str | None, act: str, message: str
) -> None:
    """Unknown ids, holding twice, releasing what is not held, holding what is gone."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    if setup == "hold":
        hold(services, recording_sid)
    elif setup == "purge":
        purge_expired(services)
    entries = len(audit(services))
    target = "RE404" if "RE404" in message else recording_sid
    with pytest.raises(HoldError) as caught:
        (hold if act == "hold" else release)(services, target)
    assert message in str(caught.value)
    assert entries == len(audit(services))


def test_a_hold_needs_a_reason(services: Services) -> None:
    """A blank reason is refused: the audit log must say why."""
    recording_sid = stored(services, campaign(services, retention="1y"), 1)
    with pytest.raises(HoldError, match="reason"):
        hold(services, recording_sid, "  ")
    assert not load(services, recording_sid).legal_hold


# --- through the command line ---------------------------------------------------------------------


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
        "COLUMNS": "200",
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
    """Services on the migrated database the commands use (the commands read the real clock)."""
    engine = make_engine(settings.database_url)
    yield Services(settings=settings, sessions=make_sessions(engine), clock=clock)
    engine.dispose()


def test_cli_hold_purge_release_purge(ivr: Callable[..., Result], migrated: Services) -> None:
    """The whole story from the command line, then the audit log shows it and verifies."""
    recording_sid = stored(migrated, campaign(migrated, retention="1y"), 1, anchor=date(1990, 1, 1))
    held = ivr(
        "recordings", "hold", recording_sid, "--reason", "complaint 17", "--by", "compliance-1"
    )
    assert 0 == held.exit_code, held.output
    assert "on legal hold" in held.output
    kept = ivr("recordings", "purge")
    assert 0 == kept.exit_code, kept.output
    assert "purged 0, on hold 1" in kept.output
    released = ivr(
        "recordings", "release", recording_sid, "--reason", "closed", "--by", "compliance-1"
    )
    assert 0 == released.exit_code, released.output
    gone = ivr("recordings", "purge", "--by", "ops-2")
    assert 0 == gone.exit_code, gone.output
    assert recording_sid in gone.output and "purged 1" in gone.output
    assert [] == files_of(migrated, recording_sid)
    entries = json.loads(
        ivr(
            "audit",
            "show",
            "--object",
            f"recording:{load(migrated, recording_sid).id}",
            "--format",
            "json",
        ).output
    )
    assert [
        ("recording.purge", "ops-2"),
        ("recording.release", "compliance-1"),
        ("recording.hold", "compliance-1"),
    ] == [(e["action"], e["actor"]) for e in entries]
    assert 0 == ivr("audit", "verify").exit_code


def test_cli_hold_errors_are_one_line_and_exit_1(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """Unknown id, already held, not held, already purged: a clear message each."""
    recording_sid = stored(migrated, campaign(migrated, retention="1y"), 1, anchor=date(1990, 1, 1))
    unknown = ivr("recordings", "hold", "RE404", "--reason", "x")
    assert (1, True) == (unknown.exit_code, "no recording 'RE404'" in unknown.output)
    assert 0 == ivr("recordings", "hold", recording_sid, "--reason", "x").exit_code
    again = ivr("recordings", "hold", recording_sid, "--reason", "x")
    assert (1, True) == (again.exit_code, "already on hold" in again.output)
    assert 0 == ivr("recordings", "release", recording_sid, "--reason", "x").exit_code
    twice = ivr("recordings", "release", recording_sid, "--reason", "x")
    assert (1, True) == (twice.exit_code, "not on hold" in twice.output)
    assert 0 == ivr("recordings", "purge").exit_code
    late = ivr("recordings", "hold", recording_sid, "--reason", "x")
    assert (1, True) == (late.exit_code, "was purged" in late.output)
    assert 2 == ivr("recordings", "hold", recording_sid).exit_code  # --reason is required
    actors = {e.actor for e in audit(migrated, "recording.hold")}
    assert 1 == len(actors) and next(iter(actors)).startswith("cli:")


def test_cli_purge_dry_run_json(ivr: Callable[..., Result], migrated: Services) -> None:
    """Scripts get the list and the counts; nothing is deleted."""
    campaign_id = campaign(migrated, retention="1y")
    due = stored(migrated, campaign_id, 1, anchor=date(1990, 1, 1))
    stored(migrated, campaign_id, 2, anchor=date(2200, 1, 1))
    result = ivr("recordings", "purge", "--dry-run", "--format", "json")
    assert 0 == result.exit_code, result.output
    payload = json.loads(result.output)
    assert (True, 1, 1, 0, [due]) == (
        payload["dry_run"],
        payload["purged"],
        payload["not_due"],
        payload["on_hold"],
        [item["recording_sid"] for item in payload["recordings"]],
    )
    assert 2 == len(files_of(migrated, due))
    assert [] == json.loads(ivr("audit", "show", "--format", "json").output)


def test_cli_purge_without_the_secret_key_exits_2(
    ivr: Callable[..., Result], migrated: Services
) -> None:
    """No IVR_SECRET_KEY: nothing deleted, a message naming it, exit 2; a dry run still works."""
    recording_sid = stored(migrated, campaign(migrated, retention="1y"), 1, anchor=date(1990, 1, 1))
    result = ivr("recordings", "purge", IVR_SECRET_KEY="")
    assert 2 == result.exit_code
    assert "IVR_SECRET_KEY" in result.output
    assert 2 == len(files_of(migrated, recording_sid))
    assert 0 == ivr("recordings", "purge", "--dry-run", IVR_SECRET_KEY="").exit_code
    assert (
        2 == ivr("recordings", "hold", recording_sid, "--reason", "x", IVR_SECRET_KEY="").exit_code
    )


def test_cli_help_names_the_settings(ivr: Callable[..., Result]) -> None:
    """hold, release and purge explain themselves and name what they read."""
    for command in ("hold", "release", "purge"):
        result = ivr("recordings", command, "--help")
        assert 0 == result.exit_code
        assert "IVR_DATABASE_URL" in result.output and "IVR_SECRET_KEY" in result.output
    assert "retention_from" in ivr("campaigns", "create", "--help").output
