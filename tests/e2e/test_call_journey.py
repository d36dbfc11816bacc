"""The whole journey over real HTTP: importer, dispatcher, Twilio adapter, simulator, webhooks,
recording fetcher, reports. The demo's run is the product's own wiring; these tests check what it
leaves behind against what each synthetic patient did."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr.campaigns.options import campaign_config
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.demo.people import BEHAVIOURS, make_patients
from ivr.demo.run import run_demo
from ivr.models import (
    Answer,
    Attempt,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    Recording,
    RecordingStatus,
)
from ivr.reports.figures import ReportScope, campaign_figures
from ivr.services import shipped_flow

pytestmark = pytest.mark.e2e

PATIENTS = 60
SEED = 11
BEHAVIOUR_OF_CASE: dict[str, str] = {}

# What each kind of patient's case ends as (the soak test holds the product to it too).
EXPECTED_OUTCOME: dict[str, CaseOutcome | None] = {
    "answers and rates the stay 5": CaseOutcome.COMPLETED,
    "answers and rates the stay 4": CaseOutcome.COMPLETED,
    "answers and rates the stay 3": CaseOutcome.COMPLETED,
    "recovering worse (clinical concern)": CaseOutcome.COMPLETED,
    "rates 1-2 (low satisfaction)": CaseOutcome.COMPLETED,
    # The survey was finished; the call back asked for goes to the queue.
    "rates 1 and asks for an agent": CaseOutcome.COMPLETED,
    "presses 0 for an agent": CaseOutcome.REQUESTED_AGENT,
    "never answers": CaseOutcome.UNREACHABLE,
    "busy, then answers": CaseOutcome.COMPLETED,
    "no answer twice, then answers": CaseOutcome.COMPLETED,
    "wrong number": CaseOutcome.WRONG_NUMBER,
    "someone else answers": CaseOutcome.WRONG_PERSON,
    "hangs up mid-survey": CaseOutcome.PARTIAL,
    "answers but presses nothing": CaseOutcome.UNREACHABLE,
    "in the ICU (excluded)": None,
}


@pytest.fixture(
    scope="module", params=["post-discharge", "post-discharge-72h", "post-discharge-1w"]
)
def journey(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Session, Path, str]:
    folder = tmp_path_factory.mktemp(f"journey-{request.param}")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'ivr.db'}", recordings_dir=folder / "recordings"
    )
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("IVR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IVR_RECORDINGS_DIR", str(settings.recordings_dir))
    monkeypatch.chdir(folder)
    console = Console(file=io.StringIO(), width=120)
    try:
        name = run_demo(
            settings, patients=PATIENTS, seed=SEED, console=console, template=request.param
        )
    finally:
        monkeypatch.undo()
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "cases" in output and "escalations" in output
    session = make_sessions(make_engine(settings.database_url))()
    return session, settings.recordings_dir, name


def _cases(session: Session) -> list[Case]:
    return list(
        session.scalars(
            select(Case).options(selectinload(Case.attempts), selectinload(Case.contact))
        )
    )


def _behaviour(session: Session, case: Case) -> str:
    # The same seed gives the same patients; their behaviour does not depend on the date.
    if not BEHAVIOUR_OF_CASE:
        for patient in make_patients(PATIENTS, date(2030, 1, 1), SEED):
            BEHAVIOUR_OF_CASE[patient.ref] = patient.behaviour.name
    return BEHAVIOUR_OF_CASE[case.external_ref]


def test_every_case_is_settled_within_its_rules(journey: tuple[Session, Path, str]) -> None:
    session, _, _ = journey
    campaign = session.scalars(select(Campaign)).one()
    policy = campaign_config(campaign.options).policy
    for case in _cases(session):
        assert case.status in (CaseStatus.DONE, CaseStatus.EXCLUDED), case.external_ref
        assert len(case.attempts) == case.attempts_made <= policy.max_attempts
        tz = ZoneInfo(case.contact.timezone)
        placed = [a.placed_at for a in case.attempts if a.placed_at is not None]
        for when in placed:
            local = when.astimezone(tz).time()
            assert any(w.start <= local < w.end for w in policy.windows), (case.external_ref, when)
        for earlier, later in itertools.pairwise(placed):
            assert later - earlier >= policy.retry_spacing


def test_outcomes_follow_what_each_patient_did(journey: tuple[Session, Path, str]) -> None:
    session, _, _ = journey
    seen: Counter[str] = Counter()
    for case in _cases(session):
        behaviour = _behaviour(session, case)
        seen[behaviour] += 1
        assert case.outcome == EXPECTED_OUTCOME[behaviour], (case.external_ref, behaviour)
        if behaviour == "in the ICU (excluded)":
            assert case.status is CaseStatus.EXCLUDED and not case.attempts
    assert len(seen) >= 10  # the sample covers most behaviours
    assert set(EXPECTED_OUTCOME) == {b.name for b in BEHAVIOURS}  # each has its expectation


def test_escalations_name_their_reasons(journey: tuple[Session, Path, str]) -> None:
    session, _, _ = journey
    reasons: dict[str, set[str]] = {}
    for escalation in session.scalars(select(Escalation)):
        reasons.setdefault(escalation.case.external_ref, set()).add(escalation.reason)
    for case in _cases(session):
        behaviour = _behaviour(session, case)
        got = reasons.get(case.external_ref, set())
        if behaviour == "never answers":
            assert got == {"unreachable"}
        elif behaviour == "wrong number":
            assert got == {"wrong_number"}
        elif behaviour == "rates 1 and asks for an agent":
            assert got == {"low_satisfaction", "requested_agent"}
        elif behaviour == "rates 1-2 (low satisfaction)":
            assert got == {"low_satisfaction"}
        elif behaviour == "hangs up mid-survey":
            assert got == {"partial"}
        elif behaviour.startswith("answers and rates the stay"):
            assert got == set()


def test_each_answer_is_saved_once_despite_repeated_callbacks(
    journey: tuple[Session, Path, str],
) -> None:
    session, _, _ = journey
    rows = session.execute(select(Answer.attempt_id, Answer.question)).all()
    assert rows and len(rows) == len(set(rows))


def test_recordings_are_stored_verified_and_deleted_at_the_provider(
    journey: tuple[Session, Path, str],
) -> None:
    session, folder, _ = journey
    recordings = list(session.scalars(select(Recording)))
    answered = session.scalars(select(Attempt).where(Attempt.status == "completed")).all()
    assert len(recordings) == len(answered) > 0
    for recording in recordings:
        assert recording.status is RecordingStatus.STORED
        assert recording.provider_deleted_at is not None
        assert recording.path is not None
        data = (folder / recording.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == recording.sha256


def test_report_agrees_with_the_rows(journey: tuple[Session, Path, str]) -> None:
    session, _, _ = journey
    campaign = session.scalars(select(Campaign)).one()
    report = campaign_figures(
        session, ReportScope(campaign), flow=shipped_flow(campaign.flow), now=datetime.now(UTC)
    )
    cases = _cases(session)
    assert report["cases"] == len(cases) == PATIENTS
    assert report["excluded"] == sum(c.status is CaseStatus.EXCLUDED for c in cases)
    assert report["completed"] == sum(c.outcome is CaseOutcome.COMPLETED for c in cases)
    assert report["attempted"] == sum(bool(c.attempts) for c in cases)
    assert report["reached"] == sum(any(a.reached for a in c.attempts) for c in cases)
    # Settling kept each case's first reaching attempt, which the report counts from.
    for c in cases:
        first = min((a.number for a in c.attempts if a.reached), default=None)
        assert c.reached_on_attempt == first, c.external_ref
    to_reach = [c.reached_on_attempt for c in cases if c.reached_on_attempt is not None]
    assert report["average_attempts_to_reach"] == round(sum(to_reach) / len(to_reach), 2)
    assert report["open"] == 0
    assert report["satisfaction_rate"] is not None and 0 < report["satisfaction_rate"] <= 1


def test_the_demo_command_offers_every_program() -> None:
    from ivr.cli import DEMO_PROGRAMS
    from ivr.demo.run import PROGRAMS

    assert set(DEMO_PROGRAMS) == set(PROGRAMS)
