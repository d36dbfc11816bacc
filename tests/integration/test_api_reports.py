"""A campaign's report over /api/v1: the CLI's figures, for the roles that report upward."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from ivr.api.tokens import make_token
from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Campaign, StaffRole
from ivr.reports.build import build_report
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.api_client import REPORT, Api
from tests.integration.test_queue_actions import add_user
from tests.report_population import NOW, build_ward

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def api(
    settings: Settings, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> Api:
    build_ward(sessions)
    clock.now = NOW
    with sessions.begin() as session:
        add_user(session, NOW, "sue", StaffRole.SUPERVISOR)
        add_user(session, NOW, "cleo", StaffRole.COMPLIANCE)
        add_user(session, NOW, "cara")
        tokens = {
            name: make_token(
                session, services, name=f"{name}-sync", username=name, actor="t"
            ).secret
            for name in ("sue", "cleo", "cara")
        }
    app: Flask = create_app(settings, services=services)
    return Api(app.test_client(), tokens)


def test_the_report_is_the_same_object_as_the_clis(
    api: Api, services: Services, sessions: sessionmaker[Session]
) -> None:
    answer = api.get(REPORT, "sue", name="ward-7", query_string={"month": "2030-01"})
    assert answer.status_code == 200
    with sessions() as session:
        campaign = session.query(Campaign).one()
        expected = build_report(
            session, services, campaign, start=date(2030, 1, 1), end=date(2030, 1, 31)
        )
    assert answer.json == expected
    assert (answer.json["cases"], answer.json["follow_up_rate"]) == (5, 0.75)

    split = api.get(REPORT, "cleo", name="ward-7", query_string={"by": "doctor"}).json
    assert sorted(split["groups"]) == ["(none)", "Dr A", "Dr B"]


@pytest.mark.parametrize(
    ("as_user", "name", "query", "status"),
    [
        ("cara", "ward-7", {}, 403),  # agents work the queue, they do not report
        ("sue", "nope", {}, 404),
        ("sue", "ward-7", {"month": "2030-13"}, 400),
        ("sue", "ward-7", {"month": "Jan"}, 400),
        ("sue", "ward-7", {"from": "2030-02-01", "to": "2030-01-01"}, 400),
        ("sue", "ward-7", {"month": "2030-01", "from": "2030-01-01"}, 400),
        ("sue", "ward-7", {"by": "colour"}, 400),
        ("sue", "ward-7", {"from": "yesterday"}, 400),
        (None, "ward-7", {}, 401),
    ],
)
def test_refusals_are_json_errors(
    api: Api, as_user: str | None, name: str, query: dict[str, Any], status: int
) -> None:
    answer = api.get(REPORT, as_user, name=name, query_string=query)
    assert answer.status_code == status
    assert "error" in answer.json
