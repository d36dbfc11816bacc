"""The deadline figures: their shape follows the campaign, and a person's verification counts
(README "Reports": success_within_deadline_rate), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import create_campaign
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    EscalationStatus,
    Recording,
    RecordingStatus,
    StaffRole,
    StaffUser,
)
from ivr.reports.cli import report_csv
from ivr.reports.figures import ReportScope, campaign_figures
from ivr.services import shipped_flow
from tests.report_population import NOW, add_case, local

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
DEADLINE_KEYS = (
    "success_within_deadline_rate",
    "deadline_passed",
    "verified_within_deadline",
    "open_with_days_left",
    "problem_cases",
)
PASSED = NOW - timedelta(days=2)  # the deadline of the cases whose deadline has passed
AHEAD = NOW + timedelta(days=3)


def report(
    sessions: sessionmaker[Session], campaign_id: int, *, by: str | None = None
) -> dict[str, Any]:
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        scope = ReportScope(campaign, start=date(2030, 1, 1), end=date(2030, 1, 31), by=by)
        return campaign_figures(session, scope, flow=shipped_flow(campaign.flow), now=NOW)


def new_campaign(sessions: sessionmaker[Session], template: str, **overrides: str) -> int:
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name=f"{template}-jan", template_name=template, overrides=overrides, now=NOW
        )
        return campaign.id


def add_cases(sessions: sessionmaker[Session], campaign_id: int, *cases: dict[str, Any]) -> None:
    with sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign_id)
        for n, fields in enumerate(cases, start=1):
            add_case(session, campaign, f"L-{n:02d}", **fields)


@BOTH
def test_a_cooling_off_campaign_without_cases_has_every_deadline_figure(
    sessions: sessionmaker[Session],
) -> None:
    """No cases: the keys are there, the rate is null, nothing is open."""
    figures = report(sessions, new_campaign(sessions, "cooling-off"))

    assert {key: figures[key] for key in DEADLINE_KEYS} == {
        "success_within_deadline_rate": None,
        "deadline_passed": 0,
        "verified_within_deadline": 0,
        "open_with_days_left": 0,
        "problem_cases": {"opened": 0, "closed_in_time": 0, "closed_late": 0, "open": 0},
    }


@BOTH
def test_all_excluded_and_deadlines_ahead_give_a_null_rate(
    sessions: sessionmaker[Session],
) -> None:
    """Excluded cases never count; cases whose deadline is ahead are open with days left."""
    excluded = new_campaign(sessions, "cooling-off")
    add_cases(
        sessions,
        excluded,
        {"status": CaseStatus.EXCLUDED, "deadline_at": PASSED},
        {"status": CaseStatus.EXCLUDED, "deadline_at": AHEAD},
    )
    figures = report(sessions, excluded)
    assert (figures["cases"], figures["excluded"]) == (2, 2)
    assert (figures["deadline_passed"], figures["success_within_deadline_rate"]) == (0, None)
    assert figures["open_with_days_left"] == 0

    with sessions.begin() as session:
        ahead = create_campaign(
            session, name="ahead", template_name="cooling-off", overrides={}, now=NOW
        )
        ahead_id = ahead.id
    add_cases(
        sessions,
        ahead_id,
        {"deadline_at": AHEAD},
        {"status": CaseStatus.PAUSED, "deadline_at": AHEAD},
        {  # done before its deadline, which is still ahead: neither passed nor open
            "status": CaseStatus.DONE,
            "outcome": CaseOutcome.COMPLETED,
            "calls": ((local(21, 10), True),),
            "done_at": local(21, 10, 5),
            "deadline_at": AHEAD,
        },
    )
    figures = report(sessions, ahead_id)
    assert figures["deadline_passed"] == 0
    assert figures["verified_within_deadline"] == 0
    assert figures["success_within_deadline_rate"] is None
    assert figures["open_with_days_left"] == 2


@BOTH
def test_a_campaign_without_deadlines_has_no_deadline_figures_whatever_its_data(
    sessions: sessionmaker[Session],
) -> None:
    """deadline=none: the keys are absent, even when a case carries a deadline anyway."""
    campaign_id = new_campaign(sessions, "post-discharge", deadline="none")
    add_cases(sessions, campaign_id, {"deadline_at": PASSED}, {})

    figures = report(sessions, campaign_id, by="department")

    assert not set(DEADLINE_KEYS) & set(figures)
    assert all(not set(DEADLINE_KEYS) & set(group) for group in figures["groups"].values())
    assert "deadline_passed" not in report_csv(figures).splitlines()[0]


@BOTH
def test_the_groups_and_the_csv_of_a_deadline_campaign_carry_the_deadline_figures(
    sessions: sessionmaker[Session],
) -> None:
    """Split by department, every group has the keys; the CSV has their columns."""
    campaign_id = new_campaign(sessions, "cooling-off")
    add_cases(sessions, campaign_id, {"deadline_at": AHEAD})

    figures = report(sessions, campaign_id, by="department")

    assert all(set(DEADLINE_KEYS) <= set(group) for group in figures["groups"].values())
    header, whole, *_groups = report_csv(figures).splitlines()
    assert header.endswith(
        "deadline_passed,verified_within_deadline,success_within_deadline_rate,open_with_days_left"
    )
    assert whole.endswith(",0,0,,1")  # the null rate is an empty cell


def _callback(
    session: Session,
    case: Case,
    agent: StaffUser,
    *,
    outcome: str | None,
    bridged_at: datetime | None,
    recording: RecordingStatus | None = RecordingStatus.STORED,
    resolved_at: datetime | None = None,
) -> None:
    """An escalation of the case (resolved with `outcome`, or open when None) and one callback
    of it; bridged_at None: the customer did not answer."""
    escalation = Escalation(
        case_id=case.id,
        reason="identity_failed",
        status=EscalationStatus.OPEN if outcome is None else EscalationStatus.RESOLVED,
        outcome=outcome,
        due_at=NOW + timedelta(days=5),
        resolved_at=None if outcome is None else (resolved_at or bridged_at or PASSED),
        resolved_by_id=None if outcome is None else agent.id,
        created_at=local(20, 9),
        updated_at=local(20, 9),
    )
    session.add(escalation)
    session.flush()
    callback = AgentCallback(
        escalation_id=escalation.id,
        case_id=case.id,
        agent_id=agent.id,
        status=(
            AgentCallbackStatus.CUSTOMER_UNREACHED
            if bridged_at is None
            else AgentCallbackStatus.COMPLETED
        ),
        requested_at=local(22, 9),
        bridged_at=bridged_at,
    )
    session.add(callback)
    session.flush()
    if recording is not None:
        session.add(
            Recording(
                callback_id=callback.id,
                recording_sid=f"RE{callback.id:032d}",
                call_sid=f"CA{callback.id:032d}",
                media_url="https://api.twilio.com/recording",
                status=recording,
                created_at=local(22, 10),
            )
        )


@BOTH
def test_a_person_verified_by_an_agents_recorded_callback_before_the_deadline_counts(
    sessions: sessionmaker[Session],
) -> None:
    """Verified within the deadline: completed by the machine in time, or an escalation resolved
    `confirmed` whose callback reached the customer, recorded, by the deadline. Each case once."""
    campaign_id = new_campaign(sessions, "cooling-off")
    before, after = PASSED - timedelta(hours=1), PASSED + timedelta(hours=1)
    unverified = {"status": CaseStatus.DONE, "outcome": CaseOutcome.IDENTITY_FAILED}
    with sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign_id)
        agent = StaffUser(username="ann", password_hash="x", role=StaffRole.AGENT, created_at=NOW)
        session.add(agent)

        def case(ref: str, **fields: Any) -> Case:
            return add_case(session, campaign, ref, **{"deadline_at": PASSED, **fields})

        case(  # L-01 the machine, in time: counted
            "L-01",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(20, 10), True),),
            done_at=before,
        )
        _callback(
            session, case("L-02", **unverified), agent, outcome="confirmed", bridged_at=before
        )
        _callback(session, case("L-03", **unverified), agent, outcome="confirmed", bridged_at=after)
        _callback(  # the recording was lost: no proof
            session,
            case("L-04", **unverified),
            agent,
            outcome="confirmed",
            bridged_at=before,
            recording=RecordingStatus.FAILED,
        )
        _callback(  # never recorded
            session,
            case("L-05", **unverified),
            agent,
            outcome="confirmed",
            bridged_at=before,
            recording=None,
        )
        _callback(  # resolved, but not as verified
            session, case("L-06", **unverified), agent, outcome="explained_again", bridged_at=before
        )
        _callback(session, case("L-07", **unverified), agent, outcome=None, bridged_at=before)
        _callback(  # the customer did not answer the callback
            session, case("L-08", **unverified), agent, outcome="confirmed", bridged_at=None
        )
        both = case(
            "L-09",
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(20, 10), True),),
            done_at=before,
        )
        _callback(session, both, agent, outcome="confirmed", bridged_at=before)
        _callback(  # verified on the call in time, the resolution typed in after the deadline
            session,
            case("L-10", **unverified),
            agent,
            outcome="confirmed",
            bridged_at=before,
            resolved_at=after,
        )
        _callback(  # verified, but its deadline is still ahead: not counted yet
            session,
            case("L-11", **{**unverified, "deadline_at": AHEAD}),
            agent,
            outcome="confirmed",
            bridged_at=before,
        )
        twice = case("L-12", **unverified)
        _callback(session, twice, agent, outcome="confirmed", bridged_at=before)
        _callback(session, twice, agent, outcome="confirmed", bridged_at=before)
        paused = case("L-13", status=CaseStatus.PAUSED)  # no outcome yet: a person verified it
        _callback(session, paused, agent, outcome="confirmed", bridged_at=before)

    figures = report(sessions, campaign_id)

    assert figures["cases"] == 13
    assert figures["deadline_passed"] == 12  # all but L-11
    assert figures["verified_within_deadline"] == 6  # L-01, L-02, L-09, L-10, L-12, L-13
    assert figures["success_within_deadline_rate"] == 0.5
    assert figures["open_with_days_left"] == 0
    assert figures["completed"] == 2  # the machine's figure is the machine's alone
    groups = report(sessions, campaign_id, by="department")["groups"].values()
    assert sum(group["verified_within_deadline"] for group in groups) == 6
