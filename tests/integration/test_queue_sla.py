"""The SLA job: overdue escalations are marked once and supervisors mailed once, on SQLite and
PostgreSQL, with a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.cli import main
from ivr.db import make_engine, make_sessions
from ivr.models import (
    Campaign,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    StaffRole,
    StaffUser,
)
from ivr.queue.digest import daily_digest, digest_content
from ivr.queue.service import raise_escalation
from ivr.queue.sla import ACTOR, MailStatus, mark_overdue
from ivr.services import Services
from scheduler.pacing import MonotonicPacer
from scheduler.runner import build_scheduler
from tests import factories
from tests.conftest import FakeClock
from tests.smtp_sink import SmtpSink, running_sink

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUPERVISORS = ("duty.supervisor@example.test", "ward.lead@example.test")
# 2026 has the State Council's notice in the calendar data: Mid-Autumn Fri 25 September, National
# Day 1-7 October, and Saturday 10 October an adjusted working day.
THU_0924_0900 = datetime(2026, 9, 24, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as server:
        yield server


def with_mail(services: Services, port: int) -> Services:
    """The services, mailing the supervisors through plain SMTP on 127.0.0.1:port."""
    services.settings = replace(
        services.settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="ivr@example.test",
        supervisor_emails=SUPERVISORS,
    )
    return services


@pytest.fixture
def mailing(services: Services, sink: SmtpSink) -> Services:
    return with_mail(services, sink.port)


def escalate(
    sessions: sessionmaker[Session],
    now: datetime,
    reason: str,
    ref: str,
    *,
    phone: int = 0,
    campaign: str = "ward-7",
) -> int:
    """A case in `campaign` and its escalation, raised as production raises it; its id."""
    with sessions.begin() as session:
        row = session.scalar(select(Campaign).where(Campaign.name == campaign))
        if row is None:
            row = factories.campaign(session, now, name=campaign)
        case = factories.case(session, row, now, ref=ref, phone=factories.FICTIONAL_PHONES[phone])
        raise_escalation(session, case_id=case.id, reason=reason, now=now)
        return session.scalars(select(Escalation.id).where(Escalation.case_id == case.id)).one()


def load(sessions: sessionmaker[Session], escalation_id: int) -> Escalation:
    with sessions() as session:
        return session.get_one(Escalation, escalation_id)


def history(sessions: sessionmaker[Session], escalation_id: int) -> list[str]:
    """The actions the SLA job recorded on an escalation (raising it records its own)."""
    with sessions() as session:
        return list(
            session.scalars(
                select(EscalationEvent.action)
                .where(
                    EscalationEvent.escalation_id == escalation_id, EscalationEvent.actor == ACTOR
                )
                .order_by(EscalationEvent.id)
            )
        )


@BOTH
def test_an_escalation_past_due_is_marked_and_mailed_once(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """A minute before the deadline nothing happens; at it, one mark and one mail; then none."""
    raised = clock.now
    eid = escalate(sessions, raised, "requested_agent", "P-0001")  # 24 hours
    clock.now = raised + timedelta(hours=24) - timedelta(minutes=1)
    early = mark_overdue(mailing)
    assert (early.marked, early.notified, early.mail) == ((), (), MailStatus.NOTHING)

    clock.now = raised + timedelta(hours=24)
    report = mark_overdue(mailing)
    assert [line.id for line in report.marked] == [eid]
    assert (report.notified, report.mail) == ((eid,), MailStatus.SENT)
    row = load(sessions, eid)
    assert (row.overdue_at, row.notified_at) == (clock.now, clock.now)
    assert history(sessions, eid) == ["overdue", "notified"]
    assert len(sink.received) == 1

    clock.advance(minutes=1)
    again = mark_overdue(mailing)
    assert (again.marked, again.notified, again.mail) == ((), (), MailStatus.NOTHING)
    assert len(sink.received) == 1
    assert history(sessions, eid) == ["overdue", "notified"]


@BOTH
@pytest.mark.parametrize(
    ("reason", "raised_local", "due_local"),
    [
        # 1 working day from Thursday: Friday is Mid-Autumn, then the weekend: end of Monday.
        ("identity_failed", datetime(2026, 9, 24, 10, 0), datetime(2026, 9, 29, 0, 0)),
        # 3 working days from Wednesday 30 September: National Day to the 7th, then Thursday 8,
        # Friday 9 and the adjusted working Saturday 10 October.
        ("complaint", datetime(2026, 9, 30, 10, 0), datetime(2026, 10, 11, 0, 0)),
    ],
)
def test_working_day_slas_become_overdue_at_the_end_of_the_right_working_day(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    reason: str,
    raised_local: datetime,
    due_local: datetime,
) -> None:
    """Weekends and public holidays do not count; an adjusted working Saturday does."""
    raised = raised_local.replace(tzinfo=SHANGHAI).astimezone(UTC)
    due = due_local.replace(tzinfo=SHANGHAI).astimezone(UTC)
    eid = escalate(sessions, raised, reason, "P-0001")
    assert load(sessions, eid).due_at == due

    clock.now = due - timedelta(seconds=1)
    assert mark_overdue(services).marked == ()
    clock.now = due
    assert [line.id for line in mark_overdue(services).marked] == [eid]
    assert load(sessions, eid).overdue_at == due


@BOTH
def test_a_resolved_escalation_is_never_marked(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Resolved before its deadline: long after it, no mark, no event, no mail."""
    eid = escalate(sessions, clock.now, "requested_agent", "P-0001")
    with sessions.begin() as session:
        row = session.get_one(Escalation, eid)
        row.status, row.resolved_at = EscalationStatus.RESOLVED, clock.now
    clock.advance(days=30)
    report = mark_overdue(mailing)
    assert (report.marked, report.mail) == ((), MailStatus.NOTHING)
    assert load(sessions, eid).overdue_at is None
    assert history(sessions, eid) == []
    assert sink.received == []


