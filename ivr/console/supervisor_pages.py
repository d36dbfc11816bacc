"""The supervisor's queue of all: every escalation not resolved, reassigning and releasing.

GET  /console/all[?campaign=&reason=&status=&holder=&page=]   overdue first, then due, priority
POST /console/all/<id>/reassign     ivr.queue.actions.reassign (to=user name, note); audited
POST /console/all/<id>/release      ivr.queue.actions.release

Filters are matched as bound parameters, never pasted into SQL; a filter that names nothing
(an unknown campaign or user) lists nothing rather than everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from werkzeug.wrappers import Response

import ivr.console.supervisor_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.models import Campaign, Case, Escalation, EscalationStatus, StaffRole, StaffUser
from ivr.queue.access import may_work, usernames_of
from ivr.queue.actions import reassign, release
from ivr.queue.errors import QueueError

PAGE_SIZE = 50
MANAGERS = (StaffRole.SUPERVISOR, StaffRole.ADMIN)
# Who can be handed an escalation: people who work cases (compliance officers only read).
WORKERS = (StaffRole.AGENT, StaffRole.SUPERVISOR, StaffRole.ADMIN)
STATUSES = (EscalationStatus.OPEN, EscalationStatus.CLAIMED)


@dataclass(frozen=True)
class Filters:
    """The queue's filters as typed in the form (empty: not filtered)."""

    campaign: str = ""
    reason: str = ""
    status: str = ""
    holder: str = ""

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """Read from the query string; values are trimmed and bounded, never interpreted."""
        return cls(*(str(args.get(key, "")).strip()[:100] for key in cls.keys()))

    @staticmethod
    def keys() -> tuple[str, ...]:
        """The query string's names, in field order."""
        return ("campaign", "reason", "status", "holder")

    def args(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them."""
        return {key: value for key in self.keys() if (value := getattr(self, key))}


@dataclass(frozen=True)
class AllRow:
    """One line of the queue of all."""

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
    candidates: tuple[str, ...]  #: active users who may be handed this escalation


def _filtered(query: Select[Any], filters: Filters) -> Select[Any]:
    query = query.join(Case, Escalation.case_id == Case.id).where(
        Escalation.status != EscalationStatus.RESOLVED
    )
    if filters.campaign:
        query = query.join(Campaign, Case.campaign_id == Campaign.id).where(
            Campaign.name == filters.campaign
        )
    if filters.reason:
        query = query.where(Escalation.reason == filters.reason)
    if filters.status:
        query = query.where(Escalation.status == filters.status)
    if filters.holder:
        holder_id = select(StaffUser.id).where(StaffUser.username == filters.holder.lower())
        query = query.where(
            Escalation.status == EscalationStatus.CLAIMED,
            Escalation.claimed_by_id.in_(holder_id.scalar_subquery()),
        )
    return query


def _workers(session: Session) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_(WORKERS))
            .order_by(StaffUser.username)
        )
    )


def queue_of_all(
    session: Session, filters: Filters, *, now: datetime, page: int
) -> tuple[list[AllRow], int]:
    """One page of the escalations not resolved, and how many match in all."""
    if filters.status and filters.status not in {s.value for s in STATUSES}:
        return [], 0
    total = session.scalar(_filtered(select(func.count(Escalation.id)), filters)) or 0
    overdue_first = case((Escalation.due_at <= now, 0), else_=1)
    found = list(
        session.scalars(
            _filtered(select(Escalation), filters)
            # The id last makes the order total, so that pages neither repeat nor skip a row.
            .order_by(overdue_first, Escalation.due_at, Escalation.priority, Escalation.id)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    holders = usernames_of(session, (e.claimed_by_id for e in found))
    workers = _workers(session)
    rows = []
    for e in found:
        claimed = e.status == EscalationStatus.CLAIMED
        holder_id = e.claimed_by_id if claimed else None
        rows.append(
            AllRow(
                id=e.id,
                case_id=e.case_id,
                campaign=e.case.campaign.name,
                case_ref=e.case.external_ref,
                reason=e.reason,
                priority=e.priority,
                due_at=e.due_at,
                overdue=e.due_at <= now,
                status=str(e.status),
                holder=holders.get(holder_id or 0) if claimed else None,
                candidates=tuple(
                    w.username
                    for w in workers
                    if w.id != holder_id and may_work(session, w, e.case)
                ),
            )
        )
    return rows, total


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/all")
@console_page(*MANAGERS)
def all_queue() -> str:
    """Every escalation not resolved, overdue first; filters, paging, reassign and release."""
    services = current_services()
    filters = Filters.from_args(request.args)
    page = _page_number()
    with services.sessions() as session:
        rows, total = queue_of_all(session, filters, now=services.clock(), page=page)
        campaigns = list(session.scalars(select(Campaign.name).order_by(Campaign.name)))
        reasons = list(
            session.scalars(select(Escalation.reason).distinct().order_by(Escalation.reason))
        )
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "supervisor/all_queue.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        campaigns=campaigns,
        reasons=reasons,
        statuses=[s.value for s in STATUSES],
        back=request.full_path.rstrip("?"),
    )


def _back() -> Response:
    # Only a path of this queue, never a URL a form could point elsewhere.
    target = request.form.get("back", "")
    if not target.startswith("/console/all") or target.startswith("//"):
        target = url_for("console.all_queue")
    return redirect(target)


@bp.post("/all/<int:escalation_id>/reassign")
@console_page(*MANAGERS)
def all_reassign(escalation_id: int) -> Response:
    """Hand an escalation to a named user; refusals (scope, disabled, resolved) are shown."""
    services = current_services()
    target = request.form.get("to", "").strip().lower()
    note = request.form.get("note", "").strip()[:500] or None
    if not target:
        flash(t("sv_no_user"), "error")
        return _back()
    try:
        with services.sessions.begin() as session:
            me = session.get_one(StaffUser, signed_in().id)
            to = session.scalar(select(StaffUser).where(StaffUser.username == target))
            if to is None:
                raise QueueError(f"there is no user named {target}")
            reassign(session, services, escalation_id, me, to=to, note=note)
    except QueueError as exc:
        flash(f"{t('sv_refused')} {exc}", "error")
    else:
        flash(f"{t('sv_reassigned')} #{escalation_id} → {target}", "ok")
    return _back()


@bp.post("/all/<int:escalation_id>/release")
@console_page(*MANAGERS)
def all_release(escalation_id: int) -> Response:
    """Give a claimed escalation back to the queue."""
    services = current_services()
    try:
        with services.sessions.begin() as session:
            me = session.get_one(StaffUser, signed_in().id)
            release(session, services, escalation_id, me)
    except QueueError as exc:
        flash(f"{t('sv_refused')} {exc}", "error")
    else:
        flash(f"{t('sv_released')} #{escalation_id}", "ok")
    return _back()
