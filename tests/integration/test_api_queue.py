"""The queue over /api/v1 with the Flask test client, on SQLite and PostgreSQL.

Scopes, claims naming their holder, evidence rules, supervisors' reassigning, and bad input
answered 4xx (never 500), every answer checked against the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr.api.tokens import make_token
from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Escalation, StaffRole
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.api_client import (
    CLAIM,
    LIST,
    ONE,
    REASSIGN,
    RELEASE,
    REOPEN,
    RESOLVE,
    Api,
)
from tests.integration.test_queue_actions import (
    SID,
    add_campaign,
    add_escalation,
    add_recording,
    add_user,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@dataclass(frozen=True)
class World:
    """Two campaigns, an escalation in each, staff with tokens."""

    api: Api
    missell: int  #: co-2030, missell_suspected, sold by carl, with a stored recording (SID)
    ward: int  #: ward-7, clinical_concern


def build_world(settings: Settings, services: Services, clock: FakeClock) -> World:
    with services.sessions.begin() as session:
        co = add_campaign(session, clock.now, "cooling-off", name="co-2030")
        ward = add_campaign(session, clock.now, "post-discharge", name="ward-7")
        add_user(session, clock.now, "ann", scopes=((co.id, None),))
        add_user(session, clock.now, "bob")
        add_user(session, clock.now, "cara", scopes=((ward.id, None),))
        add_user(session, clock.now, "carl")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        add_user(session, clock.now, "dora", scopes=((None, "cardiology"),))
        missell = add_escalation(
            session, co, clock.now, "missell_suspected", ref="POL-7", details={"seller": "carl"}
        )
        row = session.get(Escalation, missell)
        assert row is not None
        add_recording(session, row.case_id, clock.now)
        ward_id = add_escalation(session, ward, clock.now, ref="P-1")
        tokens = {
            name: make_token(
                session, services, name=f"{name}-sync", username=name, actor="test"
            ).secret
            for name in ("ann", "bob", "cara", "carl", "sue", "dora")
        }
    app: Flask = create_app(settings, services=services)
    return World(Api(app.test_client(), tokens), missell, ward_id)


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    return build_world(settings, services, clock)


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_an_agent_sees_and_works_only_the_escalations_of_its_scope(world: World) -> None:
    """cara (ward-7 only) does not list co-2030's escalation and gets 403 showing or claiming it."""
    api = world.api
    assert [world.ward] == ids(api.get(LIST, "cara").json)
    assert [world.missell] == ids(api.get(LIST, "ann").json)
    assert sorted([world.missell, world.ward]) == sorted(ids(api.get(LIST, "sue").json))
    assert sorted([world.missell, world.ward]) == sorted(ids(api.get(LIST, "bob").json))
    # A department scope compares trimmed and case-insensitively, as may_work does.
    assert sorted([world.missell, world.ward]) == sorted(ids(api.get(LIST, "dora").json))
    shown = api.get(ONE, "cara", escalation_id=world.missell)
    assert (403, "forbidden") == (shown.status_code, shown.json["error"]["code"])
    assert "outside the scope of cara" in shown.json["error"]["message"]
    claimed = api.post(CLAIM, "cara", escalation_id=world.missell)
    assert (403, "forbidden") == (claimed.status_code, claimed.json["error"]["code"])
    view = api.get(ONE, "ann", escalation_id=world.missell).json
    assert ("co-2030", "POL-7", "open") == (view["campaign"], view["external_ref"], view["status"])
    assert ["raised"] == [event["action"] for event in view["history"]]


def test_a_claim_wins_then_another_agents_claim_is_409_naming_the_holder(world: World) -> None:
    """The loser is told who holds it and since when; the list names the holder too."""
    api = world.api
    won = api.post(CLAIM, "ann", escalation_id=world.missell)
    assert 200 == won.status_code
    assert (world.missell, "ann", None) == (
        won.json["escalation_id"],
        won.json["holder"],
        won.json["lapsed_holder"],
    )
    lost = api.post(CLAIM, "bob", escalation_id=world.missell)
    assert 409 == lost.status_code
    assert ("claimed", "ann", won.json["since"]) == (
        lost.json["error"]["code"],
        lost.json["error"]["holder"],
        lost.json["error"]["since"],
    )
    assert "held by ann" in lost.json["error"]["message"]
    [row] = api.get(LIST, "sue", query_string={"status": "claimed"}).json["items"]
    assert (world.missell, "ann", won.json["since"]) == (
        row["id"],
        row["claimed_by"],
        row["claimed_at"],
    )
    assert [world.missell] == ids(api.get(LIST, "ann", query_string={"mine": "true"}).json)
    assert [] == ids(api.get(LIST, "bob", query_string={"mine": "true"}).json)
    assert [world.ward] == ids(api.get(LIST, "sue", query_string={"status": "open"}).json)
    assert [world.ward] == ids(api.get(LIST, "sue", query_string={"campaign": "ward-7"}).json)
    assert [] == ids(api.get(LIST, "sue", query_string={"campaign": "nope"}).json)


