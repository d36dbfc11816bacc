"""One call's callbacks, shuffled and repeated as Twilio may deliver them, settle it one way only.

Twilio sends status, recording and AMD callbacks as separate HTTP requests: no ordering, and
retries repeat them. 10,000 hypothesis-made deliveries of one call's callbacks go through the
webhook view functions themselves (the code behind /twilio/status, /recording and /amd, minus
the signature check and the WSGI layer, which cost ~10 ms a request); each example runs in a
transaction rolled back afterwards. A few hundred more go through the signed HTTP routes.
Every delivery must leave exactly the state the in-order replay leaves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.attempts import record_status
from ivr.config import Settings
from ivr.db import make_engine
from ivr.models import Attempt, AttemptStatus, Base
from ivr.services import Services
from ivr.webhooks.recording_note import note_recording
from tests import factories
from tests.conftest import ACCOUNT_SID, FakeClock
from tests.faults.support import Call, call_form, call_state, new_call
from tests.webhook_client import signed_post

RECORDING_SID = "RE" + "7" * 32
# (route, fields) for every callback one answered call produces, in the order Twilio sends them.
Callback = tuple[str, dict[str, str]]
ANSWERED_BY = ["human", "machine_start", "unknown"]


def callbacks(answered_by: str, recording_sid: str = RECORDING_SID) -> list[Callback]:
    """The callbacks of one answered call that ended after 48 s, as Twilio words them."""

    def progress(status: str, sequence: int, **extra: str) -> Callback:
        fields = {
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": f"Mon, 07 Jan 2030 01:00:0{sequence} +0000",
            **extra,
        }
        return "status", fields

    recording = {
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
        + recording_sid,
        "RecordingStatus": "completed",
        "RecordingDuration": "47",
        "RecordingChannels": "1",
        "RecordingSource": "OutboundAPI",
        "RecordingStartTime": "Mon, 07 Jan 2030 01:00:03 +0000",
    }
    amd = {"AnsweredBy": answered_by, "MachineDetectionDuration": "3100"}
    return [
        progress("initiated", 0),
        progress("ringing", 1),
        progress("in-progress", 2),
        ("amd", amd),
        progress("completed", 3, CallDuration="48"),
        ("recording", recording),
    ]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, list[int]]:
    """Which AMD verdict, and the callbacks' indexes in delivery order: each at least once."""
    answered_by = draw(st.sampled_from(ANSWERED_BY))
    count = len(callbacks(answered_by))
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=4))
    order = draw(st.permutations([*range(count), *repeats]))
    return answered_by, list(order)


class Replayer:
    """The functions the webhook views call to apply a callback, over one rolled-back session.

    Per callback the view opens a transaction, locks the attempt and calls these; here a whole
    delivery shares one session (its autoflush, and note_recording's savepoint, write each
    change before the next callback reads) and is rolled back afterwards: an example costs
    ~10 ms, not ~50.
    """

    def __init__(self, app: Flask, connection: Connection, call: Call) -> None:
        self.app = app
        self.connection = connection
        self.call = call
        self.services: Services = app.extensions["ivr"]

    def apply(self, session: Session, attempt: Attempt, route: str, fields: dict[str, str]) -> None:
        """What routes.status / recording / amd do with the form, inside their transaction."""
        svc, now = self.services, self.services.clock()
        if route == "status":
            duration = fields.get("CallDuration")
            record_status(
                session,
                svc,
                attempt,
                AttemptStatus(fields["CallStatus"]),
                sequence=int(fields["SequenceNumber"]),
                duration_s=None if duration is None else int(duration),
                now=now,
            )
        elif route == "amd":
            attempt.answered_by = fields["AnsweredBy"][:32]
        else:  # note_recording reads the request's form, as the route has it
            form = call_form(self.call, **fields)
            with self.app.test_request_context("/twilio/recording", method="POST", data=form):
                note_recording(session, now, attempt_id=attempt.id)

    def play(self, delivered: Sequence[Callback]) -> dict[str, Any]:
        """Apply the callbacks in this order; the state they left, then undo it all."""
        outer = self.connection.begin()
        try:
            with Session(self.connection, expire_on_commit=False) as session:
                attempt = session.get_one(Attempt, self.call.attempt_id)
                for route, fields in delivered:
                    self.apply(session, attempt, route, fields)
                return call_state(session, self.call)
        finally:
            outer.rollback()


@pytest.fixture
def replayer(settings: Settings, clock: FakeClock) -> Iterator[Replayer]:
    """An in-memory database holding one committed call, and an app to give requests a form."""
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.connect() as connection:
        setup = sessionmaker(connection, expire_on_commit=False)
        with setup.begin() as session:
            campaign = factories.campaign(session, clock.now)
            call = new_call(session, campaign.id, clock.now)
        connection.commit()
        services = Services(settings=settings, sessions=setup, clock=clock)
        app = create_app(replace(settings, database_url="sqlite://"), services=services)
        yield Replayer(app, connection, call)
    engine.dispose()


@settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_ten_thousand_shuffled_and_repeated_deliveries_settle_like_the_in_order_replay(
    replayer: Replayer, delivery: tuple[str, list[int]]
) -> None:
    """Any order, any repeats of one call's callbacks: one final state, the in-order one."""
    answered_by, order = delivery
    sent = callbacks(answered_by)
    expected = EXPECTED.get(answered_by)
    if expected is None:
        expected = EXPECTED[answered_by] = replayer.play(sent)
    actual = replayer.play([sent[n] for n in order])
    assert expected == actual, f"order {order} differs from the in-order replay"


EXPECTED: dict[str, dict[str, Any]] = {}  # the in-order replay per AMD verdict, computed once


@pytest.fixture
def ward(sessions: sessionmaker[Session], clock: FakeClock) -> int:
    """The campaign the HTTP examples' calls are made in, one call per example."""
    with sessions.begin() as session:
        return factories.campaign(session, clock.now).id


HTTP_EXPECTED: dict[str, dict[str, Any]] = {}
_serials = iter(range(1, 1_000_000))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_shuffled_deliveries_through_the_signed_routes_settle_like_the_in_order_replay(
    client: FlaskClient,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    ward: int,
    delivery: tuple[str, list[int]],
) -> None:
    """The same property over HTTP: signature check, form parsing and each request's commit."""
    answered_by, order = delivery

    def play(indexes: Sequence[int]) -> dict[str, Any]:
        serial = next(_serials)
        with sessions.begin() as session:
            call = new_call(session, ward, clock.now, serial=serial)
        sent = callbacks(answered_by, recording_sid=f"RE{serial:032x}")
        for route, fields in (sent[n] for n in indexes):
            path = f"/twilio/{route}?attempt={call.attempt_id}"
            assert 204 == signed_post(client, path, call_form(call, **fields)).status_code
        with sessions() as session:
            return call_state(session, call)

    expected = HTTP_EXPECTED.get(answered_by)
    if expected is None:
        expected = HTTP_EXPECTED[answered_by] = play(range(len(callbacks(answered_by))))
    assert expected == play(order), f"order {order}"
