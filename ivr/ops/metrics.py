"""Prometheus metrics: the work's figures read from the database, webhook latency per process.

The counts (calls placed, answered, failed; cases due; escalations open and overdue; recordings
waiting) are read from the database at each scrape rather than counted in memory: every web
worker and every `ivr dial` process shares them, a restart loses nothing, and whichever worker
answers the scrape tells the same truth. Each scrape costs a few aggregate queries (on
PostgreSQL, about 0.1 s over a million attempts), so scrape every 15 s or more, not every second.

Latency can only be measured where requests are served, per process. Under gunicorn set
PROMETHEUS_MULTIPROC_DIR to an empty folder (before start-up) so the workers' histograms are
summed at each scrape (prometheus_client's multiprocess mode; see the README).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select

from ivr.models import (
    Attempt,
    AttemptStatus,
    Case,
    CaseStatus,
    Escalation,
    EscalationStatus,
    Recording,
    RecordingStatus,
)

if TYPE_CHECKING:
    from ivr.services import Services

# The blueprints the provider calls; the console and the API are people, not the call path.
PROVIDER_BLUEPRINTS = frozenset({"twilio", "twilio_agent", "twilio_sms"})
FAILED_STATUSES = (AttemptStatus.FAILED, AttemptStatus.ERROR)

# Twilio waits 15 s for a webhook's answer; the buckets resolve the range a caller hears as a
# pause (tens of milliseconds) up to that limit.
WEBHOOK_SECONDS = Histogram(
    "ivr_webhook_seconds",
    "Time to answer a provider webhook, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=None,
)


class WorkCollector(Collector):
    """Reads the figures of the work from the database at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        now = self.services.clock()
        with self.services.sessions() as session:
            attempts = session.execute(
                select(
                    func.count(Attempt.placed_at),
                    func.count().filter(Attempt.reached),
                    func.count().filter(Attempt.status.in_(FAILED_STATUSES)),
                )
            ).one()
            due = session.scalar(
                select(func.count())
                .select_from(Case)
                .where(Case.status == CaseStatus.PENDING, Case.next_call_at <= now)
            )
            in_call = session.scalar(
                select(func.count()).select_from(Case).where(Case.status == CaseStatus.IN_CALL)
            )
            escalations = {
                status: count
                for status, count in session.execute(
                    select(Escalation.status, func.count())
                    .where(Escalation.status != EscalationStatus.RESOLVED)
                    .group_by(Escalation.status)
                )
            }
            overdue = session.scalar(
                select(func.count())
                .select_from(Escalation)
                .where(Escalation.status != EscalationStatus.RESOLVED, Escalation.due_at < now)
            )
            recordings = {
                status: count
                for status, count in session.execute(
                    select(Recording.status, func.count())
                    .where(
                        or_(
                            Recording.status == RecordingStatus.PENDING,
                            Recording.status == RecordingStatus.FAILED,
                        )
                    )
                    .group_by(Recording.status)
                )
            }
        placed, answered, failed = attempts
        yield _counter("ivr_calls_placed", "Calls handed to the provider", placed)
        yield _counter("ivr_calls_answered", "Calls a person (or machine) answered", answered)
        yield _counter("ivr_calls_failed", "Calls the provider or we could not place", failed)
        yield _gauge("ivr_cases_due", "Cases waiting to be dialled now (the dial queue)", due)
        yield _gauge("ivr_cases_in_call", "Cases with a call in flight", in_call)
        open_family = GaugeMetricFamily(
            "ivr_escalations_open", "Escalations not yet resolved", labels=["status"]
        )
        for status in (EscalationStatus.OPEN, EscalationStatus.CLAIMED):
            open_family.add_metric([status.value], escalations.get(status, 0))
        yield open_family
        yield _gauge("ivr_escalations_overdue", "Unresolved escalations past their SLA", overdue)
        waiting = GaugeMetricFamily(
            "ivr_recordings_unstored",
            "Recordings not in our store yet (pending) or given up on (failed)",
            labels=["status"],
        )
        for recording_status in (RecordingStatus.PENDING, RecordingStatus.FAILED):
            waiting.add_metric([recording_status.value], recordings.get(recording_status, 0))
        yield waiting


def _counter(name: str, documentation: str, value: int | None) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value or 0)


def _gauge(name: str, documentation: str, value: int | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value or 0)


def registry_for(services: Services) -> CollectorRegistry:
    """The registry /metrics serves: the database's figures and every worker's latencies."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(WEBHOOK_SECONDS)
    registry.register(WorkCollector(services))
    return registry


def time_webhooks(app: Flask) -> None:
    """Observe how long each provider webhook takes, by route (the URL rule, never the URL)."""

    @app.before_request
    def _start() -> None:
        g.ivr_started = time.perf_counter()

    @app.teardown_request
    def _observe(_error: BaseException | None) -> None:
        started = g.pop("ivr_started", None)
        if started is None or request.blueprint not in PROVIDER_BLUEPRINTS:
            return
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        WEBHOOK_SECONDS.labels(route=route).observe(time.perf_counter() - started)
