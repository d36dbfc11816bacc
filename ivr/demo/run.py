"""`ivr demo`: a whole post-discharge campaign on the Twilio simulator, on a simulated clock.

Everything real runs: the migrations, the CSV importer, the dispatcher, the webhooks behind a
real HTTP server, the Twilio adapter talking to the simulator over HTTP, the recording fetcher.
Only time is simulated: when nothing is due, the clock jumps to the next moment something is.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ivr.app import create_app
from ivr.campaigns.service import create_campaign
from ivr.cases.importer import import_cases
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.demo.care import make_care_insurance
from ivr.demo.cases import DemoCase, write_cases_csv
from ivr.demo.clinic import make_clinic_treated, make_clinic_visitor
from ivr.demo.people import as_demo_cases, make_patients
from ivr.demo.policyholders import make_policyholders
from ivr.demo.renovation import make_renovation
from ivr.migrate import upgrade
from ivr.models import CallEvent, Campaign, Case, CaseStatus, Recording, RecordingStatus
from ivr.services import Services
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from recordings.fetch import fetch_due
from scheduler.at_risk import flag_deadlines_at_risk
from scheduler.dispatcher import dispatch_once
from scheduler.reconcile import STALE_AFTER

HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")
DEMO_FROM = "+15005550006"  # Twilio's test "from" number; the simulator accepts any E.164


@dataclass(frozen=True)
class Program:
    """A template the demo can run: its people and the campaign options it sets."""

    make_cases: Callable[[int, date, int], list[DemoCase]]
    options: dict[str, str]
    default_count: int = 200  # rows of the CSV (a renovation job is three cases)


PROGRAMS: dict[str, Program] = {
    "post-discharge": Program(
        lambda count, day, seed: as_demo_cases(make_patients(count, day, seed)),
        {"organisation": "示例医院 (demo)"},
    ),
    # The variants ask the same questions sooner: first call a day (72h) or two (1w) after.
    "post-discharge-72h": Program(
        lambda count, day, seed: as_demo_cases(make_patients(count, day, seed, days_before=1)),
        {"organisation": "示例医院 (demo)"},
    ),
    "post-discharge-1w": Program(
        lambda count, day, seed: as_demo_cases(make_patients(count, day, seed, days_before=2)),
        {"organisation": "示例医院 (demo)"},
    ),
    "cooling-off": Program(make_policyholders, {"organisation": "示例人寿 (demo)"}),
    "care-insurance": Program(make_care_insurance, {"organisation": "示例保险 (demo)"}),
    # 70 jobs are 210 cases, as many calls as the other programs' 200 rows.
    "renovation": Program(make_renovation, {"organisation": "示例装饰公司 (demo)"}, 70),
    "clinic-treated": Program(make_clinic_treated, {"organisation": "示例诊所 (demo)"}),
    "clinic-visitor": Program(make_clinic_visitor, {"organisation": "示例诊所 (demo)"}),
}


class SimClock:
    """The simulated time every part of the demo reads; it only moves forward."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            self._now = max(self._now, moment)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


class SimulatedPacer:
    """Calls-per-second pacing on the simulated clock: each call moves time on by 1/cps."""

    def __init__(self, cps: float, clock: SimClock) -> None:
        self._step = timedelta(seconds=1.0 / cps)
        self._clock = clock

    def wait(self) -> None:
        self._clock.advance(self._step)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # thousands of webhook lines would bury the progress bar


@dataclass(frozen=True)
class DemoPlace:
    """Where the demo keeps its data."""

    folder: Path
    database_url: str
    recordings_dir: Path


def demo_place(settings: Settings, environ: dict[str, str] | None = None) -> DemoPlace:
    """IVR_DATABASE_URL / IVR_RECORDINGS_DIR when set, else a fresh folder under ./var/demo."""
    env = os.environ if environ is None else environ
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path("var/demo") / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = Path("var/demo") / f"{stamp}-{suffix}"
    folder.mkdir(parents=True)
    database_url = (
        settings.database_url
        if env.get("IVR_DATABASE_URL", "").strip()
        else f"sqlite:///{folder / 'ivr.db'}"
    )
    recordings_dir = (
        settings.recordings_dir
        if env.get("IVR_RECORDINGS_DIR", "").strip()
        else folder / "recordings"
    )
    return DemoPlace(folder, database_url, recordings_dir)


