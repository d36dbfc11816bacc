"""Pushing cases over /api/v1 and reading them back, every answer checked against the document.

Items go through the CSV importer's own checks; the refs are idempotent; identity facts are
hashed on arrival and never come back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from ivr.api.tokens import make_token
from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Answer, Attempt, AttemptStatus, Case, StaffRole
from ivr.queue.service import raise_escalation
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.api_client import Api, check_against_spec
from tests.integration.test_queue_actions import add_campaign, add_user
from tests.integration.test_queue_claims_concurrent import crowd

__all__ = ["crowd"]  # the fixture, shared

CASES = "/api/v1/campaigns/{name}/cases"
CASE = "/api/v1/campaigns/{name}/cases/{ref}"
PHONE = "+8613800138000"  # fictional: the +86 138 0013 8xxx test range the other tests use
CLEAR_FACTS = ("1980-02-29", "19800229", "987x", "987X")
BIG_BODY = 8 * 1024 * 1024  # 10,000 items are about 2 MB; the default body cap is 64 KiB


def patient(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid post-discharge item for fictional patient n."""
    return {
        "external_ref": f"P-{n:05d}",
        "name": f"测试患者{n}",
        "phone": PHONE,
        "discharge_date": "2030-01-05",
        "department": "cardiology",
        "ward": "3B",
        **overrides,
    }


