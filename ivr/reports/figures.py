"""The figures users report upward, per campaign and period, optionally split into groups.

Definitions are in the README ("Report figures"). Rates are fractions 0..1, None when the
denominator is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ivr.campaigns.options import campaign_config
from ivr.flows.model import AskNode, Flow
from ivr.reports.counts import ALL, GroupCounts
from ivr.reports.scope import ReportScope
from ivr.reports.staff_figures import staff_figures
from ivr.reports.tally import RATING_VALUES, Tally, merge

__all__ = ["ReportScope", "campaign_figures", "rating_questions"]


def rating_questions(flow: Flow) -> tuple[str, ...]:
    """The answers a flow collects on the 1-5 satisfaction scale, in the flow's order."""
    questions = []
    for node in flow.nodes.values():
        if isinstance(node, AskNode) and node.answer is not None:
            values = {choice.value for choice in node.choices.values()}
            if values == set(RATING_VALUES) and node.answer not in questions:
                questions.append(node.answer)
    return tuple(questions)


def campaign_figures(
    session: Session,
    scope: ReportScope,
    *,
    flow: Flow,
    now: datetime,
    targets: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The report: the campaign's figures, and with scope.by the same figures per group."""
    config = campaign_config(scope.campaign.options)
    # The deadline figures belong to campaigns whose cases have deadlines (the template's or the
    # campaign's `deadline`, or cooling_off_days), present even before any deadline has passed.
    deadlines = config.policy.deadline_after is not None
    counter = GroupCounts(session, scope, now, default_zone=config.timezone, deadlines=deadlines)
    questions = rating_questions(flow)
    groups = counter.groups(questions)
    total = merge(groups.values(), questions) if scope.by else groups.get(ALL)
    if total is None:
        total = Tally.empty(questions)
    report: dict[str, Any] = {
        "campaign": scope.campaign.name,
        "period": {
            "from": None if scope.start is None else scope.start.isoformat(),
            "to": None if scope.end is None else scope.end.isoformat(),
        },
        "as_of": now.isoformat(),
        **total.as_json(deadlines=deadlines),
    }
    report["staff"] = staff_figures(session, counter.where)
    report["targets"] = _against(report, targets or {})
    if scope.by is not None:
        report["by"] = scope.by
        report["groups"] = {
            key: figures.as_json(deadlines=deadlines) for key, figures in sorted(groups.items())
        }
    return report


def _against(report: Mapping[str, Any], targets: Mapping[str, float]) -> dict[str, Any]:
    shown = {}
    for figure, target in sorted(targets.items()):
        value = report.get(figure)
        shown[figure] = {
            "target": target,
            "value": value,
            "met": None if value is None else value >= target,
        }
    return shown
