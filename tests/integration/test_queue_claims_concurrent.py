"""Twenty agents press claim on one escalation at once, on PostgreSQL: exactly one wins."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.db import make_engine, make_sessions
from ivr.models import Escalation, EscalationEvent, EscalationStatus
from ivr.queue.access import acting_user
from ivr.queue.actions import ClaimResult, claim
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.test_queue_actions import add_campaign, add_escalation, add_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

AGENTS = 20
ESCALATIONS = 5


@pytest.fixture
def crowd(services: Services) -> Iterator[Services]:
    """The services on an engine with a connection for every agent (the default pool has 15)."""
    engine = make_engine(services.settings.database_url, pool_size=AGENTS + 1, max_overflow=0)
    yield replace(services, sessions=make_sessions(engine))
    engine.dispose()


def claim_together(
    services: Services, escalation_id: int, names: list[str]
) -> dict[str, ClaimResult]:
    """Each agent claims in its own thread and session, all released by one barrier."""
    barrier = threading.Barrier(len(names))

    def press(name: str) -> ClaimResult:
        with services.sessions() as session, session.begin():
            user = acting_user(session, name)
            barrier.wait(timeout=30)  # connections open, users loaded: then all at once
            return claim(session, services, escalation_id, user)

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = list(pool.map(press, names))
    return dict(zip(names, results, strict=True))


def claimed_events(sessions: sessionmaker[Session], escalation_id: int) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(EscalationEvent.actor).where(
                    EscalationEvent.escalation_id == escalation_id,
                    EscalationEvent.action == "claimed",
                )
            )
        )


def test_twenty_simultaneous_claims_have_one_winner_and_nineteen_told_its_name(
    crowd: Services, clock: FakeClock
) -> None:
    """Over several escalations: one winner each, the others name it, one history event."""
    services = crowd
    names = [f"agent{n:02d}" for n in range(AGENTS)]
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now)
        for name in names:
            add_user(session, clock.now, name)
        ids = [
            add_escalation(session, campaign, clock.now, ref=f"P-{n:04d}")
            for n in range(ESCALATIONS)
        ]
    for escalation_id in ids:
        results = claim_together(services, escalation_id, names)
        winners = [name for name, result in results.items() if result.won]
        assert 1 == len(winners), results
        winner = winners[0]
        losers = [result for name, result in results.items() if name != winner]
        assert [winner] * (AGENTS - 1) == [result.holder for result in losers]
        assert all(not result.won for result in losers)
        assert {clock.now} == {result.since for result in results.values()}
        with services.sessions() as session:
            row = session.get(Escalation, escalation_id)
            assert row is not None
            assert (EscalationStatus.CLAIMED, winner) == (
                row.status,
                acting_user(session, winner).username,
            )
            assert acting_user(session, winner).id == row.claimed_by_id
        assert [winner] == claimed_events(services.sessions, escalation_id)
