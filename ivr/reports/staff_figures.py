"""What each member of staff did for a report's cases: escalations resolved (in time or late)
and callbacks placed (and how many reached the customer). REQUIREMENTS.md section 5: staff
performance is measured."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ivr.models import AgentCallback, AgentCallbackStatus, Case, Escalation, StaffUser
from ivr.reports.case_counts import count_where


def staff_figures(session: Session, where: list[ColumnElement[bool]]) -> dict[str, Any]:
    """Username -> resolved, sla_met, sla_missed, callbacks, callbacks_completed; `where`
    selects the report's cases."""
    staff: dict[str, dict[str, int]] = {}

    def row(name: str) -> dict[str, int]:
        return staff.setdefault(
            name,
            {
                "resolved": 0,
                "sla_met": 0,
                "sla_missed": 0,
                "callbacks": 0,
                "callbacks_completed": 0,
            },
        )

    resolved = session.execute(
        select(
            StaffUser.username,
            func.count(),
            count_where(Escalation.resolved_at <= Escalation.due_at),
            count_where(Escalation.resolved_at > Escalation.due_at),
        )
        .select_from(Escalation)
        .join(Case, Escalation.case_id == Case.id)
        .join(StaffUser, Escalation.resolved_by_id == StaffUser.id)
        .where(*where, Escalation.resolved_at.is_not(None))
        .group_by(StaffUser.username)
    )
    for name, count, met, missed in resolved:
        row(name).update(resolved=count, sla_met=met, sla_missed=missed)
    callbacks = session.execute(
        select(
            StaffUser.username,
            func.count(),
            count_where(AgentCallback.status == AgentCallbackStatus.COMPLETED),
        )
        .select_from(AgentCallback)
        .join(Case, AgentCallback.case_id == Case.id)
        .join(StaffUser, AgentCallback.agent_id == StaffUser.id)
        .where(*where)
        .group_by(StaffUser.username)
    )
    for name, count, completed in callbacks:
        row(name).update(callbacks=count, callbacks_completed=completed)
    return dict(sorted(staff.items()))