def test_resolving_a_suspected_missale_needs_evidence_then_a_recording_closes_it(
    world: World,
) -> None:
    """422 without evidence or with an outcome not of the campaign; 200 with the recording."""
    api = world.api
    assert 200 == api.post(CLAIM, "ann", escalation_id=world.missell).status_code
    bare = api.post(RESOLVE, "ann", escalation_id=world.missell, json={"outcome": "confirmed"})
    assert (422, "evidence_required") == (bare.status_code, bare.json["error"]["code"])
    wrong = api.post(RESOLVE, "ann", escalation_id=world.missell, json={"outcome": "tea"})
    assert (422, "invalid_outcome") == (wrong.status_code, wrong.json["error"]["code"])
    stranger = api.post(
        RESOLVE,
        "ann",
        escalation_id=world.missell,
        json={"outcome": "confirmed", "recording_sid": "RE-unknown"},
    )
    assert (422, "evidence_required") == (stranger.status_code, stranger.json["error"]["code"])
    done = api.post(
        RESOLVE,
        "ann",
        escalation_id=world.missell,
        json={"outcome": "Confirmed", "note": "caller agreed", "recording_sid": SID},
    )
    assert 200 == done.status_code, done.json
    view = done.json
    assert ("resolved", "confirmed", "ann") == (
        view["status"],
        view["outcome"],
        view["resolved_by"],
    )
    assert [("recording", SID)] == [(e["kind"], e["recording_sid"]) for e in view["evidence"]]
    again = api.post(RESOLVE, "ann", escalation_id=world.missell, json={"outcome": "confirmed"})
    assert (409, "conflict") == (again.status_code, again.json["error"]["code"])


def test_the_seller_of_the_policy_cannot_claim_its_suspected_missale(world: World) -> None:
    """carl sold it: 403."""
    refused = world.api.post(CLAIM, "carl", escalation_id=world.missell)
    assert (403, "forbidden") == (refused.status_code, refused.json["error"]["code"])
    assert "sold this policy" in refused.json["error"]["message"]


def test_an_agent_may_not_reassign_a_supervisor_may(world: World) -> None:
    """403 for ann; 200 for sue, and the view names bob; an unknown user is 422."""
    api = world.api
    refused = api.post(REASSIGN, "ann", escalation_id=world.missell, json={"to": "bob"})
    assert (403, "forbidden") == (refused.status_code, refused.json["error"]["code"])
    nobody = api.post(REASSIGN, "sue", escalation_id=world.missell, json={"to": "nobody"})
    assert (422, "user_unavailable") == (nobody.status_code, nobody.json["error"]["code"])
    moved = api.post(
        REASSIGN, "sue", escalation_id=world.missell, json={"to": "Bob", "note": "cover"}
    )
    assert 200 == moved.status_code, moved.json
    assert ("claimed", "bob") == (moved.json["status"], moved.json["claimed_by"])
    assert "sue" == moved.json["history"][-1]["actor"]
    outside = api.post(REASSIGN, "sue", escalation_id=world.missell, json={"to": "cara"})
    assert (403, "forbidden") == (outside.status_code, outside.json["error"]["code"])


def test_release_resolve_and_reopen_round_trip(world: World) -> None:
    """The holder releases; a supervisor resolves and reopens with a note."""
    api = world.api
    assert 200 == api.post(CLAIM, "cara", escalation_id=world.ward).status_code
    other = api.post(RELEASE, "bob", escalation_id=world.ward)
    assert (403, "forbidden") == (other.status_code, other.json["error"]["code"])
    released = api.post(RELEASE, "cara", escalation_id=world.ward)
    assert (200, "open", None) == (
        released.status_code,
        released.json["status"],
        released.json["claimed_by"],
    )
    twice = api.post(RELEASE, "cara", escalation_id=world.ward)
    assert (409, "conflict") == (twice.status_code, twice.json["error"]["code"])
    done = api.post(RESOLVE, "sue", escalation_id=world.ward, json={"outcome": "advice_given"})
    assert (200, "resolved") == (done.status_code, done.json["status"])
    blank = api.post(REOPEN, "sue", escalation_id=world.ward, json={"note": "  "})
    assert (400, "invalid_request") == (blank.status_code, blank.json["error"]["code"])
    reopened = api.post(REOPEN, "sue", escalation_id=world.ward, json={"note": "called back"})
    assert (200, "open", None) == (
        reopened.status_code,
        reopened.json["status"],
        reopened.json["outcome"],
    )
    assert ["raised", "claimed", "released", "resolved", "reopened"] == [
        event["action"] for event in reopened.json["history"]
    ]


