"""A cooling-off campaign end to end on the simulator: identity checked against keyed hashes, the
recording paused while the digits are keyed, mis-selling signals escalated on working days."""

from __future__ import annotations

import io
import warnings
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from ivr.calendar.workdays import WorkCalendar
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.demo.policyholders import make_policyholders
from ivr.demo.run import run_demo
from ivr.models import Attempt, CallEvent, Case, CaseOutcome, Escalation, Recording

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.silence import detect_silence

pytestmark = pytest.mark.e2e

PEOPLE = 60
SEED = 5


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path, Path]:
    folder = tmp_path_factory.mktemp("cooling-off")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'ivr.db'}", recordings_dir=folder / "recordings"
    )
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("IVR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IVR_RECORDINGS_DIR", str(settings.recordings_dir))
    monkeypatch.chdir(folder)
    try:
        run_demo(
            settings,
            patients=PEOPLE,
            seed=SEED,
            console=Console(file=io.StringIO(), width=120),
            template="cooling-off",
        )
    finally:
        monkeypatch.undo()
    session = make_sessions(make_engine(settings.database_url))()
    return session, settings.recordings_dir, folder


def behaviours() -> dict[str, str]:
    # The same seed gives the same people; behaviour does not depend on the date.
    return {c.ref: c.behaviour for c in make_policyholders(PEOPLE, date(2030, 1, 1), SEED)}


def cases_by_behaviour(session: Session) -> dict[str, list[Case]]:
    grouped: dict[str, list[Case]] = {}
    kind = behaviours()
    for case in session.scalars(select(Case).options(selectinload(Case.attempts))):
        grouped.setdefault(kind[case.external_ref], []).append(case)
    return grouped


def reasons(session: Session, case: Case) -> set[str]:
    return set(session.scalars(select(Escalation.reason).where(Escalation.case_id == case.id)))


def test_verified_customers_complete_without_escalation(
    journey: tuple[Session, Path, Path],
) -> None:
    session, _, _ = journey
    verified = cases_by_behaviour(session)["verifies and confirms everything"]
    assert verified
    for case in verified:
        assert case.outcome is CaseOutcome.COMPLETED, case.external_ref
        assert reasons(session, case) == set()


def test_a_wrong_date_of_birth_twice_fails_identity(journey: tuple[Session, Path, Path]) -> None:
    session, _, _ = journey
    failed = cases_by_behaviour(session)["keys a wrong date of birth twice"]
    assert failed
    for case in failed:
        assert case.outcome is CaseOutcome.IDENTITY_FAILED
        assert reasons(session, case) == {"identity_failed"}
        events = session.scalars(
            select(CallEvent.detail).where(
                CallEvent.attempt_id == case.attempts[0].id, CallEvent.kind == "identity.checked"
            )
        ).all()
        assert events == ["dob did not match", "dob did not match"]


def test_not_explained_escalates_missell_due_in_15_working_days(
    journey: tuple[Session, Path, Path],
) -> None:
    session, _, _ = journey
    told_nothing = cases_by_behaviour(session)["was not told of the cooling-off period"]
    assert told_nothing
    calendar = WorkCalendar("CN", on_missing="estimate")
    for case in told_nothing:
        escalation = session.scalars(
            select(Escalation).where(
                Escalation.case_id == case.id, Escalation.reason == "missell_suspected"
            )
        ).one()
        assert escalation.due_at == calendar.add_working_days(escalation.created_at, 15)
        # The call itself went to the end: the verification is done, the doubt is the queue's.
        assert case.outcome is CaseOutcome.COMPLETED


def test_someone_else_twice_closes_as_wrong_person_on_the_second_call(
    journey: tuple[Session, Path, Path],
) -> None:
    session, _, _ = journey
    for case in cases_by_behaviour(session).get("someone else answers, twice", []):
        assert case.attempts_made == 2
        assert case.outcome is CaseOutcome.WRONG_PERSON
        assert reasons(session, case) == {"wrong_person"}


def test_identity_digits_are_silence_in_the_kept_recording(
    journey: tuple[Session, Path, Path],
) -> None:
    session, recordings_dir, _ = journey
    verified = cases_by_behaviour(session)["verifies and confirms everything"]
    checked = 0
    for case in verified[:5]:
        attempt = case.attempts[-1]
        kinds = session.scalars(
            select(CallEvent.kind)
            .where(CallEvent.attempt_id == attempt.id, CallEvent.kind.like("recording.%"))
            .order_by(CallEvent.id)
        ).all()
        assert kinds[0] == "recording.paused" and "recording.resumed" in kinds
        recording = session.scalars(
            select(Recording).where(Recording.attempt_id == attempt.id)
        ).one()
        assert recording.path is not None
        audio = AudioSegment(data=(recordings_dir / recording.path).read_bytes())
        silent = detect_silence(audio, min_silence_len=2000, silence_thresh=-70)
        # One stretch of silence (the identity questions and keys), tone before and after it.
        assert len(silent) == 1, silent
        start, end = silent[0]
        assert start > 0 and end < len(audio)
        assert audio[:start].dBFS > -60 and audio[end:].dBFS > -60
        checked += 1
    assert checked


def test_clear_identity_facts_are_nowhere_in_the_database(
    journey: tuple[Session, Path, Path],
) -> None:
    session, _, _ = journey
    people = make_policyholders(PEOPLE, date(2030, 1, 1), SEED)
    secrets = {c.row["dob"] for c in people} | {c.row["dob"].replace("-", "") for c in people}
    dump = "\n".join(
        str(row)
        for table in ("case", "contact", "attempt", "answer", "call_event", "escalation")
        for row in session.execute(text(f'SELECT * FROM "{table}"'))
    )
    leaked = sorted(s for s in secrets if s in dump)
    assert leaked == []
    assert session.scalar(select(Attempt.id).limit(1)) is not None
