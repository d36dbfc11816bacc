"""The care-insurance, renovation and clinic programs end to end on the simulator: `ivr demo
--template NAME` for each, then what every case ended as against what its synthetic person did."""

from __future__ import annotations

import csv
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr.campaigns.options import campaign_config
from ivr.campaigns.templates import TEMPLATES
from ivr.db import make_engine, make_sessions
from ivr.demo.care import BEHAVIOURS as CARE
from ivr.demo.cases import DemoCase
from ivr.demo.clinic import TREATED, VISITORS
from ivr.demo.renovation import BEHAVIOURS as RENOVATION
from ivr.demo.run import PROGRAMS
from ivr.models import (
    Answer,
    Attempt,
    CallEvent,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
)

pytestmark = pytest.mark.e2e

PEOPLE = 30
SEED = 9
DEMO_TIMEOUT_S = 120  # 30 people take about 10 s
LOCAL = ZoneInfo("Asia/Shanghai")

# What each kind of person's case ends as, and the reasons it is escalated for. A renovation job
# has three cases (three calls); the customer behaves the same on each, so each ends the same.
EXPECTED: dict[str, dict[str, tuple[CaseOutcome | None, set[str]]]] = {
    "care-insurance": {
        "rates the care well, appointment right": (CaseOutcome.COMPLETED, set()),
        "busy, then rates the care well": (CaseOutcome.COMPLETED, set()),
        "rates safety 2 (low satisfaction)": (CaseOutcome.COMPLETED, {"low_satisfaction"}),
        "asks to change the appointment": (CaseOutcome.COMPLETED, {"reschedule"}),
        "has a complaint": (CaseOutcome.COMPLETED, {"complaint"}),
        "presses 0 for a person": (CaseOutcome.REQUESTED_AGENT, {"requested_agent"}),
        "never answers": (CaseOutcome.UNREACHABLE, {"unreachable"}),
        "wrong number": (CaseOutcome.WRONG_NUMBER, {"wrong_number"}),
        "a relative answers": (CaseOutcome.WRONG_PERSON, {"wrong_person"}),
        "hangs up during the ratings": (CaseOutcome.PARTIAL, {"partial"}),
    },
    "renovation": {
        "happy at every call": (CaseOutcome.COMPLETED, set()),
        "busy once, then happy": (CaseOutcome.COMPLETED, set()),
        "rates the crew 2 (complaint)": (CaseOutcome.COMPLETED, {"complaint"}),
        "site untidy or late": (CaseOutcome.COMPLETED, set()),
        "rates the designer 1 (complaint)": (CaseOutcome.COMPLETED, {"complaint"}),
        "reports a problem (complaint)": (CaseOutcome.COMPLETED, {"complaint"}),
        "presses 0 for a person": (CaseOutcome.REQUESTED_AGENT, {"requested_agent"}),
        "never answers": (CaseOutcome.UNREACHABLE, {"unreachable"}),
        "wrong number": (CaseOutcome.WRONG_NUMBER, {"wrong_number"}),
        "someone else answers": (CaseOutcome.WRONG_PERSON, {"wrong_person"}),
    },
    "clinic-treated": {
        "satisfied, no discomfort": (CaseOutcome.COMPLETED, set()),
        "busy, then satisfied": (CaseOutcome.COMPLETED, set()),
        "rates the visit 2 (low satisfaction)": (CaseOutcome.COMPLETED, {"low_satisfaction"}),
        "reports discomfort (clinical concern)": (CaseOutcome.COMPLETED, {"clinical_concern"}),
        "rates 1 and reports discomfort": (
            CaseOutcome.COMPLETED,
            {"low_satisfaction", "clinical_concern"},
        ),
        "presses 0 for a person": (CaseOutcome.REQUESTED_AGENT, {"requested_agent"}),
        "never answers": (CaseOutcome.UNREACHABLE, {"unreachable"}),
        "wrong number": (CaseOutcome.WRONG_NUMBER, {"wrong_number"}),
        "someone else answers": (CaseOutcome.WRONG_PERSON, {"wrong_person"}),
        "hangs up after the rating": (CaseOutcome.PARTIAL, {"partial"}),
    },
    "clinic-visitor": {
        # Asking for a consultant's call completes the call and puts the call-back in the queue.
        "price; wants a consultant": (CaseOutcome.COMPLETED, {"requested_agent"}),
        "not needed now; no call": (CaseOutcome.COMPLETED, set()),
        "wants to think; wants a consultant": (CaseOutcome.COMPLETED, {"requested_agent"}),
        "other reason; no call": (CaseOutcome.COMPLETED, set()),
        "busy, then wants to think; no call": (CaseOutcome.COMPLETED, set()),
        "presses 0 for a person": (CaseOutcome.REQUESTED_AGENT, {"requested_agent"}),
        "never answers": (CaseOutcome.UNREACHABLE, {"unreachable"}),
        "wrong number": (CaseOutcome.WRONG_NUMBER, {"wrong_number"}),
        "someone else answers": (CaseOutcome.WRONG_PERSON, {"wrong_person"}),
        "bought on the day (excluded)": (None, set()),
    },
}
BEHAVIOURS = {
    "care-insurance": CARE,
    "renovation": RENOVATION,
    "clinic-treated": TREATED,
    "clinic-visitor": VISITORS,
}
# A saved answer that shows the person's choice reached the database: behaviour -> question, value.
ANSWERS: dict[str, dict[str, tuple[str, str]]] = {
    "care-insurance": {
        "rates the care well, appointment right": ("safety", "5"),
        "rates safety 2 (low satisfaction)": ("safety", "2"),
        "asks to change the appointment": ("appointment_ok", "change"),
        "has a complaint": ("complaint", "yes"),
    },
    "renovation": {
        "happy at every call": ("crew_rating", "5"),
        "rates the crew 2 (complaint)": ("crew_rating", "2"),
        "site untidy or late": ("on_schedule", "no"),
        "rates the designer 1 (complaint)": ("designer_rating", "1"),
        "reports a problem (complaint)": ("problem", "yes"),
    },
    "clinic-treated": {
        "satisfied, no discomfort": ("visit_rating", "5"),
        "rates the visit 2 (low satisfaction)": ("visit_rating", "2"),
        "reports discomfort (clinical concern)": ("discomfort", "yes"),
    },
    "clinic-visitor": {
        "price; wants a consultant": ("reason", "price"),
        "not needed now; no call": ("callback_wanted", "no"),
        "wants to think; wants a consultant": ("reason", "thinking"),
        "other reason; no call": ("reason", "other"),
    },
}


