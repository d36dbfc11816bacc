"""The soak run: the simulator drives 2,000 calls through the real HTTP server with 5 % faults.

Injected on top of Twilio's usual repeats and reordering (10 % each): 5 % of the creates are
refused with 429 or answered 500 after the call was placed, 5 % of the status callbacks are lost
on the way. At the end every case must be in the final state its synthetic patient's behaviour
leads to, nobody rung twice for one attempt, and every recording stored and verified.
Figures (printed): calls, faults seen, cases lost, double dials, recordings unverified.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.demo.people import make_patients
from ivr.demo.run import run_demo
from ivr.models import Attempt, Case, CaseStatus, Recording, RecordingStatus
from ivr.telephony.simulator import Simulator
from recordings.store import open_store
from recordings.verify import verify_store
from tests.e2e.test_call_journey import EXPECTED_OUTCOME

pytestmark = pytest.mark.e2e

PATIENTS = 1_700  # 2,100 calls with the demo's retries (1,250 people made 1,527)
CALLS = 2_000
FAULT_RATE = 0.05
SEED = 23


def test_two_thousand_calls_with_faults_lose_no_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ivr.db'}", recordings_dir=tmp_path / "recordings"
    )
    monkeypatch.setenv("IVR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IVR_RECORDINGS_DIR", str(settings.recordings_dir))
    monkeypatch.chdir(tmp_path)
    seen: list[Simulator] = []
    run_demo(
        settings,
        patients=PATIENTS,
        seed=SEED,
        console=Console(file=io.StringIO(), width=120),
        fault_rate=FAULT_RATE,
        observe=seen.append,
    )
    (simulator,) = seen
    behaviour = {p.ref: p.behaviour.name for p in make_patients(PATIENTS, date(2030, 1, 1), SEED)}
    # Each call the provider placed, by the attempt its URL names: one per attempt, never two.
    rung = Counter(
        parse_qs(urlsplit(call.params["Url"]).query)["attempt"][0]
        for call in simulator.calls
        if call.direction == "outbound-api"
    )
    faults = Counter(
        event.split()[0]
        for call in simulator.calls
        for event in call.events
        if event.startswith("losing status")
    )

    sessions = make_sessions(make_engine(settings.database_url))
    with sessions() as session:
        cases = list(
            session.scalars(
                select(Case).options(selectinload(Case.attempts), selectinload(Case.contact))
            )
        )
        lost = [
            c.external_ref
            for c in cases
            if c.status not in (CaseStatus.DONE, CaseStatus.EXCLUDED)
            or c.outcome != EXPECTED_OUTCOME[behaviour[c.external_ref]]
        ]
        placed = {str(a.id) for c in cases for a in c.attempts if a.call_sid is not None}
        double = sorted(attempt for attempt, calls in rung.items() if calls > 1)
        unknown = sorted(set(rung) - placed)
        unstored = session.scalar(
            select(func.count())
            .select_from(Recording)
            .where(Recording.status != RecordingStatus.STORED)
        )
        answered_without_recording = session.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(Attempt.reached, ~Attempt.id.in_(select(Recording.attempt_id)))
        )
    report = verify_store(sessions, open_store(settings))
    with capsys.disabled():
        print(
            f"\nsoak: {len(simulator.calls)} calls, {len(cases)} cases, "
            f"{faults['losing']} status callbacks lost; cases lost {len(lost)}, "
            f"double dials {len(double)}, unknown calls {len(unknown)}, "
            f"recordings not stored {unstored}, "
            f"verify findings {len(report.findings)}"
        )
    assert len(simulator.calls) >= CALLS
    assert faults["losing"] > 0  # the faults were injected
    assert [] == lost
    assert [] == double
    assert [] == unknown  # a call the provider placed that no attempt knows
    assert 0 == unstored
    assert 0 == answered_without_recording
    assert [] == report.findings
