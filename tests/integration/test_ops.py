"""/healthz checks the database and the recordings store; /metrics tells the work's figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

from ivr.app import create_app
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import (
    Attempt,
    AttemptStatus,
    CaseStatus,
    Escalation,
    EscalationStatus,
    Recording,
    RecordingStatus,
)
from ivr.services import Services
from recordings.store import PROBE_PREFIX, open_store
from recordings.verify import verify_store
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

METRICS_TOKEN = "metrics-token-for-tests-only"


def client_for(services: Services, settings: Settings) -> FlaskClient:
    services.settings = settings
    return create_app(settings, services=services).test_client()


def scrape(client: FlaskClient, **headers: str) -> dict[tuple[str, tuple[str, ...]], float]:
    answer = client.get("/metrics", headers=headers)
    assert 200 == answer.status_code, answer.text
    assert answer.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.values())))] = sample.value
    return samples


def body(answer: TestResponse) -> dict[str, Any]:
    assert answer.json is not None
    return dict(answer.json)


def populate(services: Services, clock: FakeClock) -> None:
    """3 attempts placed (2 answered, 1 failed), 1 case due, 2 escalations (1 overdue)."""
    now = clock.now
    with services.sessions.begin() as session:
        campaign = factories.campaign(session, now)
        for n, (status, reached) in enumerate(
            [
                (AttemptStatus.COMPLETED, True),
                (AttemptStatus.COMPLETED, True),
                (AttemptStatus.FAILED, False),
                (AttemptStatus.CREATED, False),  # written, not yet handed over: not placed
            ]
        ):
            row = factories.case(
                session,
                campaign,
                now,
                ref=f"P-{n}",
                phone=factories.FICTIONAL_PHONES[n],
                status=CaseStatus.DONE,
            )
            session.add(
                Attempt(
                    case=row,
                    number=1,
                    status=status,
                    language="zh-CN",
                    reached=reached,
                    created_at=now,
                    placed_at=None if status == AttemptStatus.CREATED else now,
                )
            )
            if n < 2:
                session.add(
                    Escalation(
                        case=row,
                        reason="complaint",
                        status=EscalationStatus.OPEN,
                        due_at=now + timedelta(hours=-1 if n == 0 else 1),
                        created_at=now - timedelta(days=1),
                        updated_at=now - timedelta(days=1),
                    )
                )
        factories.case(session, campaign, now, ref="P-due", phone=factories.FICTIONAL_PHONES[9])
        factories.case(
            session,
            campaign,
            now,
            ref="P-later",
            phone=factories.FICTIONAL_PHONES[10],
            next_call_at=now + timedelta(hours=2),
        )
        session.add(
            Recording(
                recording_sid="RE" + "0" * 32,
                call_sid="CA" + "0" * 32,
                media_url="http://127.0.0.1:9/recording",
                status=RecordingStatus.PENDING,
                created_at=now,
            )
        )


def test_metrics_count_calls_due_cases_escalations_and_recordings(
    services: Services, settings: Settings, clock: FakeClock
) -> None:
    populate(services, clock)
    client = client_for(services, settings)

    samples = scrape(client)

    assert 3 == samples[("ivr_calls_placed_total", ())]
    assert 2 == samples[("ivr_calls_answered_total", ())]
    assert 1 == samples[("ivr_calls_failed_total", ())]
    assert 1 == samples[("ivr_cases_due", ())]
    assert 2 == samples[("ivr_escalations_open", ("open",))]
    assert 0 == samples[("ivr_escalations_open", ("claimed",))]
    assert 1 == samples[("ivr_escalations_overdue", ())]
    assert 1 == samples[("ivr_recordings_unstored", ("pending",))]


def test_webhook_latency_is_observed_by_route_not_by_url(
    services: Services, settings: Settings
) -> None:
    client = client_for(services, settings)
    route = ("ivr_webhook_seconds_count", ("/twilio/status",))
    before = scrape(client).get(route, 0.0)

    # Unsigned: refused, but still a webhook answered (and timed) by the provider-facing route.
    assert 403 == client.post("/twilio/status?attempt=1", data={"CallSid": "CA1"}).status_code
    assert 403 == client.post("/twilio/status?attempt=2", data={"CallSid": "CA2"}).status_code
    client.get("/console/")  # people's pages are not webhooks

    samples = scrape(client)
    assert before + 2 == samples[route]
    routes = {label for _, labels in samples for label in labels}
    assert not any("attempt=" in route or route.startswith("/console") for route in routes)


def test_without_a_token_only_direct_loopback_requests_may_scrape(
    services: Services, settings: Settings
) -> None:
    client = client_for(services, settings)

    assert 200 == client.get("/metrics").status_code  # the test client comes from 127.0.0.1
    relayed = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert 401 == relayed.status_code
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert 401 == remote.status_code


def test_with_a_token_every_scraper_must_bring_it(services: Services, settings: Settings) -> None:
    client = client_for(services, settings.with_(metrics_token=METRICS_TOKEN))

    assert 401 == client.get("/metrics").status_code
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert 401 == wrong.status_code
    right = client.get(
        "/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert 200 == right.status_code


def test_health_is_ok_and_leaves_no_probe_behind(services: Services, settings: Settings) -> None:
    client = client_for(services, settings)

    answer = client.get("/healthz")

    assert 200 == answer.status_code
    assert {"database": "ok", "recordings_store": "ok"} == body(answer)["checks"]
    assert "no-store" == answer.headers["Cache-Control"]
    store = open_store(settings)
    assert [] == [path for path in store.files() if path.startswith(PROBE_PREFIX)]


def test_a_store_that_refuses_writes_fails_the_health_check(
    services: Services, settings: Settings
) -> None:
    blocked = settings.recordings_dir.parent / "not-a-folder"
    blocked.write_text("a file where the recordings folder should be")
    client = client_for(services, settings.with_(recordings_dir=blocked))

    answer = client.get("/healthz")

    assert 503 == answer.status_code
    assert "failing" == body(answer)["status"]
    assert "ok" == body(answer)["checks"]["database"]
    assert "ok" != body(answer)["checks"]["recordings_store"]


def test_a_database_that_is_gone_fails_the_health_check(
    services: Services, settings: Settings
) -> None:
    client = client_for(services, settings)
    # A folder where the database file should be: every connection fails.
    gone = f"sqlite:///{settings.recordings_dir.parent}"
    services.sessions = make_sessions(make_engine(gone))

    answer = client.get("/healthz")

    assert 503 == answer.status_code
    assert body(answer)["checks"]["database"].startswith("OperationalError")
    assert "ok" == body(answer)["checks"]["recordings_store"]


def test_verify_does_not_report_a_leftover_probe(services: Services, settings: Settings) -> None:
    """A probe left by a worker killed mid-check is not a stray file of the archive."""
    store = open_store(settings)
    store.put(f"{PROBE_PREFIX}host-123", b"ivr health probe")

    report = verify_store(services.sessions, store)

    assert [] == report.findings
