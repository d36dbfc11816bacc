"""The periodic jobs of `ivr dial`: dispatch every tick, fetch recordings, until stopped."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from ivr.services import Services
from recordings.fetch import fetch_due
from scheduler.dispatcher import Pacer, dispatch_once

log = logging.getLogger(__name__)

RECORDINGS_EVERY_TICKS = 15  # every 30 s at the default 2 s tick


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
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        _guarded("dial", lambda: dispatch_once(services, pacer)),
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
    return scheduler


def run_until_stopped(services: Services, pacer: Pacer) -> None:
    """Run the jobs in this thread until SIGINT or SIGTERM; a pass in progress finishes first."""
    scheduler = build_scheduler(services, pacer)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"action": "dial.stop", "signal": signum})
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