BAD_BODIES: list[tuple[str, dict[str, Any], int]] = [
    ("not JSON", {"data": "{outcome", "content_type": "application/json"}, 400),
    ("a list", {"json": ["confirmed"]}, 400),
    ("a number", {"json": {"outcome": 7}}, 400),
    ("null outcome", {"json": {"outcome": None}}, 400),
    ("no outcome", {"json": {"note": "x"}}, 400),
    ("unknown field", {"json": {"outcome": "confirmed", "evidence": "x"}}, 400),
    ("NUL", {"json": {"outcome": "confirmed", "note": "a\x00b"}}, 400),
    ("surrogate", {"data": '{"outcome": "\\ud800"}', "content_type": "application/json"}, 400),
    ("too long", {"json": {"outcome": "x" * 51}}, 400),
    ("bad UTF-8", {"data": b'{"outcome": "\xff"}', "content_type": "application/json"}, 400),
    ("a form", {"data": {"outcome": "confirmed"}}, 415),
    ("no body", {}, 415),
    ("too large", {"json": {"outcome": "x", "note": "n" * 100_000}}, 413),
]


@pytest.mark.parametrize(("label", "kwargs", "status"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_malformed_body_is_a_4xx_json_error_never_a_500(
    world: World, label: str, kwargs: dict[str, Any], status: int
) -> None:
    """Wrong types, bad encodings and oversize bodies change nothing."""
    api = world.api
    assert 200 == api.post(CLAIM, "ann", escalation_id=world.missell).status_code
    answer = api.post(RESOLVE, "ann", escalation_id=world.missell, **kwargs)
    assert status == answer.status_code, (label, answer.json)
    assert "claimed" == api.get(ONE, "ann", escalation_id=world.missell).json["status"]


BAD_QUERIES = [
    {"limit": "0"},
    {"limit": "201"},
    {"limit": "ten"},
    {"limit": "\uff11\uff10"},  # full-width 10: isdigit() says yes, the API says no
    {"offset": "-1"},
    {"status": "lost"},
    {"mine": "yes"},
    {"campaign": "x" * 101},
    {"campaign": "a\x00b"},
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_a_bad_query_parameter_is_400(world: World, query: dict[str, str]) -> None:
    """Each says which parameter and what it accepts."""
    answer = world.api.get(LIST, "sue", query_string=query)
    assert (400, "invalid_request") == (answer.status_code, answer.json["error"]["code"])
    assert next(iter(query)) in answer.json["error"]["message"]


def test_unknown_ids_addresses_and_methods_are_json_errors(world: World) -> None:
    """An id past the key's range is 404, not a database error; so is an unknown address."""
    api = world.api
    for escalation_id in (999, 2**31, 10**30):
        answer = api.get(ONE, "sue", escalation_id=escalation_id)
        assert (404, "not_found") == (answer.status_code, answer.json["error"]["code"])
        claimed = api.post(CLAIM, "sue", escalation_id=escalation_id)
        assert 404 == claimed.status_code
    client = api.client
    headers = {"Authorization": f"Bearer {api.tokens['sue']}"}
    nowhere = client.get("/api/v1/nowhere", headers=headers)
    assert (404, "not_found") == (nowhere.status_code, nowhere.json["error"]["code"])
    wrong = client.delete(f"/api/v1/escalations/{world.ward}", headers=headers)
    assert (405, "method_not_allowed") == (wrong.status_code, wrong.json["error"]["code"])
    assert "GET" in wrong.headers["Allow"]
    # Outside the API the app's own pages are unchanged.
    assert "application/json" != client.get("/nowhere").mimetype


def test_pages_walk_every_escalation_once_in_order(
    world: World, services: Services, clock: FakeClock
) -> None:
    """limit and next_offset: no row twice, none skipped, most urgent first."""
    with services.sessions.begin() as session:
        ward = session.scalars(select(Escalation).where(Escalation.id == world.ward)).one()
        for n in range(2, 7):
            add_escalation(session, ward.case.campaign, clock.now, ref=f"P-{n}")
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = world.api.get(LIST, "sue", query_string={"limit": "2", "offset": str(offset)}).json
        assert len(page["items"]) <= 2
        seen += ids(page)
        offset = page["next_offset"]
    everything = ids(world.api.get(LIST, "sue", query_string={"limit": "200"}).json)
    assert 7 == len(everything)
    assert everything == seen


def test_the_openapi_document_is_valid_and_served_without_a_token(world: World) -> None:
    """openapi-spec-validator accepts it; it names the bearer scheme."""
    from openapi_spec_validator import validate

    answer = world.api.client.get("/api/v1/openapi.json")
    assert 200 == answer.status_code
    validate(answer.json)
    assert "3.1.0" == answer.json["openapi"]
    assert {"type": "http", "scheme": "bearer", "bearerFormat": "ivr_..."} == (
        answer.json["components"]["securitySchemes"]["bearerAuth"]
    )
