"""The grouped queries of one report: one per concern (cases with their first reach, answers,
escalations, attempts by hour, audits), each grouped by the report's split, so the cost does not
grow with the number of groups, and each table read once: the attempts, by far the largest, are
read in one pass."""

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
    literal_column,
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
from ivr.reports.deadlines import by_machine_in_time, person_verified
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
        self,
        session: Session,
        scope: ReportScope,
        now: datetime,
        *,
        default_zone: str,
        deadlines: bool,
    ) -> None:
        self.session, self.scope, self.now = session, scope, now
        where: list[ColumnElement[bool]] = [Case.campaign_id == scope.campaign.id]
        if scope.start is not None:
            where.append(Case.anchor_date >= scope.start)
        if scope.end is not None:
            where.append(Case.anchor_date <= scope.end)
        self.where = where
        self.key = self._group_key(scope.by)
        # Unsplit, the key is a constant: left out of GROUP BY, it costs nothing per row.
        self.split: tuple[ColumnElement[Any], ...] = () if scope.by is None else (self.key,)
        self.deadlines = deadlines  # the campaign has deadlines: count the deadline figures
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
        self._ratings(questions)
        self._escalations()
        self._hours()
        self._audits()
        return self._groups

    def _cases(self) -> None:
        # One pass over the cases for the counts, the outcomes, the reasons for exclusion and
        # the deadlines. Grouped by status, outcome and reason, which make few groups: what
        # depends on those alone (excluded, completed, open, paused) is summed from the groups
        # here instead of being tested on every row.
        # The first reaching attempt is kept on the case (migration 0012 says why): how many
        # cases were reached and how many calls it took to reach them are two sums here.
        counted = [
            func.count(),
            count_where(Case.attempts_made > 0),
            func.count(Case.reached_on_attempt),
            func.coalesce(func.sum(Case.reached_on_attempt), 0),
        ]
        if self.deadlines:
            passed = Case.deadline_at <= self.now  # NULL, so not counted, without a deadline
            counted += [
                count_where(passed),
                count_where(and_(passed, Case.done_at <= Case.deadline_at)),
                count_where(Case.deadline_at > self.now),
            ]
        grouping = (Case.status, Case.outcome, Case.excluded_reason)
        rows = self.session.execute(
            select(self.key, *grouping, *counted)
            .where(*self.where)
            .group_by(*self.split, *grouping)
        )
        for key, status, outcome, why, cases, attempted, reached, to_reach, *deadline in rows:
            figures = self.group(key)
            assert figures.outcomes is not None and figures.excluded_reasons is not None
            figures.cases += cases
            figures.attempted += attempted
            figures.reached += reached
            figures.reach_attempts += int(to_reach)
            if outcome is not None:
                figures.outcomes[str(outcome)] = figures.outcomes.get(str(outcome), 0) + cases
            if status == CaseStatus.EXCLUDED:  # never called, so in no other figure
                reason = why or "unspecified"
                figures.excluded += cases
                figures.excluded_reasons[reason] = figures.excluded_reasons.get(reason, 0) + cases
                continue
            figures.completed += cases if outcome == CaseOutcome.COMPLETED else 0
            figures.open_cases += cases if status in _OPEN else 0
            figures.paused += cases if status == CaseStatus.PAUSED else 0
            if deadline:
                passed_n, done_in_time_n, ahead_n = deadline
                figures.deadline_passed += passed_n
                # Verified by the machine: the flow completed by the deadline.
                figures.within_deadline += done_in_time_n if outcome == CaseOutcome.COMPLETED else 0
                figures.open_with_days_left += ahead_n if status in _NOT_DONE else 0
        if self.deadlines:
            self._verified_by_a_person()

    def _deadline_passed(self) -> ColumnElement[bool]:
        return and_(
            Case.deadline_at.is_not(None),
            Case.status != CaseStatus.EXCLUDED,
            Case.deadline_at <= self.now,
        )

    def _verified_by_a_person(self) -> None:
        # The cases the machine did not verify in time but a person did: few, so found from the
        # resolved escalations and joined to their cases, not joined onto every case above.
        verified = person_verified()
        rows = self.session.execute(
            select(self.key, func.count())
            .select_from(verified)
            .join(Case, Case.id == verified.c.case_id)
            .where(
                *self.where,
                self._deadline_passed(),
                verified.c.verified_at <= Case.deadline_at,
                ~by_machine_in_time(),
            )
            .group_by(*self.split)
        )
        for key, count in rows:
            if count:
                self.group(key).within_deadline += count

    def _ratings(self, questions: tuple[str, ...]) -> None:
        if not questions:
            return
        rows = self.session.execute(
            select(self.key, Answer.question, Answer.value, func.count())
            .select_from(Answer)
            .join(Case, Answer.case_id == Case.id)
            .where(*self.where, Answer.question.in_(questions))
            .group_by(*self.split, Answer.question, Answer.value)
        )
        for key, question, value, count in rows:
            ratings = self.group(key).ratings
            assert ratings is not None
            if value is not None:
                ratings.setdefault(question, {})[value] = count

    def _escalations(self) -> None:
        # The SLA of every reason and the problem cases (one reason's row) in one pass.
        resolved = Escalation.status == EscalationStatus.RESOLVED
        rows = self.session.execute(
            select(
                self.key,
                Escalation.reason,
                func.count(),
                count_where(and_(resolved, Escalation.resolved_at <= Escalation.due_at)),
                count_where(and_(resolved, Escalation.resolved_at > Escalation.due_at)),
                count_where(and_(~resolved, Escalation.due_at < self.now)),
                count_where(~resolved),
            )
            .select_from(Escalation)
            .join(Case, Escalation.case_id == Case.id)
            .where(*self.where)
            .group_by(*self.split, Escalation.reason)
        )
        for key, reason, count, in_time, late, overdue, still_open in rows:
            figures = self.group(key)
            assert figures.escalations is not None and figures.sla is not None
            figures.escalations[reason] = count
            figures.sla[reason] = {
                "met": in_time,
                "missed": late + overdue,
                "pending": count - in_time - late - overdue,
            }
            if reason == PROBLEM_REASON:
                figures.problems = {
                    "opened": count,
                    "closed_in_time": in_time,
                    "closed_late": late,
                    "open": still_open,
                }

    def _utc_hour(self) -> ColumnElement[Any]:
        dialect = self.session.get_bind().dialect
        if dialect.name == "postgresql":
            if (dialect.server_version_info or (0,)) >= (14,):
                # date_bin is integer arithmetic on the timestamp; date_trunc takes every one
                # apart into fields and back, a third of this pass over a million attempts.
                return func.date_bin(
                    literal_column("interval '1 hour'"),
                    Attempt.placed_at,
                    literal_column("timestamp '2000-01-01'"),
                )
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
            .group_by(*self.split, utc_hour)
        ):
            slots[key].append((self.default_zone, hour, count, hits))
        for key, zone, hour, count, hits in self.session.execute(
            select(self.key, Contact.timezone, utc_hour, func.count(), reached)
            .select_from(Contact)
            .join(Case, Case.contact_id == Contact.id)
            .join(Attempt, Attempt.case_id == Case.id)
            .where(*placed, Contact.timezone != self.default_zone)
            .group_by(*self.split, Contact.timezone, utc_hour)
        ):
            slots[key].append((self.default_zone, hour, -count, -hits))
            slots[key].append((zone, hour, count, hits))
        for key, rows in slots.items():
            hours = self.group(key).hours
            assert hours is not None
            for hour, (count, hits) in local_hours(rows).items():
                if count:
                    hours[hour] = [count, hits]

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
            .group_by(*self.split)
        )
        for key, drawn, done, reached, confirmed in rows:
            if drawn:
                figures = self.group(key)
                figures.audit_drawn, figures.audit_done = drawn, done
                figures.audit_reached, figures.audit_confirmed = reached, confirmed