def _serve(app_ref: list[Any]) -> tuple[BaseWSGIServer, threading.Thread]:
    # The app needs its public URL (signatures are checked against it) and the URL needs the
    # port, so bind first and hand the request to the app once it exists.
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return app_ref[0](environ, start_response)  # type: ignore[no-any-return]

    server = make_server("127.0.0.1", 0, wsgi, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


def _unique_name(session: Session, base: str) -> str:
    taken = set(session.scalars(select(Campaign.name).where(Campaign.name.startswith(base))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _first_call_day() -> date:
    # Today in the hospital's zone: the records look current, the run repeats for a seed.
    return datetime.now(HOSPITAL_TZ).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), HOSPITAL_TZ).astimezone(UTC)


@dataclass
class _Progress:
    settled: int
    open_cases: int
    next_due: datetime | None
    next_fetch: datetime | None
    pending_recordings: int


def _progress(
    sessions: sessionmaker[Session], campaign_id: int, imported_at: datetime
) -> _Progress:
    with sessions() as session:
        by_status = dict(
            session.execute(
                select(Case.status, func.count())
                # The imported cases only: follow-ups they schedule (care insurance's next
                # month) are the next period's work, not this run's.
                .where(Case.campaign_id == campaign_id, Case.created_at <= imported_at)
                .group_by(Case.status)
            ).all()
        )
        next_due = session.scalar(
            select(func.min(Case.next_call_at)).where(
                Case.campaign_id == campaign_id,
                Case.created_at <= imported_at,
                Case.status == CaseStatus.PENDING,
            )
        )
        pending = session.execute(
            select(func.count(), func.min(Recording.next_fetch_at)).where(
                Recording.status == RecordingStatus.PENDING
            )
        ).one()
    settled = by_status.get(CaseStatus.DONE, 0) + by_status.get(CaseStatus.EXCLUDED, 0)
    open_cases = by_status.get(CaseStatus.PENDING, 0) + by_status.get(CaseStatus.IN_CALL, 0)
    # func.min bypasses the column type, so SQLite hands back a naive UTC datetime or a string.
    return _Progress(settled, open_cases, _aware(next_due), _aware(pending[1]), pending[0])


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run_demo(
    settings: Settings,
    *,
    patients: int | None,
    seed: int,
    console: Console,
    template: str = "post-discharge",
    fault_rate: float = 0.0,
    observe: Callable[[Simulator], None] | None = None,
) -> str:
    """Run the demo of one template and print its report; returns the campaign's name.

    `fault_rate` makes the simulator refuse or lose that share of creates and status callbacks
    (the soak test); the demo itself runs with none beyond Twilio's usual repeats. `observe` is
    given the simulator once the calls are done, so a test can count what the provider saw.
    """
    from ivr.cli import print_queue, queue_rows_for
    from ivr.reports.build import build_report
    from ivr.reports.cli import print_report

    program = PROGRAMS.get(template)
    if program is None:
        raise ValueError(f"the demo runs {', '.join(PROGRAMS)}, not {template!r}")
    started = time.monotonic()
    place = demo_place(settings)
    console.print(f"demo data in {place.folder} (database {place.database_url})")
    upgrade(place.database_url)
    engine = make_engine(place.database_url)
    sessions = make_sessions(engine)
    first_day = _first_call_day()
    clock = SimClock(_midnight(first_day))
    secret_key = secrets.token_hex(16)  # identity facts are hashed with it on import

    count = program.default_count if patients is None else patients
    people = program.make_cases(count, first_day, seed)
    csv_path = place.folder / f"{template}.csv"
    write_cases_csv(people, csv_path)
    with sessions.begin() as session:
        campaign = create_campaign(
            session,
            name=_unique_name(session, f"demo-{template}"),
            template_name=template,
            overrides=program.options,
            now=clock(),
        )
        campaign_id, campaign_name = campaign.id, campaign.name
    imported_at = clock()
    with csv_path.open(encoding="utf-8", newline="") as stream:
        imported = import_cases(sessions, campaign_id, stream, now=clock(), secret_key=secret_key)
    console.print(
        f"campaign {campaign_name!r}: imported {imported.imported} cases "
        f"({imported.excluded} excluded) from {csv_path}"
    )

    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    app_ref: list[Any] = []
    server, server_thread = _serve(app_ref)
    simulator = Simulator(
        account_sid=account_sid,
        auth_token=auth_token,
        personas=_personas(people),
        clock=clock,
        workers=8,
        duplicate_rate=0.1,  # Twilio repeats callbacks and sends them out of order
        reorder_rate=0.1,
        fault_rate=fault_rate,
        media_not_ready=1,  # and the recording's media is not downloadable at once
        seed=seed,
    )
    simulator.start()
    demo_settings = settings.with_(
        database_url=place.database_url,
        recordings_dir=place.recordings_dir,
        public_base_url=f"http://127.0.0.1:{server.server_port}",
        secret_key=secret_key,
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        twilio_from_number=DEMO_FROM,
        twilio_api_base_url=simulator.base_url,
        # One ffmpeg run per call would triple the demo's time (measured 29 s -> 107 s);
        # `ivr recordings fetch` makes the listening copies later for a real deployment.
        recordings_listen_copy=False,
    )
    services = Services(
        settings=demo_settings,
        sessions=sessions,
        telephony=TwilioTelephony(
            account_sid=account_sid, auth_token=auth_token, api_base_url=simulator.base_url
        ),
        clock=clock,
    )
    app_ref.append(create_app(demo_settings, services=services))
    try:
        calls = _run_calls(
            services, simulator, clock, campaign_id, imported_at, imported.imported, console
        )
    finally:
        simulator.stop()
        if observe is not None:
            observe(simulator)
        server.shutdown()
        server.server_close()
        server_thread.join(timeout=5)

    with sessions() as session:
        report = build_report(session, services, session.get_one(Campaign, campaign_id))
        queue = queue_rows_for(session, campaign_id)
        stored = session.scalar(
            select(func.count()).where(Recording.status == RecordingStatus.STORED)
        )
        timeline = dict(
            session.execute(select(CallEvent.kind, func.count()).group_by(CallEvent.kind)).all()
        )
    engine.dispose()
    print_report(report, console)
    print_queue(queue, "table", console)
    elapsed = time.monotonic() - started
    if timeline:
        console.print(
            "call timeline: "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(timeline.items()))
        )
    kinds = len({person.behaviour for person in people})
    console.print(
        f"{calls} calls placed over {kinds} kinds of behaviour; "
        f"{stored} recordings stored and verified under {place.recordings_dir}; "
        f"simulated until {clock().astimezone(HOSPITAL_TZ):%Y-%m-%d %H:%M} Asia/Shanghai; "
        f"took {elapsed:.1f} s"
    )
    console.print(
        "inspect it with: "
        f"IVR_DATABASE_URL={place.database_url} ivr report --campaign {campaign_name}"
    )
    return campaign_name