@dataclass
class ProgramRun:
    """One program's demo, run to the end: its database and the people it called."""

    template: str
    session: Session
    people: dict[str, DemoCase]  # by demo ref
    rows: dict[str, dict[str, str]]  # the CSV the demo imported, by demo ref (today's dates)

    def person(self, case: Case) -> DemoCase:
        """Whose case this is: a renovation job's cases are its ref plus -start, -mid, -end, a
        care case's periodic follow-ups its ref plus #2, #3, ..."""
        ref = case.external_ref.split("#")[0]
        return self.people.get(ref) or self.people[ref.rsplit("-", 1)[0]]

    def cases(self) -> list[Case]:
        """The cases the run imported, with their attempts and contact (not the periodic
        follow-ups they scheduled: see follow_ups)."""
        return [c for c in self.all_cases() if "#" not in c.external_ref]

    def follow_ups(self) -> list[Case]:
        """The next period's cases (care insurance: ref#2), scheduled by settled ones."""
        return [c for c in self.all_cases() if "#" in c.external_ref]

    def all_cases(self) -> list[Case]:
        query = select(Case).options(selectinload(Case.attempts), selectinload(Case.contact))
        return list(self.session.scalars(query.order_by(Case.id)))

    def reasons(self, case: Case) -> set[str]:
        """The reasons the case was escalated for."""
        query = select(Escalation.reason).where(Escalation.case_id == case.id)
        return set(self.session.scalars(query))

    def answers(self, case: Case) -> dict[str, str | None]:
        """The case's saved answers by question."""
        query = select(Answer.question, Answer.value).where(Answer.case_id == case.id)
        return {question: value for question, value in self.session.execute(query)}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def program(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProgramRun]:
    template = str(request.param)
    if template not in TEMPLATES:
        pytest.skip(f"template {template!r} is not in ivr.campaigns.templates.TEMPLATES yet")
    folder = tmp_path_factory.mktemp(template)
    database_url = f"sqlite:///{folder / 'ivr.db'}"
    env = {
        **os.environ,
        "IVR_DATABASE_URL": database_url,
        "IVR_RECORDINGS_DIR": str(folder / "recordings"),
    }
    # `ivr demo --template NAME` as a user runs it, in its own process: a demo that never settles
    # (a program whose cases keep adding cases) is killed at the timeout instead of hanging the
    # whole suite.
    command = [sys.executable, "-c", "from ivr.cli import main; main()", "demo"]
    command += ["--template", template, "--patients", str(PEOPLE), "--seed", str(SEED)]
    try:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`ivr demo --template {template}` did not finish in {DEMO_TIMEOUT_S} s")
    assert 0 == done.returncode, done.stderr[-2000:]
    # The same seed gives the same people; their behaviour does not depend on the date, their
    # dates do: those are read from the CSV the demo wrote.
    people = PROGRAMS[template].make_cases(PEOPLE, date(2030, 1, 1), SEED)
    (csv_path,) = folder.glob(f"var/demo/*/{template}.csv")
    with csv_path.open(encoding="utf-8", newline="") as stream:
        rows = {row["external_ref"]: row for row in csv.DictReader(stream)}
    engine = make_engine(database_url)
    session = make_sessions(engine)()
    yield ProgramRun(template, session, {p.ref: p for p in people}, rows)
    session.close()
    engine.dispose()