def policy(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid cooling-off item for fictional policyholder n (facts that belong to no one)."""
    return {
        "external_ref": f"99000000{n:02d}",
        "name": f"测试客户{n}",
        "phone": PHONE,
        "receipt_signed_at": "2030-01-06T15:30:00+08:00",
        "dob": "1980-02-29",
        "id_last4": "987x",
        "premium": "12000",
        "payment_years": "10",
        "product": "示例终身寿险(演示)",
        **overrides,
    }


@dataclass(frozen=True)
class World:
    """Two campaigns and staff with tokens: sue supervises, ann is an agent of ward-7 only."""

    api: Api
    services: Services


def build(settings: Settings, services: Services, clock: FakeClock) -> World:
    with services.sessions.begin() as session:
        ward = add_campaign(session, clock.now, "post-discharge", name="ward-7")
        add_campaign(session, clock.now, "cooling-off", name="co-2030")
        add_campaign(session, clock.now, "post-discharge", name="ward-9")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        add_user(session, clock.now, "ann", scopes=((ward.id, None),))
        tokens = {
            name: make_token(session, services, name=f"{name}-hl7", username=name, actor="t").secret
            for name in ("sue", "ann")
        }
    app: Flask = create_app(settings, services=services)
    return World(Api(app.test_client(), tokens), services)


@pytest.fixture
def big_settings(settings: Settings) -> Settings:
    """Settings whose body cap lets a full batch of 10,000 items in."""
    return replace(settings, max_body_bytes=BIG_BODY)


@pytest.fixture
def world(big_settings: Settings, services: Services, clock: FakeClock) -> World:
    return build(big_settings, replace(services, settings=big_settings), clock)


def push(world: World, name: str, body: Any, as_user: str = "sue") -> Any:
    return world.api.post(CASES, as_user, name=name, json=body)


def read(world: World, name: str, ref: str, as_user: str = "sue") -> Any:
    # Api.call fills only {escalation_id} and {name}, so {ref} is filled here.
    response = world.api.client.get(
        f"/api/v1/campaigns/{name}/cases/{ref}",
        headers={"Authorization": f"Bearer {world.api.tokens[as_user]}"},
    )
    check_against_spec(CASE, "get", response)
    return response


def test_one_pushed_case_is_created_and_read_back(world: World) -> None:
    """A single object makes one case; the GET shows it pending with the phone masked."""
    answer = push(world, "ward-7", patient(1))
    assert 201 == answer.status_code
    [item] = answer.json["items"]
    assert ("created", "P-00001", 0, []) == (
        item["status"],
        item["ref"],
        item["index"],
        item["errors"],
    )
    shown = read(world, "ward-7", "P-00001")
    assert 200 == shown.status_code
    assert item["case_id"] == shown.json["id"]
    assert "pending" == shown.json["status"]
    assert "+86*******8000" == shown.json["phone"]
    assert PHONE not in shown.get_data(as_text=True)


def test_a_batch_imports_the_good_items_and_names_the_bad_ones_by_index_and_field(
    world: World,
) -> None:
    """Bad phone, bad date, a missing column and an unknown field fail alone; the rest import."""
    cases = [
        patient(1),
        patient(2, phone="12"),
        patient(3),
        patient(4, discharge_date="05/01/2030"),
        {k: v for k, v in patient(5).items() if k != "department"},
        patient(6, shoe_size="44"),
        patient(7, age=40),
    ]
    answer = push(world, "ward-7", {"cases": cases})
    assert 201 == answer.status_code
    assert {"created": 2, "exists": 0, "errors": 5} == {
        k: answer.json[k] for k in ("created", "exists", "errors")
    }
    items = answer.json["items"]
    assert list(range(7)) == [item["index"] for item in items]
    statuses = [item["status"] for item in items]
    assert ["created", "error", "created", "error", "error", "error", "error"] == statuses
    fields = {item["index"]: [e["field"] for e in item["errors"]] for item in items}
    assert (["phone"], ["discharge_date"], ["department"]) == (fields[1], fields[3], fields[4])
    assert (["shoe_size"], ["age"]) == (fields[5], fields[6])
    assert "12" not in str(items[1]["errors"])  # the rule, never the value


def test_posting_the_same_batch_again_creates_nothing_and_names_the_existing_cases(
    world: World,
) -> None:
    """The second post answers 200 with status exists and the first post's case ids."""
    first = push(world, "ward-7", {"cases": [patient(1), patient(2)]})
    again = push(world, "ward-7", {"cases": [patient(1), patient(2)]})
    assert (201, 200) == (first.status_code, again.status_code)
    assert ["exists", "exists"] == [item["status"] for item in again.json["items"]]
    assert [i["case_id"] for i in first.json["items"]] == [
        i["case_id"] for i in again.json["items"]
    ]
    with world.services.sessions() as session:
        assert 2 == session.scalar(select(func.count()).select_from(Case))


def test_a_repeated_ref_inside_one_batch_is_created_once(world: World) -> None:
    """The second item with the same ref is reported as existing, pointing at the first's case."""
    answer = push(world, "ward-7", {"cases": [patient(1), patient(1)]})
    assert 201 == answer.status_code
    first, second = answer.json["items"]
    assert ("created", "exists") == (first["status"], second["status"])
    assert first["case_id"] == second["case_id"]


def test_a_batch_where_every_item_is_refused_answers_422(world: World) -> None:
    """Nothing created and errors: not a 200 a caller could take for success."""
    answer = push(world, "ward-7", {"cases": [patient(1, phone="x")]})
    assert 422 == answer.status_code
    assert "error" == answer.json["items"][0]["status"]


def test_a_batch_over_ten_thousand_items_is_refused_with_413(world: World) -> None:
    """10,001 items: refused whole with a message saying the limit, nothing stored."""
    answer = push(world, "ward-7", {"cases": [patient(n) for n in range(10_001)]})
    assert 413 == answer.status_code
    assert "10000" in answer.json["error"]["message"]
    with world.services.sessions() as session:
        assert 0 == session.scalar(select(func.count()).select_from(Case))


def test_a_batch_with_other_keys_beside_cases_is_a_400(world: World) -> None:
    """{"cases": [...], "extra": 1} is refused rather than read half."""
    answer = push(world, "ward-7", {"cases": [patient(1)], "extra": 1})
    assert 400 == answer.status_code


def test_an_agent_may_not_push_cases(world: World) -> None:
    """Pushing is for supervisors and admins: an agent's token gets 403."""
    answer = push(world, "ward-7", patient(1), as_user="ann")
    assert 403 == answer.status_code


def test_pushing_to_an_unknown_campaign_is_a_404(world: World) -> None:
    """No campaign of that name: 404, whatever the body."""
    assert 404 == push(world, "no-such", patient(1)).status_code


def test_reading_an_unknown_ref_is_a_404(world: World) -> None:
    """A campaign without that ref: 404."""
    assert 404 == read(world, "ward-7", "P-404").status_code


def test_an_agent_reads_cases_only_within_their_scope(world: World) -> None:
    """ann's scope is ward-7: she reads its case, and gets 403 on ward-9's."""
    push(world, "ward-7", patient(1))
    push(world, "ward-9", patient(1))
    assert 200 == read(world, "ward-7", "P-00001", as_user="ann").status_code
    assert 403 == read(world, "ward-9", "P-00001", as_user="ann").status_code


def test_identity_facts_are_hashed_and_absent_from_the_answers(world: World) -> None:
    """dob and id_last4 are stored as keyed hashes only and never appear in a response."""
    pushed = push(world, "co-2030", {"cases": [policy(1)]})
    assert 201 == pushed.status_code
    shown = read(world, "co-2030", "9900000001")
    with world.services.sessions() as session:
        case = session.scalars(select(Case)).one()
        stored = str(case.details)
        facts = case.details["facts"]
    assert {"dob", "id_last4"} == set(facts)
    for clear in CLEAR_FACTS:
        assert clear not in stored
        assert clear not in pushed.get_data(as_text=True)
        assert clear not in shown.get_data(as_text=True)
    assert "facts" not in shown.json and "details" not in shown.json


def test_the_case_answer_lists_attempts_answers_and_open_escalations(
    world: World, clock: FakeClock
) -> None:
    """An attempt with an answer and an escalation on the case come back in the GET."""
    case_id = push(world, "ward-7", patient(1)).json["items"][0]["case_id"]
    with world.services.sessions.begin() as session:
        attempt = Attempt(
            case_id=case_id,
            number=1,
            status=AttemptStatus.COMPLETED,
            language="zh-CN",
            reached=True,
            duration_s=95,
            created_at=clock.now,
            placed_at=clock.now + timedelta(seconds=2),
        )
        session.add(attempt)
        session.flush()
        session.add(
            Answer(
                attempt_id=attempt.id,
                case_id=case_id,
                question="q1",
                value="4",
                created_at=clock.now,
            )
        )
        raise_escalation(session, case_id=case_id, reason="low_satisfaction", now=clock.now)
    shown = read(world, "ward-7", "P-00001").json
    [tried] = shown["attempts"]
    assert (1, "completed", True, 95, {"q1": "4"}) == (
        tried["number"],
        tried["status"],
        tried["reached"],
        tried["duration_s"],
        tried["answers"],
    )
    assert ["low_satisfaction"] == [e["reason"] for e in shown["escalations"]]


def test_a_batch_of_ten_thousand_items_goes_through_in_one_request(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The full batch is created in one call; the time is printed, not asserted."""
    cases = [patient(n) for n in range(10_000)]
    started = time.perf_counter()
    answer = push(world, "ward-7", {"cases": cases})
    took = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n10,000-item push: {took:.2f} s")
    assert 201 == answer.status_code
    assert 10_000 == answer.json["created"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_concurrent_posts_of_the_same_batch_create_each_ref_once(
    settings: Settings, crowd: Services, clock: FakeClock
) -> None:
    """Two threads released together: the unique constraint gives each ref one case."""
    big = replace(settings, max_body_bytes=BIG_BODY)
    world = build(big, replace(crowd, settings=big), clock)
    cases = [patient(n) for n in range(300)]
    barrier = threading.Barrier(2)

    def post(_: int) -> Any:
        client = world.api.client.application.test_client()
        barrier.wait(timeout=30)
        return client.post(
            "/api/v1/campaigns/ward-7/cases",
            json={"cases": cases},
            headers={"Authorization": f"Bearer {world.api.tokens['sue']}"},
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(post, range(2)))
    assert all(a.status_code in (200, 201) for a in answers)
    statuses = Counter(i["status"] for a in answers for i in a.json["items"])
    assert {"created": 300, "exists": 300} == dict(statuses)
    with world.services.sessions() as session:
        refs = list(session.scalars(select(Case.external_ref)))
    assert sorted(p["external_ref"] for p in cases) == sorted(refs)
