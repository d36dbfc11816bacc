"""The e-mails supervisors get, and the one a contact gets, composed from plain values. Pure: no
database, no clock.

Escalations are named by id, reason, campaign and case reference; never a phone number or a name.
The contact's e-mail (ivr.queue.fallback) names only the organisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

SUBJECT_PREFIX = "[ivr]"


@dataclass(frozen=True)
class EscalationLine:
    """One escalation as a message shows it."""

    id: int
    reason: str
    priority: int
    campaign: str
    case_ref: str
    due_at: datetime  # aware UTC
    timezone: str  # the campaign's zone, in which the due time is shown
    holder: str | None  # the user who claimed it; None: nobody yet
    status: str

    def due_local(self) -> str:
        """The due time in the campaign's zone, e.g. 2030-01-08 00:00 Asia/Shanghai."""
        return f"{self.due_at.astimezone(ZoneInfo(self.timezone)):%Y-%m-%d %H:%M} {self.timezone}"


@dataclass(frozen=True)
class Digest:
    """What the daily digest says: overdue, due today, due by the next working day, counts."""

    today: date  # in the digest's zone
    next_working_day: date
    timezone: str
    overdue: tuple[EscalationLine, ...]
    due_today: tuple[EscalationLine, ...]
    due_next: tuple[EscalationLine, ...]  # after today, by the end of next_working_day
    #: per reason: (open, overdue) over every escalation not resolved
    by_reason: dict[str, tuple[int, int]] = field(default_factory=dict)


def _table(lines: Sequence[EscalationLine]) -> list[str]:
    header = ["id", "reason", "prio", "campaign", "case", "due", "held by"]
    rows = [
        [
            f"#{line.id}",
            line.reason,
            str(line.priority),
            line.campaign,
            line.case_ref,
            line.due_local(),
            line.holder or "nobody (unclaimed)",
        ]
        for line in lines
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _message(
    subject: str, body: str, *, sender: str, to: Sequence[str], now: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{SUBJECT_PREFIX} {subject}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    # Machine-sent: out-of-office replies should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def contact_message(
    subject: str, body: str, *, sender: str, to: str, now: datetime
) -> EmailMessage:
    """A message to one contact (the unreachable e-mail): their subject as is, no [ivr] prefix."""
    message = _message(subject, body, sender=sender, to=[to], now=now)
    message.replace_header("Subject", subject)
    return message


def overdue_message(
    lines: Sequence[EscalationLine], *, sender: str, to: Sequence[str], now: datetime
) -> EmailMessage:
    """One message listing escalations that went past their deadline, most urgent first."""
    count = len(lines)
    noun = "escalation is" if count == 1 else "escalations are"
    body = [
        f"{count} {noun} past the deadline and not resolved:",
        "",
        *_table(lines),
        "",
        "Open the queue (`ivr queue list`) to claim or reassign them.",
        "Each is listed once, when it first becomes overdue; the daily digest repeats what is "
        "still overdue.",
    ]
    return _message(
        f"{count} {noun} overdue", "\n".join(body) + "\n", sender=sender, to=to, now=now
    )


def digest_message(
    digest: Digest, *, sender: str, to: Sequence[str], now: datetime
) -> EmailMessage:
    """The daily digest: overdue first, then due today, then due by the next working day."""
    body: list[str] = [
        f"The human follow-up queue on {digest.today:%a %Y-%m-%d} ({digest.timezone}).",
        "",
    ]
    sections = [
        ("Overdue", digest.overdue),
        ("Due today", digest.due_today),
        (
            f"Due by the end of the next working day, {digest.next_working_day:%a %Y-%m-%d}",
            digest.due_next,
        ),
    ]
    for title, lines in sections:
        body.append(f"{title}: {len(lines)}")
        if lines:
            body.extend(f"  {row}" for row in _table(lines))
        else:
            body.append("  none")
        body.append("")
    body.append("Not resolved, by reason (open / of which overdue):")
    if digest.by_reason:
        width = max(len(reason) for reason in digest.by_reason)
        for reason, (open_, overdue) in sorted(digest.by_reason.items()):
            body.append(f"  {reason.ljust(width)}  {open_:>4} / {overdue}")
    else:
        body.append("  none: the queue is empty")
    subject = (
        f"queue digest {digest.today:%Y-%m-%d}: {len(digest.overdue)} overdue, "
        f"{len(digest.due_today)} due today, {len(digest.due_next)} due next working day"
    )
    return _message(subject, "\n".join(body) + "\n", sender=sender, to=to, now=now)