def _local(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL)


def test_the_expectations_name_every_behaviour_of_each_program() -> None:
    """The tables here and the demo's behaviours cannot drift apart unnoticed."""
    for template, behaviours in BEHAVIOURS.items():
        assert {b.name for b in behaviours} == set(EXPECTED[template]), template
        assert set(ANSWERS[template]) <= set(EXPECTED[template]), template


def test_every_behaviour_is_in_the_demo(program: ProgramRun) -> None:
    """30 people cover every kind of behaviour, so every check below has cases to look at."""
    assert {p.behaviour for p in program.people.values()} == set(EXPECTED[program.template])


def test_outcomes_and_escalations_follow_what_each_person_did(program: ProgramRun) -> None:
    """Each case ends as its person's behaviour implies and is escalated for exactly that."""
    expected = EXPECTED[program.template]
    checked: set[str] = set()
    for case in program.cases():
        behaviour = program.person(case).behaviour
        outcome, reasons = expected[behaviour]
        if outcome is None:  # excluded on import: never called
            assert case.status is CaseStatus.EXCLUDED and not case.attempts, case.external_ref
            continue
        assert (outcome, reasons) == (case.outcome, program.reasons(case)), (
            case.external_ref,
            behaviour,
        )
        checked.add(behaviour)
    assert {b for b, (outcome, _) in expected.items() if outcome is not None} == checked


def test_answers_are_saved_as_the_person_pressed(program: ProgramRun) -> None:
    """The keys pressed are the answers kept for the reports."""
    wanted = ANSWERS[program.template]
    for case in program.cases():
        behaviour = program.person(case).behaviour
        if behaviour in wanted:
            question, value = wanted[behaviour]
            assert value == program.answers(case).get(question), (case.external_ref, behaviour)


def test_calls_keep_to_the_windows_attempts_and_spacing(program: ProgramRun) -> None:
    """Every case is settled; its calls fall in the campaign's windows, apart and not too many."""
    campaign = program.session.scalars(select(Campaign)).one()
    policy = campaign_config(campaign.options).policy
    for case in program.cases():
        assert case.status in (CaseStatus.DONE, CaseStatus.EXCLUDED), case.external_ref
        assert len(case.attempts) == case.attempts_made <= policy.max_attempts
        tz = ZoneInfo(case.contact.timezone)
        placed = [a.placed_at for a in case.attempts if a.placed_at is not None]
        for when in placed:
            local = _local(when).astimezone(tz).time()
            assert any(w.start <= local < w.end for w in policy.windows), (case.external_ref, when)
        for earlier, later in itertools.pairwise(placed):
            assert later - earlier >= policy.retry_spacing


def _first_call(case: Case) -> datetime:
    placed = [a.placed_at for a in case.attempts if a.placed_at is not None]
    assert placed, case.external_ref
    return _local(placed[0])


