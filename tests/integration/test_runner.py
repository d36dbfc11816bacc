"""The periodic jobs: only `ivr dial` schedules them, each once, and a late tick still runs."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import pytest

from ivr.app import create_app
from ivr.services import Services
from scheduler.pacing import MonotonicPacer
from scheduler.runner import build_scheduler


def test_the_web_app_starts_no_scheduler(services: Services) -> None:
    """Every web worker builds the app: a scheduler there would run each job once per worker."""
    before = {thread.name for thread in threading.enumerate()}
    app = create_app(services.settings, services=services)
    app.test_client().get("/no-such-page")
    after = {thread.name for thread in threading.enumerate()}
    assert {name for name in after - before if "APScheduler" in name or "Thread" in name} == set()


def test_dial_schedules_each_job_once_coalesced_and_never_skipped_for_lateness(
    services: Services,
) -> None:
    """dial, recordings, at_risk, claims, sla, digest, retention: one run at a time, missed ticks
    folded, no misfire limit."""
    scheduler = build_scheduler(services, MonotonicPacer(1.0))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "dial",
        "recordings",
        "at_risk",
        "claims",
        "sla",
        "webhooks",
        "digest",
        "retention",
    }
    for job in jobs.values():
        assert job.max_instances == 1
        assert job.coalesce is True
        # APScheduler's default grace of 1 s would silently skip a tick that starts late.
        assert job.misfire_grace_time is None


def test_the_daily_retention_job_purges_and_says_what_it_did(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The job runs the purge (nothing stored here: nothing purged) and logs its one line."""
    scheduler = build_scheduler(services, MonotonicPacer(1.0))
    job = scheduler.get_job("retention")
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        job.func()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention")]
    assert line.startswith("retention: purged 0")


def test_the_retention_job_without_the_audit_key_deletes_nothing_and_says_why(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Every deletion is audited: without IVR_SECRET_KEY the purge is skipped, with an error."""
    keyless = replace(services, settings=replace(services.settings, secret_key=""))
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        build_scheduler(keyless, MonotonicPacer(1.0)).get_job("retention").func()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [getattr(r, "action", None) for r in errors] == ["retention.no_key"]
