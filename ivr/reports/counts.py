"""The grouped queries of one report: one per concern (cases, attempts, answers, escalations),
each grouped by the report's split, so the cost does not grow with the number of groups."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from ivr.models import (
    Answer,
    Attempt,
    AuditItem,
    Case,
    CaseOutcome,
    CaseStatus,
    Contact,
    Escalation,
    EscalationStatus,
)
from ivr.reports.audit_outcomes import CONFIRMED, REACHED_OUTCOMES
from ivr.reports.case_counts import count_where
from ivr.reports.hours import local_hours
from ivr.reports.scope import GROUPS, ReportScope
from ivr.reports.tally import PROBLEM_REASON, Tally

ALL = "all"  # the group key of an unsplit report
NONE = "(none)"  # the group key of cases without the value a report is split by
_OPEN = (CaseStatus.PENDING, CaseStatus.IN_CALL)  # the machine is still at work on them
# Not done: a person can still reach them before the deadline (paused cases wait for one).
_NOT_DONE = (*_OPEN, CaseStatus.PAUSED)


class GroupCounts:
    """The grouped queries of one report."""

    def __init__(
        self, session: Session, scope: ReportScope, now: datetime, *, default_zone: str
    ) -> None:
        self.session, self.scope, self.now = session, scope, now
        where: list[ColumnElement[bool]] = [Case.campaign_id == scope.campaign.id]
        if scope.start is not None:
            where.append(Case.anchor_date >= scope.start)
        if scope.end is not None:
            where.append(Case.anchor_date <= scope.end)
        self.where = where
        self.key = self._group_key(scope.by)
        self.has_deadline = False  # any case with a deadline: set by _cases
        self.default_zone = default_zone
        self._groups: dict[str, Tally] = {}
        self._questions: tuple[str, ...] = ()

    @staticmethod
    def _group_key(by: str | None) -> ColumnElement[Any]:
        if by is None:
            return literal(ALL)
        if GROUPS[by] == "column":
            column: ColumnElement[Any] = getattr(Case, by)
        else:
            column = Case.details[by].as_string()
        return func.coalesce(func.nullif(column, ""), NONE)

    def group(self, key: str | None) -> Tally:
        name = NONE if key is None else str(key)
        if name not in self._groups:
            self._groups[name] = Tally.empty(self._questions)
        return self._groups[name]

    def groups(self, questions: tuple[str, ...]) -> dict[str, Tally]:
        self._questions = questions
        self._cases()
        self._outcomes()
        self._excluded_reasons()
        self._reached()
        self._ratings(questions)
        self._escalations()
        self._hours()
        self._audits()
        if self.has_deadline:
            self._problems()
        return self._groups

    def _cases(self) -> None:
        # One pass over the cases for the case counts and the deadline counts alike.
        eligible = and_(Case.deadline_at.is_not(None), Case.status != CaseStatus.EXCLUDED)
        passed = and_(eligible, Case.deadline_at <= self.now)
        in_time = and_(
            passed, Case.outcome == CaseOutcome.COMPLETED, Case.done_at <= Case.deadline_at
        )
        open_left = and_(eligible, Case.deadline_at > self.now, Case.status.in_(_NOT_DONE))

        rows = self.session.execute(
            select(
                self.key,
                func.count(),
                count_where(Case.status == CaseStatus.EXCLUDED),
                count_where(Case.attempts_made > 0),
                count_where(Case.outcome == CaseOutcome.COMPLETED),
                count_where(Case.status.in_(_OPEN)),
                count_where(Case.status == CaseStatus.PAUSED),
                count_where(Case.deadline_at.is_not(None)),
                count_where(passed),
                count_where(in_time),
                count_where(open_left),
            )
            .where(*self.where)
            .group_by(self.key)
        )
        for key, cases, excluded, attempted, completed, open_, paused, dated, *deadline in rows:
            figures = self.group(key)
            figures.cases, figures.excluded, figures.attempted = cases, excluded, attempted
            figures.completed, figures.open_cases, figures.paused = completed, open_, paused
            figures.deadline_passed, figures.within_deadline, figures.open_with_days_left = deadline
            self.has_deadline = self.has_deadline or dated > 0

    def _outcomes(self) -> None:
        rows = self.session.execute(
            select(self.key, Case.outcome, func.count())
            .where(*self.where, Case.outcome.is_not(None))
            .group_by(self.key, Case.outcome)
        )
        for key, outcome, count in rows:
            outcomes = self.group(key).outcomes
            assert outcomes is not None
            outcomes[str(outcome)] = count

    def _excluded_reasons(self) -> None:
        reason = func.coalesce(Case.excluded_reason, "unspecified")
        rows = self.session.execute(
            select(self.key, reason, func.count())
            .where(*self.where, Case.status == CaseStatus.EXCLUDED)
            .group_by(self.key, reason)
        )
        for key, why, count in rows:
            reasons = self.group(key).excluded_reasons
            assert reasons is not None
            reasons[why] = count

    def _reached(self) -> None:
        # The first attempt that reached each case: how many calls it took to reach a person.
        # Joined before grouping, so the reached attempts are read once (from the partial index
        # ix_attempt_reached where there is one) and only the report's cases are grouped.
        first = (
            select(
                self.key.label("g"),
                Attempt.case_id,
                func.min(Attempt.number).label("number"),
            )
            .select_from(Attempt)
            .join(Case, Attempt.case_id == Case.id)
            .where(*self.where, Attempt.reached.is_(True))
            .group_by(self.key, Attempt.case_id)
            .subquery()
        )
        rows = self.session.execute(
            select(first.c.g, func.count(), func.coalesce(func.sum(first.c.number), 0)).group_by(
                first.c.g
            )
        )
        for key, reached, attempts in rows:
            figures = self.group(key)
            figures.reached, figures.reach_attempts = reached, int(attempts)

    def _ratings(self, questions: tuple[str, ...]) -> None:
        if not questions:
            return
        rows = self.session.execute(
            select(self.key, Answer.question, Answer.value, func.count())
            .select_from(Answer)
            .join(Case, Answer.case_id == Case.id)
            .where(*self.where, Answer.question.in_(questions))
            .group_by(self.key, Answer.question, Answer.value)
        )
        for key, question, value, count in rows:
            ratings = self.group(key).ratings
            assert ratings is not None
            if value is not None:
                ratings.setdefault(question, {})[value] = count

    def _escalations(self) -> None:
        resolved = Escalation.status == EscalationStatus.RESOLVED
        met = and_(resolved, Escalation.resolved_at <= Escalation.due_at)
        missed = or_(
            and_(resolved, Escalation.resolved_at > Escalation.due_at),
            and_(~resolved, Escalation.due_at < self.now),
        )

        rows = self.session.execute(
            select(self.key, Escalation.reason, func.count(), count_where(met), count_where(missed))
            .select_from(Escalation)
            .join(Case, Escalation.case_id == Case.id)
            .where(*self.where)
            .group_by(self.key, Escalation.reason)
        )
        for key, reason, count, in_time, late in rows:
            figures = self.group(key)
            assert figures.escalations is not None and figures.sla is not None
            figures.escalations[reason] = count
            figures.sla[reason] = {
                "met": in_time,
                "missed": late,
                "pending": count - in_time - late,
            }

    def _utc_hour(self) -> ColumnElement[Any]:
        if self.session.get_bind().dialect.name == "postgresql":
            return func.date_trunc("hour", Attempt.placed_at)
        return func.substr(cast(Attempt.placed_at, String), 1, 13)  # "YYYY-MM-DD HH"

    def _hours(self) -> None:
        # Hours are the contact's local hours; offsets change with the date (daylight saving),
        # so the database groups by UTC hour and Python turns those into local hours. Nearly
        # every contact is in the campaign's zone: the attempts are counted in it without
        # reading the contacts, then those of contacts in other zones (a second, small query
        # that starts from the contacts) are moved from the campaign's zone to their own.
        utc_hour = self._utc_hour()
        reached = count_where(Attempt.reached.is_(True))
        placed = (*self.where, Attempt.placed_at.is_not(None))
        slots: dict[Any, list[tuple[str, Any, int, int]]] = defaultdict(list)
        for key, hour, count, hits in self.session.execute(
            select(self.key, utc_hour, func.count(), reached)
            .select_from(Attempt)
            .join(Case, Attempt.case_id == Case.id)
            .where(*placed)
            .group_by(self.key, utc_hour)
        ):
            slots[key].append((self.default_zone, hour, count, hits))
        for key, zone, hour, count, hits in self.session.execute(
            select(self.key, Contact.timezone, utc_hour, func.count(), reached)
            .select_from(Contact)
            .join(Case, Case.contact_id == Contact.id)
            .join(Attempt, Attempt.case_id == Case.id)
            .where(*placed, Contact.timezone != self.default_zone)
            .group_by(self.key, Contact.timezone, utc_hour)
        ):
            slots[key].append((self.default_zone, hour, -count, -hits))
            slots[key].append((zone, hour, count, hits))
        for key, rows in slots.items():
            hours = self.group(key).hours
            assert hours is not None
            for hour, (count, hits) in local_hours(rows).items():
                if count:
                    hours[hour] = [count, hits]

    def _problems(self) -> None:
        resolved = Escalation.status == EscalationStatus.RESOLVED

        rows = self.session.execute(
            select(
                self.key,
                func.count(),
                count_where(and_(resolved, Escalation.resolved_at <= Escalation.due_at)),
                count_where(and_(resolved, Escalation.resolved_at > Escalation.due_at)),
                count_where(~resolved),
            )
            .select_from(Escalation)
            .join(Case, Escalation.case_id == Case.id)
            .where(*self.where, Escalation.reason == PROBLEM_REASON)
            .group_by(self.key)
        )
        for key, opened, in_time, late, still_open in rows:
            self.group(key).problems = {
                "opened": opened,
                "closed_in_time": in_time,
                "closed_late": late,
                "open": still_open,
            }

    def _audits(self) -> None:
        # A case drawn in two samples counts once: the figures are about cases, not draws.
        def cases_where(condition: ColumnElement[bool]) -> Any:
            return func.count(distinct(case((condition, AuditItem.case_id), else_=None)))

        outcome = AuditItem.outcome
        rows = self.session.execute(
            select(
                self.key,
                func.count(distinct(AuditItem.case_id)),
                cases_where(outcome.is_not(None)),
                cases_where(outcome.in_(REACHED_OUTCOMES)),
                cases_where(outcome == CONFIRMED),
            )
            .select_from(AuditItem)
            .join(Case, AuditItem.case_id == Case.id)
            .where(*self.where)
            .group_by(self.key)
        )
        for key, drawn, done, reached, confirmed in rows:
            figures = self.group(key)
            figures.audit_drawn, figures.audit_done = drawn, done
            figures.audit_reached, figures.audit_confirmed = reached, confirmed