@BOTH
def test_the_mail_lists_the_newly_overdue_escalations_and_no_personal_data(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Two overdue (one claimed) are listed by id, reason, case and campaign; the one not yet due
    and the resolved one are not; neither phone numbers nor names appear."""
    start = clock.now
    late = escalate(sessions, start, "requested_agent", "P-LATE", phone=1)  # 24 h
    held = escalate(sessions, start, "identity_failed", "P-HELD", phone=2, campaign="policy-9")
    later = escalate(sessions, start, "unreachable", "P-LATER", phone=3)  # 72 h
    done = escalate(sessions, start, "partial", "P-DONE", phone=4)  # 48 h
    with sessions.begin() as session:
        agent = StaffUser(
            username="agent.lin", password_hash="x", role=StaffRole.AGENT, created_at=start
        )
        session.add(agent)
        session.flush()
        claimed = session.get_one(Escalation, held)
        claimed.status, claimed.claimed_by_id = EscalationStatus.CLAIMED, agent.id
        resolved = session.get_one(Escalation, done)
        resolved.status, resolved.resolved_at = EscalationStatus.RESOLVED, start
    clock.advance(hours=50)

    report = mark_overdue(mailing)

    assert sorted(line.id for line in report.marked) == sorted([late, held])
    (mail,) = sink.received
    assert sorted(mail.rcpt_to) == sorted(SUPERVISORS)
    assert mail.message["Subject"] == "[ivr] 2 escalations are overdue"
    body = mail.body
    late_due = load(sessions, late).due_at.astimezone(SHANGHAI)
    assert f"#{late}" in body and f"#{held}" in body
    assert f"#{later}" not in body and f"#{done}" not in body
    assert "P-LATE" in body and "P-HELD" in body and "policy-9" in body
    assert "P-LATER" not in body and "P-DONE" not in body
    assert f"{late_due:%Y-%m-%d %H:%M} Asia/Shanghai" in body
    assert "agent.lin" in body and "nobody (unclaimed)" in body
    # The most urgent first: identity_failed is priority 1, requested_agent 2.
    assert body.index("P-HELD") < body.index("P-LATE")
    text = mail.raw.decode("ascii", "replace") + body
    for phone in factories.FICTIONAL_PHONES[:5]:
        assert phone.lstrip("+") not in text
    assert "测试患者" not in body


@BOTH
@pytest.mark.parametrize("fault", ["rejected", "nobody listening"])
def test_a_mail_not_accepted_leaves_them_unnotified_and_the_next_run_sends(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """A relay answering 554, or none at all: marked, notified_at empty, a warning without
    addresses; the next run, with the server back, mails it."""
    if fault == "rejected":
        sink.reject_data = True
        with_mail(services, sink.port)
    else:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            closed_port = unused.getsockname()[1]
        with_mail(services, closed_port)
    eid = escalate(sessions, clock.now, "requested_agent", "P-0001")
    clock.advance(hours=25)

    with caplog.at_level(logging.WARNING, logger="ivr.queue.sla"):
        failed = mark_overdue(services)

    assert [line.id for line in failed.marked] == [eid]
    assert (failed.notified, failed.mail) == ((), MailStatus.FAILED)
    assert load(sessions, eid).notified_at is None
    (warning,) = [r for r in caplog.records if getattr(r, "action", "") == "sla.mail_failed"]
    assert "example.test" not in warning.getMessage()
    assert sink.received == []

    sink.reject_data = False
    with_mail(services, sink.port)
    clock.advance(minutes=1)
    retried = mark_overdue(services)
    assert (retried.marked, retried.notified, retried.mail) == ((), (eid,), MailStatus.SENT)
    (mail,) = sink.received
    assert f"#{eid}" in mail.body
    assert load(sessions, eid).notified_at == clock.now
    assert history(sessions, eid) == ["overdue", "notified"]


@BOTH
def test_without_mail_settings_escalations_are_still_marked_and_mailed_once_configured(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No IVR_SMTP_HOST: marked, the log says no mail is configured; configured later, the
    supervisors hear of it (nothing falls through)."""
    eid = escalate(sessions, clock.now, "requested_agent", "P-0001")
    clock.advance(hours=25)
    with caplog.at_level(logging.INFO, logger="ivr.queue.sla"):
        report = mark_overdue(services)
    assert [line.id for line in report.marked] == [eid]
    assert report.mail == MailStatus.NOT_CONFIGURED
    assert "sla.no_mail" in [getattr(r, "action", "") for r in caplog.records]
    assert load(sessions, eid).notified_at is None

    with_mail(services, sink.port)
    assert mark_overdue(services).notified == (eid,)
    assert len(sink.received) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_diallers_at_once_mark_and_mail_each_escalation_exactly_once(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Two runs started together on PostgreSQL (SQLite has one dialler): every escalation has
    one overdue event and appears in exactly one mail."""
    ids = [
        escalate(sessions, clock.now, "requested_agent", f"P-{n:04d}", phone=n) for n in range(40)
    ]
    clock.advance(hours=25)
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        start.wait()
        reports.append(mark_overdue(replace(mailing)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    marked = [line.id for report in reports for line in report.marked]
    notified = [eid for report in reports for eid in report.notified]
    assert sorted(marked) == ids
    assert sorted(notified) == ids
    with sessions() as session:
        events = session.scalars(select(EscalationEvent.action)).all()
    assert sorted(events).count("overdue") == 40
    assert sorted(events).count("notified") == 40
    mailed = [f"#{eid} " for eid in ids for mail in sink.received if f"#{eid} " in mail.body]
    assert len(mailed) == 40


@BOTH
def test_the_digest_lists_overdue_due_today_and_due_by_the_next_working_day(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Thursday 24 September 2026 09:00: Friday is Mid-Autumn, so the next working day is Monday
    and what falls due over the long weekend is listed now."""

    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 9, day, hour, 0, tzinfo=SHANGHAI).astimezone(UTC)

    overdue = escalate(sessions, at(22, 9), "requested_agent", "P-OVER", phone=1)  # due 23rd
    today = escalate(sessions, at(23, 20), "requested_agent", "P-TODAY", phone=2)  # 24th 20:00
    weekend = escalate(sessions, at(23, 12), "low_satisfaction", "P-SAT", phone=3)  # Sat 12:00
    monday = escalate(sessions, at(24, 8), "identity_failed", "P-MON", phone=4)  # end of Mon
    escalate(sessions, at(24, 8), "complaint", "P-LATER", phone=5)  # end of Wed 30th
    done = escalate(sessions, at(22, 9), "partial", "P-DONE", phone=6)
    with sessions.begin() as session:
        session.get_one(Escalation, done).status = EscalationStatus.RESOLVED
    clock.now = THU_0924_0900

    with sessions() as session:
        digest = digest_content(session, mailing, clock.now)
    assert (digest.today.isoformat(), digest.next_working_day.isoformat()) == (
        "2026-09-24",
        "2026-09-28",
    )
    assert [line.id for line in digest.overdue] == [overdue]
    assert [line.id for line in digest.due_today] == [today]
    assert [line.id for line in digest.due_next] == [monday, weekend]  # priority 1 first
    assert digest.by_reason == {
        "requested_agent": (2, 1),
        "low_satisfaction": (1, 0),
        "identity_failed": (1, 0),
        "complaint": (1, 0),
    }

    report = daily_digest(mailing)
    assert report.mail == MailStatus.SENT
    (mail,) = sink.received
    # A subject this long is folded onto the next line; unfolding keeps that line's space.
    assert mail.message["Subject"].strip() == (
        "[ivr] queue digest 2026-09-24: 1 overdue, 1 due today, 2 due next working day"
    )
    body = mail.body
    assert "Mon 2026-09-28" in body
    assert body.index("P-OVER") < body.index("P-TODAY") < body.index("P-MON") < body.index("P-SAT")
    assert "P-LATER" not in body.split("Not resolved, by reason")[0]
    assert "P-DONE" not in body


@BOTH
def test_an_empty_queue_still_gets_its_digest(
    mailing: Services, clock: FakeClock, sink: SmtpSink
) -> None:
    """The daily mail also says when there is nothing: its absence would then mean a fault."""
    clock.now = THU_0924_0900
    assert daily_digest(mailing).mail == MailStatus.SENT
    (mail,) = sink.received
    assert "none: the queue is empty" in mail.body


def test_ivr_queue_sla_dry_run_lists_without_writing_then_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ivr queue sla --dry-run` lists what is past due and changes nothing; without it, marks."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    env = {"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    engine = make_engine(env["IVR_DATABASE_URL"])
    # The command runs on the real clock: raised three days ago, 24 hours to act.
    eid = escalate(
        make_sessions(engine), datetime.now(UTC) - timedelta(days=3), "requested_agent", "P-CLI"
    )

    dry = runner.invoke(main, ["queue", "sla", "--dry-run", "--format", "json"], env=env)
    assert dry.exit_code == 0, dry.output
    listed = json.loads(dry.output)
    assert ([row["id"] for row in listed["marked"]], listed["mail"]) == ([eid], "dry run")
    assert load(make_sessions(engine), eid).overdue_at is None

    done = runner.invoke(main, ["queue", "sla"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 marked overdue" in done.output and "no mail configured" in done.output
    assert load(make_sessions(engine), eid).overdue_at is not None
    engine.dispose()


def test_the_dialler_runs_the_sla_job_and_logs_its_one_line(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The `sla` job marks what is past due and says so in one line."""
    escalate(sessions, clock.now, "requested_agent", "P-0001")
    clock.advance(hours=25)
    job = build_scheduler(services, MonotonicPacer(1.0)).get_job("sla")
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        job.func()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sla:")]
    assert line == "sla: 1 marked overdue, 0 notified (no mail configured)"


def test_the_digest_runs_daily_at_the_configured_local_hour(services: Services) -> None:
    """IVR_DIGEST_HOUR=7 in Asia/Shanghai: the next run is 07:00 there (23:00 UTC)."""
    services.settings = replace(services.settings, digest_hour=7)
    job = build_scheduler(services, MonotonicPacer(1.0)).get_job("digest")
    after = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    fire = job.trigger.get_next_fire_time(None, after)
    assert fire.astimezone(UTC) == datetime(2030, 1, 7, 23, 0, tzinfo=UTC)


def test_ivr_queue_digest_prints_with_dry_run_and_says_when_no_mail_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--dry-run` prints the digest; without it and without IVR_SMTP_HOST it says so, exit 0."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    env = {"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    engine = make_engine(env["IVR_DATABASE_URL"])
    escalate(make_sessions(engine), datetime.now(UTC) - timedelta(days=3), "partial", "P-CLI")
    engine.dispose()

    printed = runner.invoke(main, ["queue", "digest", "--dry-run"], env=env)
    assert printed.exit_code == 0, printed.output
    assert "Overdue: 1" in printed.output and "P-CLI" in printed.output
    sent = runner.invoke(main, ["queue", "digest"], env=env)
    assert sent.exit_code == 0, sent.output
    assert sent.output.strip().endswith("(no mail configured)")


@BOTH
def test_the_scheduled_digest_is_mailed_once_a_day_by_one_of_several_diallers(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Every `ivr dial` runs the digest job at the same hour: four at once mail it once; a
    failed mail gives the day back; the next day mails again; a run by hand always mails."""
    clock.now = THU_0924_0900
    escalate(sessions, clock.now, "complaint", "P-0001")
    sink.reject_data = True
    assert daily_digest(mailing, once_a_day=True).mail == MailStatus.FAILED
    sink.reject_data = False

    results: list[MailStatus] = []
    start = threading.Barrier(4)

    def dialler() -> None:
        start.wait()
        results.append(daily_digest(mailing, once_a_day=True).mail)

    threads = [threading.Thread(target=dialler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted([MailStatus.SENT] + [MailStatus.ALREADY_SENT] * 3)
    assert len(sink.received) == 1

    assert daily_digest(mailing).mail == MailStatus.SENT  # by hand: `ivr queue digest`
    clock.advance(hours=24)
    assert daily_digest(mailing, once_a_day=True).mail == MailStatus.SENT
    assert len(sink.received) == 3
