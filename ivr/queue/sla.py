"""The SLA job: escalations past their deadline are marked overdue, once, and supervisors told.

Nothing falls through: every escalation is resolved or, once past due_at, carries overdue_at and
an `overdue` event; the supervisors' mail is retried on every run until a server accepts it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from ivr.db import rowcount
from ivr.models import Case, Escalation, EscalationEvent, EscalationStatus, StaffUser
from ivr.notify.mailer import MailError, mailer_for
from ivr.notify.messages import EscalationLine, overdue_message
from ivr.services import Services

log = logging.getLogger(__name__)

ACTOR = "system:sla"
# Escalations marked per transaction: short transactions keep row locks brief next to the agents
# claiming and resolving in the web app.
MARK_BATCH = 50
# Messages name each escalation's case and campaign: load them in two queries, not one per row.
WITH_CASE = selectinload(Escalation.case).selectinload(Case.campaign)


class MailStatus(StrEnum):
    """What became of a run's e-mail."""

    SENT = "sent"  #: the mail server accepted the message
    FAILED = "failed"  #: not accepted; the next run tries again
    NOT_CONFIGURED = "no mail configured"  #: IVR_SMTP_HOST (or the addresses) not set
    NOTHING = "nothing to send"  #: no escalation waiting to be reported
    DRY_RUN = "dry run"  #: nothing written, nothing sent
    ALREADY_SENT = "already sent"  #: another dialler process mailed today's digest


@dataclass(frozen=True)
class SlaReport:
    """One run of the SLA job."""

    marked: tuple[EscalationLine, ...]  # newly overdue (with --dry-run: would be)
    notified: tuple[int, ...]  # escalation ids the supervisors were told about in this run
    mail: MailStatus

    def __str__(self) -> str:
        return f"{len(self.marked)} marked overdue, {len(self.notified)} notified ({self.mail})"

    def as_json(self) -> dict[str, Any]:
        """The report for `--format json`."""
        return {
            "marked": [_line_json(line) for line in self.marked],
            "notified": list(self.notified),
            "mail": str(self.mail),
        }


def _line_json(line: EscalationLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "reason": line.reason,
        "priority": line.priority,
        "campaign": line.campaign,
        "external_ref": line.case_ref,
        "status": line.status,
        "due": line.due_at.isoformat().replace("+00:00", "Z"),
        "due_local": line.due_local(),
        "held_by": line.holder,
    }


def escalation_lines(
    session: Session, services: Services, escalations: Iterable[Escalation]
) -> list[EscalationLine]:
    """Escalations as messages show them: case reference, campaign, local due time, holder."""
    rows = list(escalations)
    holder_ids = {e.claimed_by_id for e in rows if e.claimed_by_id is not None}
    holders: dict[int, str] = {
        user_id: username
        for user_id, username in session.execute(
            select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(holder_ids))
        )
    }
    lines = []
    for escalation in rows:
        case = escalation.case
        lines.append(
            EscalationLine(
                id=escalation.id,
                reason=escalation.reason,
                priority=escalation.priority,
                campaign=case.campaign.name,
                case_ref=case.external_ref,
                due_at=escalation.due_at,
                timezone=services.config(case.campaign).timezone,
                holder=holders.get(escalation.claimed_by_id)
                if escalation.claimed_by_id is not None
                else None,
                status=str(escalation.status),
            )
        )
    return lines


def _past_due(now: datetime) -> Any:
    return (
        (Escalation.status != EscalationStatus.RESOLVED)
        & (Escalation.due_at <= now)
        & Escalation.overdue_at.is_(None)
    )