def _personas(people: list[DemoCase]) -> Callable[[str], Persona]:
    by_phone = {p.phone: p.persona for p in people}
    return lambda phone: by_phone.get(phone, Persona(pickups=("no-answer",)))


def _run_calls(
    services: Services,
    simulator: Simulator,
    clock: SimClock,
    campaign_id: int,
    imported_at: datetime,
    total: int,
    console: Console,
) -> int:
    """Dial until every case is settled and every recording stored; returns calls placed."""
    pacer = SimulatedPacer(services.settings.cps, clock)
    placed = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cases settled"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=total)
        while True:
            report = dispatch_once(services, pacer)
            placed += report.placed
            simulator.drain(timeout=120)
            fetch_due(services)
            flag_deadlines_at_risk(services)
            state = _progress(services.sessions, campaign_id, imported_at)
            local = clock().astimezone(HOSPITAL_TZ)
            bar.update(
                task, completed=state.settled, description=f"{local:%a %d %b %H:%M} simulated"
            )
            if report.claimed or report.rescheduled:
                continue  # more may be due at this very moment
            if state.open_cases == 0 and state.pending_recordings == 0:
                return placed
            upcoming = [t for t in (state.next_due, state.next_fetch) if t is not None]
            if upcoming:
                clock.advance_to(min(upcoming))
            else:
                clock.advance(STALE_AFTER)  # only lost calls remain: let the sweep settle them
