"""One group's counts, summed across groups and shown as the report's figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ivr.reports.rates import ratio

RATING_VALUES = ("1", "2", "3", "4", "5")
SATISFIED_VALUES = frozenset({"4", "5"})  # 3 counts as not satisfied
COMPLAINT_REASON = "complaint"
PROBLEM_REASON = "missell_suspected"  # the regulator's problem case (回访问题件)


@dataclass
class Tally:
    """One group's counts; rates are derived when shown."""

    cases: int = 0
    excluded: int = 0
    attempted: int = 0
    reached: int = 0
    completed: int = 0
    open_cases: int = 0
    paused: int = 0
    outcomes: dict[str, int] | None = None  # why the done cases are done
    excluded_reasons: dict[str, int] | None = None
    reach_attempts: int = 0  # sum over reached cases of the attempt that first reached them
    ratings: dict[str, dict[str, int]] | None = None  # question -> value -> answers
    escalations: dict[str, int] | None = None
    sla: dict[str, dict[str, int]] | None = None  # reason -> met / missed / pending
    hours: dict[int, list[int]] | None = None  # local hour -> [attempts, reached]
    deadline_passed: int = 0
    within_deadline: int = 0
    open_with_days_left: int = 0
    problems: dict[str, int] | None = None
    audit_drawn: int = 0  # cases drawn for an audit re-call
    audit_done: int = 0  # ... whose re-call outcome is recorded
    audit_reached: int = 0  # ... where the re-call reached the person
    audit_confirmed: int = 0  # ... who confirmed the follow-up happened

    @classmethod
    def empty(cls, questions: tuple[str, ...]) -> Tally:
        return cls(
            outcomes={},
            excluded_reasons={},
            ratings={q: {} for q in questions},
            escalations={},
            sla={},
            hours={},
            problems={"opened": 0, "closed_in_time": 0, "closed_late": 0, "open": 0},
        )

    def as_json(self, *, deadlines: bool) -> dict[str, Any]:
        """The group's figures; with deadlines (a campaign whose cases have one) the deadline
        figures too, always, so that the shape depends on the campaign and not on its data."""
        assert self.ratings is not None and self.hours is not None and self.sla is not None
        eligible = self.cases - self.excluded
        satisfaction = {}
        rated_all = satisfied_all = 0
        for question, counts in self.ratings.items():
            rated = sum(counts.get(v, 0) for v in RATING_VALUES)
            satisfied = sum(counts.get(v, 0) for v in SATISFIED_VALUES)
            rated_all, satisfied_all = rated_all + rated, satisfied_all + satisfied
            satisfaction[question] = {
                "distribution": {v: counts.get(v, 0) for v in RATING_VALUES},
                "rated": rated,
                "satisfied": satisfied,
                "satisfied_share": ratio(satisfied, rated),
            }
        figures: dict[str, Any] = {
            "cases": self.cases,
            "excluded": self.excluded,
            "excluded_reasons": dict(sorted((self.excluded_reasons or {}).items())),
            "attempted": self.attempted,
            "reached": self.reached,
            "completed": self.completed,
            "open": self.open_cases,
            "paused": self.paused,
            "outcomes": dict(sorted((self.outcomes or {}).items())),
            "follow_up_rate": ratio(self.attempted, eligible),
            "effective_rate": ratio(self.reached, eligible),
            "completion_rate": ratio(self.completed, eligible),
            "satisfaction_rate": ratio(satisfied_all, rated_all),
            "satisfaction": satisfaction,
            "complaints": (self.escalations or {}).get(COMPLAINT_REASON, 0),
            "escalations": dict(sorted((self.escalations or {}).items())),
            "sla": dict(sorted(self.sla.items())),
            "average_attempts_to_reach": (
                None if self.reached == 0 else round(self.reach_attempts / self.reached, 2)
            ),
            "rated": rated_all,
            "satisfied": satisfied_all,
            "not_satisfied": rated_all - satisfied_all,
            "audit": {
                "drawn": self.audit_drawn,
                "audited": self.audit_done,
                "audit_rate": ratio(self.audit_done, self.attempted),
                "effectively_reached": self.audit_reached,
                "effective_audit_rate": ratio(self.audit_reached, self.audit_done),
                "confirmed": self.audit_confirmed,
                "confirmed_share": ratio(self.audit_confirmed, self.audit_reached),
            },
            "reach_by_hour": [
                {"hour": hour, "attempts": n, "reached": r, "reach_rate": ratio(r, n)}
                for hour, (n, r) in sorted(self.hours.items())
            ],
            "best_hours": best_hours(self.hours),
        }
        if deadlines:
            figures["success_within_deadline_rate"] = ratio(
                self.within_deadline, self.deadline_passed
            )
            figures["deadline_passed"] = self.deadline_passed
            figures["verified_within_deadline"] = self.within_deadline
            figures["open_with_days_left"] = self.open_with_days_left
            figures["problem_cases"] = dict(self.problems or {})
        return figures


def best_hours(hours: Mapping[int, list[int]], top: int = 3) -> list[int]:
    """The local hours with the highest reach rate (ties: more attempts first), at most `top`."""
    tried = [(r / n, n, hour) for hour, (n, r) in hours.items() if n > 0]
    return [hour for _rate, _n, hour in sorted(tried, key=lambda t: (-t[0], -t[1], t[2]))[:top]]


def merge(groups: Iterable[Tally], questions: tuple[str, ...]) -> Tally:
    total = Tally.empty(questions)
    for g in groups:
        for name in (
            "cases",
            "excluded",
            "attempted",
            "reached",
            "completed",
            "open_cases",
            "paused",
            "reach_attempts",
            "deadline_passed",
            "within_deadline",
            "open_with_days_left",
            "audit_drawn",
            "audit_done",
            "audit_reached",
            "audit_confirmed",
        ):
            setattr(total, name, getattr(total, name) + getattr(g, name))
        _add_counts(total.outcomes, g.outcomes)
        _add_counts(total.excluded_reasons, g.excluded_reasons)
        _add_counts(total.escalations, g.escalations)
        _add_counts(total.problems, g.problems)
        for question, counts in (g.ratings or {}).items():
            _add_counts(total.ratings.setdefault(question, {}), counts)  # type: ignore[union-attr]
        for reason, counts in (g.sla or {}).items():
            _add_counts(total.sla.setdefault(reason, {}), counts)  # type: ignore[union-attr]
        for hour, (n, r) in (g.hours or {}).items():
            slot = total.hours.setdefault(hour, [0, 0])  # type: ignore[union-attr]
            slot[0], slot[1] = slot[0] + n, slot[1] + r
    return total


def _add_counts(into: dict[Any, int] | None, more: Mapping[Any, int] | None) -> None:
    assert into is not None
    for key, n in (more or {}).items():
        into[key] = into.get(key, 0) + n
