"""`ivr dial` as an operator runs it: a separate process, real time, APScheduler ticking, stopped
with SIGTERM; the simulator and the webhook server run in this process, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import Case, CaseOutcome, CaseStatus, Recording, RecordingStatus
from ivr.services import Services
from ivr.telephony.simulator import Persona, Simulator
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, SECRET_KEY

pytestmark = pytest.mark.e2e

ANSWERS = "+12025550161"
NEVER = "+12025550162"
PERSONAS = {
    ANSWERS: Persona(keys=("1", "1", "1", "5")),
    NEVER: Persona(pickups=("no-answer",)),
}


def _zone_awake_all_day() -> str:
    """A zone where it is not 23:59 now: the whole-day window 00:00-23:59 is open there."""
    for name in ("Asia/Shanghai", "UTC", "America/New_York"):
        local = datetime.now(ZoneInfo(name))
        if (local.hour, local.minute) < (23, 58):
            return name
    raise AssertionError("unreachable: three zones cannot all be at 23:58")


def _ivr() -> str:
    found = shutil.which("ivr", path=str(Path(sys.executable).parent))
    assert found, "the ivr console script is installed with the package"
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[dict[str, str], sessionmaker[Session]]]:
    """A migrated database, a campaign with two due cases, the simulator and the webhooks."""
    database_url = f"sqlite:///{tmp_path / 'ivr.db'}"
    simulator = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        personas=lambda phone: PERSONAS[phone],
        clock=lambda: datetime.now(UTC),
    )
    simulator.start()
    apps: list[Any] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return apps[0](environ, start_response)  # type: ignore[no-any-return]

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))},
        "IVR_DATABASE_URL": database_url,
        "IVR_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "IVR_PUBLIC_BASE_URL": f"http://127.0.0.1:{http.server_port}",
        "IVR_SECRET_KEY": SECRET_KEY,
        "IVR_TICK_SECONDS": "0.2",  # recordings every 15 ticks: 3 s
        "IVR_CPS": "10",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": simulator.base_url,
    }
    run = [_ivr()]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*run, "campaigns", "create", "--template", "post-discharge", "--name", "now",
         "--set", "windows=00:00-23:59", "--set", "language=en-US"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    zone = _zone_awake_all_day()
    discharged = (datetime.now(ZoneInfo(zone)) - timedelta(days=7)).date().isoformat()
    csv = tmp_path / "cases.csv"
    csv.write_text(
        "external_ref,name,phone,discharge_date,department,ward,timezone\n"
        f"R-1,Test Patient One,{ANSWERS},{discharged},Cardiology,W3,{zone}\n"
        f"R-2,Test Patient Two,{NEVER},{discharged},Cardiology,W3,{zone}\n",
        encoding="utf-8",
    )
    subprocess.run(
        [*run, "cases", "import", str(csv), "--campaign", "now"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip

    settings = Settings(
        database_url=database_url,
        public_base_url=env["IVR_PUBLIC_BASE_URL"],
        recordings_dir=tmp_path / "recordings",
        secret_key=SECRET_KEY,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
    )
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    apps.append(create_app(settings, services=Services(settings, sessions)))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield env, sessions
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()
        simulator.stop()
        engine.dispose()


def _wait_for(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_dial_calls_due_cases_fetches_recordings_and_stops_on_sigterm(
    stack: tuple[dict[str, str], sessionmaker[Session]],
) -> None:
    env, sessions = stack

    def settled() -> bool:
        with sessions() as session:
            cases = session.scalars(select(Case).order_by(Case.external_ref)).all()
            stored = session.scalars(
                select(Recording).where(Recording.status == RecordingStatus.STORED)
            ).all()
            answered_done = cases[0].status is CaseStatus.DONE
            unanswered_retry = cases[1].attempts_made == 1 and cases[1].status is CaseStatus.PENDING
            return answered_done and unanswered_retry and len(stored) == 1

    dial = subprocess.Popen(
        [_ivr(), "dial"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        done = _wait_for(settled, timeout=30)
    finally:
        dial.send_signal(signal.SIGTERM)
        out, err = dial.communicate(timeout=20)
    assert done, f"dial output:\n{out}\n{err}"
    assert dial.returncode == 0, err
    assert "dialling every 0.2 s" in out
    with sessions() as session:
        answered, unanswered = session.scalars(select(Case).order_by(Case.external_ref)).all()
        assert answered.outcome is CaseOutcome.COMPLETED and answered.attempts_made == 1
        # Not again for two hours (retry spacing), though `dial` ticked many times meanwhile.
        assert unanswered.next_call_at is not None
        assert unanswered.next_call_at - datetime.now(UTC) > timedelta(hours=1, minutes=50)
