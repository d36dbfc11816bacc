"""Every report figure on a known population, on SQLite and PostgreSQL (README "Report figures")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import create_campaign
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Campaign,
    CaseOutcome,
    CaseStatus,
    Escalation,
    StaffRole,
    StaffUser,
)
from ivr.reports.figures import ReportScope, campaign_figures, rating_questions
from ivr.services import shipped_flow
from tests import factories
from tests.report_population import NOW, add_case, build_ward, escalation, local

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def ward(sessions: sessionmaker[Session]) -> int:
    return build_ward(sessions)


def report(
    sessions: sessionmaker[Session],
    campaign_id: int,
    *,
    by: str | None = None,
    targets: dict[str, float] | None = None,
) -> dict[str, Any]:
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        scope = ReportScope(campaign, start=date(2030, 1, 1), end=date(2030, 1, 31), by=by)
        return campaign_figures(
            session, scope, flow=shipped_flow(campaign.flow), now=NOW, targets=targets
        )


def test_the_rating_questions_are_the_flows_one_to_five_questions() -> None:
    assert rating_questions(shipped_flow("post-discharge")) == ("satisfaction",)
    assert rating_questions(shipped_flow("care-insurance")) == (
        "response_time",
        "accuracy",
        "safety",
    )


@BOTH
def test_every_figure_of_a_known_ward(sessions: sessionmaker[Session], ward: int) -> None:
    figures = report(sessions, ward, targets={"follow_up_rate": 0.8, "satisfaction_rate": 0.5})

    assert figures["period"] == {"from": "2030-01-01", "to": "2030-01-31"}
    assert {k: figures[k] for k in ("cases", "excluded", "attempted", "reached", "completed")} == {
        "cases": 5,
        "excluded": 1,
        "attempted": 3,
        "reached": 2,
        "completed": 2,
    }
    assert figures["open"] == 1
    assert figures["excluded_reasons"] == {"ward ICU is excluded": 1}
    assert figures["follow_up_rate"] == 0.75  # 3 of the 4 to call
    assert figures["effective_rate"] == 0.5
    assert figures["completion_rate"] == 0.5
    assert figures["satisfaction_rate"] == 0.5
    assert figures["satisfaction"] == {
        "satisfaction": {
            "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
            "rated": 2,
            "satisfied": 1,
            "satisfied_share": 0.5,
        }
    }
    assert figures["complaints"] == 1
    assert figures["escalations"] == {"complaint": 1, "low_satisfaction": 1}
    assert figures["sla"] == {
        "complaint": {"met": 1, "missed": 0, "pending": 0},
        "low_satisfaction": {"met": 0, "missed": 1, "pending": 0},
    }
    assert figures["average_attempts_to_reach"] == 1.5  # second call, first call
    assert figures["reach_by_hour"] == [
        {"hour": 9, "attempts": 3, "reached": 1, "reach_rate": 0.3333},
        {"hour": 10, "attempts": 1, "reached": 0, "reach_rate": 0.0},
        {"hour": 14, "attempts": 1, "reached": 1, "reach_rate": 1.0},
        {"hour": 15, "attempts": 1, "reached": 0, "reach_rate": 0.0},
    ]
    assert figures["best_hours"] == [14, 9, 10]
    assert figures["targets"] == {
        "follow_up_rate": {"target": 0.8, "value": 0.75, "met": False},
        "satisfaction_rate": {"target": 0.5, "value": 0.5, "met": True},
    }


@BOTH
def test_split_by_doctor_the_groups_add_up_to_the_whole(
    sessions: sessionmaker[Session], ward: int
) -> None:
    figures = report(sessions, ward, by="doctor")

    groups = figures["groups"]
    assert sorted(groups) == ["(none)", "Dr A", "Dr B"]
    assert {k: groups["Dr A"][k] for k in ("cases", "excluded", "attempted", "reached")} == {
        "cases": 2,
        "excluded": 1,
        "attempted": 1,
        "reached": 1,
    }
    assert groups["Dr A"]["follow_up_rate"] == 1.0
    assert groups["Dr B"]["follow_up_rate"] == 1.0
    assert groups["Dr B"]["satisfaction_rate"] == 0.0
    assert groups["(none)"]["follow_up_rate"] == 0.0
    assert groups["Dr B"]["reach_by_hour"][0] == {
        "hour": 9,
        "attempts": 2,
        "reached": 1,
        "reach_rate": 0.5,
    }
    unsplit = report(sessions, ward)
    for figure in ("cases", "attempted", "reached", "follow_up_rate", "sla", "reach_by_hour"):
        assert figures[figure] == unsplit[figure], figure


@BOTH
def test_an_empty_period_and_an_all_excluded_one(
    sessions: sessionmaker[Session], ward: int
) -> None:
    with sessions() as session:
        campaign = session.get_one(Campaign, ward)
        flow = shipped_flow(campaign.flow)
        empty = campaign_figures(
            session, ReportScope(campaign, start=date(2031, 1, 1)), flow=flow, now=NOW
        )
    assert (empty["cases"], empty["follow_up_rate"], empty["satisfaction_rate"]) == (0, None, None)
    assert empty["average_attempts_to_reach"] is None
    assert empty["reach_by_hour"] == [] and empty["best_hours"] == []

    with sessions.begin() as session:
        icu = factories.campaign(session, NOW, name="icu-only")
        add_case(session, icu, "P-11", status=CaseStatus.EXCLUDED)
        icu_id = icu.id
    figures = report(sessions, icu_id)
    assert (figures["cases"], figures["excluded"], figures["follow_up_rate"]) == (1, 1, None)
    assert figures["excluded_reasons"] == {"unspecified": 1}


@BOTH
def test_cooling_off_success_within_the_deadline(sessions: sessionmaker[Session]) -> None:
    """Verified before the deadline / deadline passed; open cases with days left apart."""
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name="policies-jan", template_name="cooling-off", overrides={}, now=NOW
        )
        passed = NOW - timedelta(days=2)
        in_time = add_case(
            session,
            campaign,
            "L-01",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(20, 10), True),),
            done_at=passed - timedelta(days=1),
            deadline_at=passed,
        )
        add_case(  # verified, but a day too late
            session,
            campaign,
            "L-02",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(20, 10), True),),
            done_at=passed + timedelta(days=1),
            deadline_at=passed,
        )
        add_case(
            session,
            campaign,
            "L-03",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.MISSED_DEADLINE,
            deadline_at=passed,
        )
        add_case(session, campaign, "L-04", deadline_at=NOW + timedelta(days=3))
        add_case(  # done early; its deadline is still ahead, so it is not counted yet
            session,
            campaign,
            "L-05",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(21, 10), True),),
            done_at=local(21, 10, 5),
            deadline_at=NOW + timedelta(days=5),
        )
        add_case(session, campaign, "L-06", status=CaseStatus.EXCLUDED, deadline_at=passed)
        escalation(
            session, in_time, "missell_suspected", due_at=NOW, resolved_at=NOW - timedelta(hours=1)
        )
        escalation(session, in_time, "missell_suspected", due_at=NOW + timedelta(days=9))
        campaign_id = campaign.id

    figures = report(sessions, campaign_id, targets={"success_within_deadline_rate": 1.0})

    assert figures["deadline_passed"] == 3
    assert figures["verified_within_deadline"] == 1
    assert figures["success_within_deadline_rate"] == 0.3333
    assert figures["open_with_days_left"] == 1
    assert figures["problem_cases"] == {
        "opened": 2,
        "closed_in_time": 1,
        "closed_late": 0,
        "open": 1,
    }
    assert figures["targets"]["success_within_deadline_rate"]["met"] is False


@BOTH
def test_staff_figures_count_resolutions_and_callbacks(
    sessions: sessionmaker[Session], ward: int
) -> None:
    """The complaint resolved in time by ann; two callbacks by ann, one of them reaching."""
    with sessions.begin() as session:
        ann = StaffUser(username="ann", password_hash="x", role=StaffRole.AGENT, created_at=NOW)
        session.add(ann)
        session.flush()
        complaint = session.scalars(
            select(Escalation).where(Escalation.reason == "complaint")
        ).one()
        complaint.resolved_by_id = ann.id
        for status in (AgentCallbackStatus.COMPLETED, AgentCallbackStatus.CUSTOMER_UNREACHED):
            session.add(
                AgentCallback(
                    escalation_id=complaint.id,
                    case_id=complaint.case_id,
                    agent_id=ann.id,
                    status=status,
                    requested_at=NOW,
                )
            )
    assert report(sessions, ward)["staff"] == {
        "ann": {
            "resolved": 1,
            "sla_met": 1,
            "sla_missed": 0,
            "callbacks": 2,
            "callbacks_completed": 1,
        }
    }
