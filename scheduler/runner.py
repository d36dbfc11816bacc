"""The periodic jobs of `ivr dial`: dispatch every tick, fetch recordings, flag deadlines at risk,
release idle claims, mark overdue escalations (and mail supervisors), send the outcome webhooks,
the daily digest, purge the recordings past their retention once a day.

The scheduler runs only here, never inside web workers (each would run every job once more).
Each job's pass logs one line with what it did.
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Callable
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from ivr.audit.log import AuditKeyMissing
from ivr.outcome_webhook.delivery import deliver_due
from ivr.queue.actions import expire_claims
from ivr.queue.digest import daily_digest
from ivr.queue.sla import mark_overdue
from ivr.services import Services
from recordings.fetch import fetch_due
from recordings.purge import purge_expired
from scheduler.at_risk import flag_deadlines_at_risk
from scheduler.dispatcher import Pacer, dispatch_once

log = logging.getLogger(__name__)

RECORDINGS_EVERY_TICKS = 15  # every 30 s at the default 2 s tick
AT_RISK_EVERY_TICKS = 30  # every minute: capacity and slots change slowly
SLA_EVERY_TICKS = 30  # every minute: SLAs are hours or days; an overdue mail a minute late is fine
WEBHOOKS_EVERY_TICKS = 5  # every 10 s: the first retry waits 15-30 s, a new outcome at most this
# The daily purge, at a quiet hour (UTC); several diallers may all run it: each recording is
# purged under its row lock, once.
RETENTION_AT = {"hour": 3, "minute": 17}


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        # A failing pass (database restarting, provider down) is logged and tried again on the
        # next tick; the scheduler must not die with it.
        try:
            result = job()
        except Exception:
            log.exception("job failed", extra={"action": f"{name}.failed"})
            return
        log.info("%s: %s", name, result, extra={"action": f"{name}.done"})

    return run


def build_scheduler(services: Services, pacer: Pacer) -> BlockingScheduler:
    """A scheduler with the dial and recordings jobs; one run of each at a time."""
    scheduler = BlockingScheduler(timezone="UTC")
    tick = services.settings.tick_seconds
    # About one tick's worth of calls a pass, so that reconciling, the provider pause and the
    # texts come round every tick or so, however long the queue of due cases.
    batch = max(1, math.ceil(services.settings.cps * tick))
    # One run of a job at a time; ticks missed while a pass ran fold into one (coalesce), and a
    # late tick still runs: APScheduler's default grace of 1 s would skip it without a word.
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        _guarded("dial", lambda: dispatch_once(services, pacer, batch_size=batch)),
        "interval",
        seconds=tick,
        id="dial",
        next_run_time=services.clock(),
        **common,
    )
    scheduler.add_job(
        _guarded("recordings", lambda: fetch_due(services)),
        "interval",
        seconds=tick * RECORDINGS_EVERY_TICKS,
        id="recordings",
        **common,
    )
    scheduler.add_job(
        _guarded("at_risk", lambda: f"{flag_deadlines_at_risk(services)} escalated"),
        "interval",
        seconds=tick * AT_RISK_EVERY_TICKS,
        id="at_risk",
        **common,
    )
    scheduler.add_job(
        _guarded("claims", lambda: _expire_claims(services)),
        "interval",
        seconds=tick * SLA_EVERY_TICKS,
        id="claims",
        **common,
    )
    scheduler.add_job(
        _guarded("sla", lambda: mark_overdue(services)),
        "interval",
        seconds=tick * SLA_EVERY_TICKS,
        id="sla",
        **common,
    )
    scheduler.add_job(
        _guarded("webhooks", lambda: deliver_due(services)),
        "interval",
        seconds=tick * WEBHOOKS_EVERY_TICKS,
        id="webhooks",
        **common,
    )
    # The supervisors' digest at their local hour (a cron trigger in that zone keeps the hour
    # across DST). Each dialler sends its own: run one dialler with mail settings, or see README.
    scheduler.add_job(
        _guarded("digest", lambda: daily_digest(services, once_a_day=True)),
        "cron",
        id="digest",
        hour=services.settings.digest_hour,
        minute=0,
        timezone=services.settings.digest_timezone,
        **common,
    )
    scheduler.add_job(
        _guarded("retention", lambda: _purge(services)),
        "cron",
        id="retention",
        **RETENTION_AT,
        **common,
    )
    return scheduler


def _expire_claims(services: Services) -> str:
    # Claims idle past IVR_CLAIM_IDLE_MINUTES go back to the queue, so it shows them open.
    with services.sessions.begin() as session:
        return f"{len(expire_claims(session, services))} idle claims released"


def _purge(services: Services) -> str:
    try:
        return str(purge_expired(services))
    except AuditKeyMissing as exc:
        # Every deletion is audited, so none happens without the key: say so once a day.
        log.error("retention purge skipped: %s", exc, extra={"action": "retention.no_key"})
        return "skipped: no IVR_SECRET_KEY"


def run_until_stopped(services: Services, pacer: Pacer) -> None:
    """Run the jobs in this thread until SIGINT or SIGTERM; a pass in progress finishes first."""
    # A pass that outlasts its tick (waiting for the shared pace) makes APScheduler warn at every
    # tick that the job is still running. That is the intended coalescing, not a fault: keep its
    # errors, drop the noise that would bury the dialler's own warnings.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler = build_scheduler(services, pacer)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"action": "dial.stop", "signal": signum})
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
