"""The supervisors' daily digest: what is overdue, due today, due by the next working day."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ivr.calendar import WorkCalendar
from ivr.job_marks import give_back, take_mark
from ivr.models import Escalation, EscalationStatus
from ivr.notify.mailer import MailError, mailer_for
from ivr.notify.messages import Digest, EscalationLine, digest_message
from ivr.queue.service import default_calendar
from ivr.queue.sla import WITH_CASE, MailStatus, escalation_lines
from ivr.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestReport:
    """One run of the digest job."""

    digest: Digest
    mail: MailStatus

    def __str__(self) -> str:
        d = self.digest
        return (
            f"{len(d.overdue)} overdue, {len(d.due_today)} due today, "
            f"{len(d.due_next)} due by {d.next_working_day} ({self.mail})"
        )


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    # fold=0: a local midnight skipped or repeated by a DST change maps to when the day starts.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def next_working_day(day: date, calendar: WorkCalendar) -> date:
    """The first working day after `day` (weekends, holidays, adjusted working days)."""
    # The digest only displays: a year without official data is estimated, not refused.
    estimating = calendar.estimating()
    following = day + timedelta(days=1)
    while not estimating.is_working_day(following):
        following += timedelta(days=1)
    return following


def digest_content(
    session: Session, services: Services, now: datetime, calendar: WorkCalendar | None = None
) -> Digest:
    """What the digest says at `now`; "today" is the local day in IVR_DIGEST_TIMEZONE."""
    zone_name = services.settings.digest_timezone
    tz = ZoneInfo(zone_name)
    today = now.astimezone(tz).date()
    following = next_working_day(today, calendar or default_calendar())
    tomorrow_starts = _start_of(today + timedelta(days=1), tz)
    # Everything due before the next working day ends: what falls due over a weekend is listed
    # on Friday, while someone is still at work to act on it.
    next_ends = _start_of(following + timedelta(days=1), tz)
    unresolved = Escalation.status != EscalationStatus.RESOLVED

    def lines(*conditions: Any) -> tuple[EscalationLine, ...]:
        rows = session.scalars(
            select(Escalation)
            .where(unresolved, *conditions)
            .order_by(Escalation.priority, Escalation.due_at, Escalation.id)
            .options(WITH_CASE)
        ).all()
        return tuple(escalation_lines(session, services, rows))

    counts = session.execute(
        select(
            Escalation.reason,
            func.count(),
            func.count(case((Escalation.due_at <= now, 1))),
        )
        .where(unresolved)
        .group_by(Escalation.reason)
    ).all()
    return Digest(
        today=today,
        next_working_day=following,
        timezone=zone_name,
        # Past due_at, whether or not the SLA job has marked it yet: nothing hides in a gap.
        overdue=lines(Escalation.due_at <= now),
        # A working-day SLA ends at the first instant of the following day: due at midnight is
        # due the day before, hence <= at both ends.
        due_today=lines(Escalation.due_at > now, Escalation.due_at <= tomorrow_starts),
        due_next=lines(Escalation.due_at > tomorrow_starts, Escalation.due_at <= next_ends),
        by_reason={reason: (open_, overdue) for reason, open_, overdue in counts},
    )


def daily_digest(
    services: Services, *, send: bool = True, once_a_day: bool = False
) -> DigestReport:
    """Compose the digest and mail it to the supervisors (also when the queue is empty).

    ``once_a_day`` is for the scheduled job, which every dialler process runs at the same hour:
    the first to mark the day mails it, the others report ALREADY_SENT. A run by hand always mails.
    """
    now = services.clock()
    with services.sessions() as session:
        digest = digest_content(session, services, now)
    if not send:
        return DigestReport(digest, MailStatus.DRY_RUN)
    settings = services.settings
    mailer = mailer_for(settings)
    if mailer is None:
        log.info("digest not mailed: no mail configured", extra={"action": "digest.no_mail"})
        return DigestReport(digest, MailStatus.NOT_CONFIGURED)
    day_key = f"digest:{now.astimezone(ZoneInfo(settings.digest_timezone)).date().isoformat()}"
    if once_a_day and not take_mark(services.sessions, day_key, now):
        log.info("digest already mailed today", extra={"action": "digest.already_sent"})
        return DigestReport(digest, MailStatus.ALREADY_SENT)
    message = digest_message(
        digest, sender=settings.smtp_from, to=settings.supervisor_emails, now=now
    )
    try:
        mailer.send(message)
    except MailError as exc:
        # Tomorrow's digest repeats whatever is still open; the overdue mails do not depend on it.
        # The day's mark goes back so that a run later today (a restart, a retry) may send it.
        if once_a_day:
            give_back(services.sessions, day_key)
        log.warning("digest not mailed: %s", exc, extra={"action": "digest.mail_failed"})
        return DigestReport(digest, MailStatus.FAILED)
    return DigestReport(digest, MailStatus.SENT)
