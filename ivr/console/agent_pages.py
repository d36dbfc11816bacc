"""The agent's queue: the escalations they may work, the most pressing first, and claiming one.

GET  /console/queue[?mine=1]            open escalations of the agent's scope and their own claims
POST /console/queue/<id>/claim          claim (ivr.queue.actions.claim); back to the queue, or
                                        to the case page when posted from it (back=case)

The rows come from ivr.queue.service.list_escalations with the agent's scope; a colleague's claim
is not listed (it is not the agent's to work). The order is due time, then priority: the queue's
service sorts by priority first, which suits supervisors, while an agent works against deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

import ivr.console.agent_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.models import Escalation, EscalationStatus, StaffRole, StaffUser
from ivr.queue.access import usernames_of
from ivr.queue.actions import claim
from ivr.queue.errors import QueueError
from ivr.queue.service import list_escalations

# A person works a few dozen escalations a day; more rows than this is a backlog for a supervisor.
MAX_ROWS = 300


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue, as the page shows it."""

    id: int
    case_id: int
    campaign: str
    case_ref: str
    reason: str
    priority: int
    due_at: datetime
    overdue: bool
    status: str
    holder: str | None
    mine: bool


def _rows(user: StaffUser, *, only_mine: bool, now: datetime) -> tuple[list[QueueRow], bool]:
    services = current_services()
    with services.sessions() as session:
        found: list[Escalation] = list_escalations(
            session, claimed_by_id=user.id, visible_to=user, limit=MAX_ROWS + 1
        )
        if not only_mine:
            found += list_escalations(
                session, status=EscalationStatus.OPEN, visible_to=user, limit=MAX_ROWS + 1
            )
        cut = len(found) > MAX_ROWS
        found.sort(key=lambda e: (e.due_at, e.priority, e.id))
        holders = usernames_of(session, (e.claimed_by_id for e in found))
        rows = [
            QueueRow(
                id=e.id,
                case_id=e.case_id,
                campaign=e.case.campaign.name,
                case_ref=e.case.external_ref,
                reason=e.reason,
                priority=e.priority,
                due_at=e.due_at,
                overdue=e.due_at <= now,
                status=str(e.status),
                holder=holders.get(e.claimed_by_id or 0)
                if e.status == EscalationStatus.CLAIMED
                else None,
                mine=e.claimed_by_id == user.id and e.status == EscalationStatus.CLAIMED,
            )
            for e in found[:MAX_ROWS]
        ]
    return rows, cut


def staff_user(staff_id: int) -> StaffUser:
    """The signed-in user's row, detached, for the queue's functions."""
    with current_services().sessions() as session:
        user = session.get(StaffUser, staff_id)
        assert user is not None  # current_staff() read it in this request
        session.expunge(user)
        return user


@bp.get("/queue")
@console_page(StaffRole.AGENT)
def my_queue() -> str:
    """The agent's queue, ordered by due time then priority; overdue rows marked."""
    user = staff_user(signed_in().id)
    only_mine = request.args.get("mine") == "1"
    rows, cut = _rows(user, only_mine=only_mine, now=current_services().clock())
    return render_template("agent/queue.html", rows=rows, cut=cut, only_mine=only_mine)


@bp.post("/queue/<int:escalation_id>/claim")
@console_page(StaffRole.AGENT)
def claim_escalation(escalation_id: int) -> Response:
    """Claim; a claim lost to a colleague says who holds it."""
    services = current_services()
    staff = signed_in()
    try:
        with services.sessions.begin() as session:
            user = session.get(StaffUser, staff.id)
            assert user is not None
            result = claim(session, services, escalation_id, user)
    except QueueError as exc:
        flash(f"{t('refused')} {exc}", "error")
    else:
        if result.won:
            flash(f"{t('claimed_ok')} {result.message()}", "ok")
        else:
            flash(f"{t('claimed_by_other')} {result.holder}. {result.message()}", "error")
    if request.form.get("back") == "case":
        with services.sessions() as session:
            case_id = session.scalar(
                select(Escalation.case_id).where(Escalation.id == escalation_id)
            )
        if case_id is not None:
            return redirect(url_for("console.case_page", case_id=case_id))
    mine = request.form.get("mine") == "1"
    return redirect(url_for("console.my_queue", mine="1") if mine else url_for("console.my_queue"))
