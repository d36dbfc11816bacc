"""Twenty agents POST claim on one escalation through the API at once, on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from werkzeug.test import TestResponse

from ivr.api.tokens import make_token
from ivr.app import create_app
from ivr.config import Settings
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.test_queue_actions import add_campaign, add_escalation, add_user
from tests.integration.test_queue_claims_concurrent import (
    AGENTS,
    claimed_events,
    crowd,
    pytestmark,
)

__all__ = ["crowd", "pytestmark"]  # the fixture and the PostgreSQL marks, shared


def test_twenty_claims_through_the_api_give_one_200_and_nineteen_409_naming_the_winner(
    settings: Settings, crowd: Services, clock: FakeClock
) -> None:
    """Each agent has its own token and test client; a barrier releases every request together."""
    services = crowd
    names = [f"agent{n:02d}" for n in range(AGENTS)]
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now)
        tokens = {}
        for name in names:
            add_user(session, clock.now, name)
            tokens[name] = make_token(
                session, services, name=f"{name}-app", username=name, actor="test"
            ).secret
        escalation_id = add_escalation(session, campaign, clock.now)
    app = create_app(settings, services=services)
    barrier = threading.Barrier(AGENTS)

    def press(name: str) -> TestResponse:
        client = app.test_client()
        barrier.wait(timeout=30)
        return client.post(
            f"/api/v1/escalations/{escalation_id}/claim",
            headers={"Authorization": f"Bearer {tokens[name]}"},
        )

    with ThreadPoolExecutor(max_workers=AGENTS) as pool:
        answers = dict(zip(names, pool.map(press, names), strict=True))
    assert {200: 1, 409: AGENTS - 1} == Counter(a.status_code for a in answers.values())
    [winner] = [name for name, answer in answers.items() if answer.status_code == 200]
    assert {winner} == {
        answer.json["error"]["holder"] for answer in answers.values() if answer.status_code == 409
    }
    assert [winner] == claimed_events(services.sessions, escalation_id)
