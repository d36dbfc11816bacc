"""A web worker readies itself before its first call (ivr.webhooks.routes.warm_up)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.db import make_engine, make_sessions
from ivr.models import Attempt
from ivr.services import Services, shipped_flow
from ivr.webhooks.routes import warm_up
from tests.conftest import FakeClock
from tests.factories import campaign


def test_parses_the_active_campaigns_flows_and_writes_nothing(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        flow_id = campaign(session, clock.now).flow
    shipped_flow.cache_clear()

    warm_up(services)

    assert shipped_flow.cache_info().currsize == 1  # the campaign's flow, parsed once
    shipped_flow(flow_id)
    assert shipped_flow.cache_info().hits == 1
    with sessions() as session:
        assert session.query(Attempt).count() == 0


def test_an_unreachable_database_leaves_the_work_to_the_first_request(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = "postgresql+psycopg://ivr@127.0.0.1:9/ivr?connect_timeout=2"  # port 9: discard
    offline = replace(services, sessions=make_sessions(make_engine(nowhere)))

    with caplog.at_level(logging.WARNING):
        warm_up(offline)

    assert [getattr(r, "action", None) for r in caplog.records] == ["webhook.warm_up_skipped"]