def test_program_timing(program: ProgramRun) -> None:
    """Care: within a week of the exit. Renovation: three calls, start + 10 days, mid-point,
    completion. Clinic: treated patients the same evening, visitors the next day about noon."""
    reached = [
        c for c in program.cases() if c.outcome is CaseOutcome.COMPLETED and c.attempts_made == 1
    ]
    assert reached
    for case in reached:
        row = program.rows[program.person(case).ref]
        first = _first_call(case)
        if program.template == "care-insurance":
            exit_day = date.fromisoformat(row["hospital_exit_date"])
            assert exit_day < first.date() <= exit_day + timedelta(days=7), case.external_ref
        elif program.template == "renovation":
            start, end = (date.fromisoformat(row[k]) for k in ("job_start", "job_end"))
            stage = case.external_ref.rsplit("-", 1)[1]
            if stage == "start":
                assert start + timedelta(days=10) == first.date(), case.external_ref
            elif stage == "mid":
                assert start + timedelta(days=10) < first.date() < end, case.external_ref
            else:
                assert stage == "end" and end == first.date(), case.external_ref
        elif program.template == "clinic-treated":
            assert date.fromisoformat(row["visit_date"]) == first.date(), case.external_ref
            assert time(18) <= first.time() < time(20, 30), case.external_ref
        else:
            next_day = date.fromisoformat(row["visit_date"]) + timedelta(days=1)
            assert next_day == first.date(), case.external_ref
            assert time(11) <= first.time() < time(14), case.external_ref


def test_each_row_becomes_its_cases(program: ProgramRun) -> None:
    """A renovation job is three cases (ref-start, ref-mid, ref-end); other rows one case each,
    except the visitors who bought, whom the importer leaves out or marks excluded. (A care
    case's periodic follow-ups, ref#2 and on, are the same row's.)"""
    refs = [c.external_ref for c in program.cases()]
    people = program.people.values()
    if program.template == "renovation":
        expected = {f"{p.ref}-{stage}" for p in people for stage in ("start", "mid", "end")}
        assert expected == set(refs) and len(refs) == len(expected)
        return
    called = {p.ref for p in people if EXPECTED[program.template][p.behaviour][0] is not None}
    assert called <= set(refs) <= {p.ref for p in people}
    assert len(set(refs)) == len(refs)


REACHED = {CaseOutcome.COMPLETED, CaseOutcome.PARTIAL, CaseOutcome.REQUESTED_AGENT}


def test_care_follow_ups_are_planned_after_a_reached_call_and_paused_after_none(
    program: ProgramRun,
) -> None:
    """Care insurance calls again each period after a call that reached the insured; after
    calls that reached nobody it texts them once and pauses (REQUIREMENTS section 3)."""
    if program.template != "care-insurance":
        pytest.skip("only care insurance follows up periodically")
    follow_ups = {c.external_ref: c for c in program.follow_ups()}
    texted = set(
        program.session.scalars(
            select(Attempt.case_id)
            .join(CallEvent, CallEvent.attempt_id == Attempt.id)
            .where(CallEvent.kind == "sms.sent")
        )
    )
    for case in program.cases():
        follow_up = follow_ups.get(f"{case.external_ref}#2")
        if case.outcome in REACHED:
            assert follow_up is not None, case.external_ref
            assert follow_up.status is CaseStatus.PENDING
            assert follow_up.anchor_date > case.anchor_date
        else:
            assert follow_up is None, case.external_ref
        if case.outcome is CaseOutcome.UNREACHABLE:
            assert case.id in texted and case.details.get("follow_ups") == "paused"
        else:
            assert case.id not in texted


def test_renovation_problems_reach_the_jobs_manager_the_same_day(program: ProgramRun) -> None:
    if program.template != "renovation":
        pytest.skip("only renovation names a responsible manager")
    complaints = program.session.scalars(
        select(Escalation).where(Escalation.reason == "complaint")
    ).all()
    assert complaints
    for escalation in complaints:
        case = program.session.get_one(Case, escalation.case_id)
        assert escalation.detail == f"responsible manager: {case.details['manager']}"
        raised = escalation.created_at.astimezone(LOCAL)
        due = escalation.due_at.astimezone(LOCAL)
        assert due - raised <= timedelta(days=3)  # the same working day (a weekend may follow)
        assert (due.hour, due.minute) == (0, 0)  # the end of that day, Beijing time