def mark_overdue(services: Services, *, dry_run: bool = False) -> SlaReport:
    """Mark every unresolved escalation past due_at overdue (once), then tell the supervisors.

    Safe with several `ivr dial` processes: each escalation is marked by a conditional UPDATE
    that only one of them wins. With ``dry_run`` nothing is written or sent: the report lists
    what would be marked.
    """
    now = services.clock()
    with services.sessions() as session:
        due = session.scalars(
            select(Escalation).where(_past_due(now)).order_by(Escalation.id).options(WITH_CASE)
        ).all()
        if dry_run:
            lines = escalation_lines(session, services, due)
            return SlaReport(tuple(lines), (), MailStatus.DRY_RUN)
        ids = [e.id for e in due]
    marked = _mark(services, ids, now)
    if marked:
        log.warning(
            "escalations overdue",
            extra={"action": "sla.overdue", "count": len(marked), "escalation_ids": marked},
        )
    with services.sessions() as session:
        rows = session.scalars(
            select(Escalation)
            .where(Escalation.id.in_(marked))
            .order_by(Escalation.id)
            .options(WITH_CASE)
        ).all()
        lines = escalation_lines(session, services, rows)
    notified, mail = notify_overdue(services, now)
    return SlaReport(tuple(lines), notified, mail)


def _mark(services: Services, ids: Sequence[int], now: datetime) -> list[int]:
    marked: list[int] = []
    # Ids in ascending order in every process: two runs lock rows in one order, never deadlock.
    for start in range(0, len(ids), MARK_BATCH):
        with services.sessions.begin() as session:
            for escalation_id in ids[start : start + MARK_BATCH]:
                # The conditions again, in the UPDATE: the row may have been resolved since it
                # was read, or marked by another dialler (whose commit we waited for).
                moved = session.execute(
                    update(Escalation)
                    .where(Escalation.id == escalation_id, _past_due(now))
                    .values(overdue_at=now)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(moved) != 1:
                    continue
                session.add(
                    EscalationEvent(
                        escalation_id=escalation_id, at=now, actor=ACTOR, action="overdue"
                    )
                )
                marked.append(escalation_id)
    return marked


def notify_overdue(services: Services, now: datetime) -> tuple[tuple[int, ...], MailStatus]:
    """Send one mail listing the overdue escalations no supervisor was told about yet.

    notified_at is set only once the server accepted the message; a failure leaves it empty and
    the next run sends again. Resolved escalations are left out: there is nothing left to do.
    """
    settings = services.settings
    mailer = mailer_for(settings)
    if mailer is None:
        log.info(
            "overdue escalations not mailed: no mail configured (IVR_SMTP_HOST)",
            extra={"action": "sla.no_mail"},
        )
        return (), MailStatus.NOT_CONFIGURED
    try:
        with services.sessions.begin() as session:
            # The rows stay locked while the mail goes out: a second dialler skips them rather
            # than send the same list again (PostgreSQL; SQLite has one dialler).
            pending = session.scalars(
                select(Escalation)
                .where(
                    Escalation.overdue_at.is_not(None),
                    Escalation.notified_at.is_(None),
                    Escalation.status != EscalationStatus.RESOLVED,
                )
                .order_by(Escalation.priority, Escalation.due_at, Escalation.id)
                .with_for_update(skip_locked=True, of=Escalation)
                .options(WITH_CASE)
            ).all()
            if not pending:
                return (), MailStatus.NOTHING
            lines = escalation_lines(session, services, pending)
            message = overdue_message(
                lines, sender=settings.smtp_from, to=settings.supervisor_emails, now=now
            )
            mailer.send(message)
            for escalation in pending:
                escalation.notified_at = now
                session.add(
                    EscalationEvent(
                        escalation_id=escalation.id,
                        at=now,
                        actor=ACTOR,
                        action="notified",
                        detail=f"mailed to {len(settings.supervisor_emails)} supervisor(s)",
                    )
                )
            notified = tuple(e.id for e in pending)
    except MailError as exc:
        # The kind and code only: the server's text can echo addresses.
        log.warning(
            "overdue escalations not mailed, retrying next run: %s",
            exc,
            extra={"action": "sla.mail_failed"},
        )
        return (), MailStatus.FAILED
    return notified, MailStatus.SENT
