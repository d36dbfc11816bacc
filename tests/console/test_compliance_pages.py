"""The compliance officer's pages: call search (each field, paging, injection strings), the
replay page and its audit entry, the audit log page, and who may open them; through the Flask
test client on SQLite and PostgreSQL.

The world built here is shared with test_compliance_export.py and the browser tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    AuditEntry,
    CallEvent,
    Escalation,
    Evidence,
    EvidenceKind,
    Recording,
    StaffRole,
)
from ivr.privacy import mask_phone
from ivr.queue.service import raise_escalation
from ivr.services import Services
from tests import factories
from tests.conftest import FakeClock
from tests.console.support import sign_in
from tests.console.test_agent_queue import add_staff
from tests.integration.test_replay import replays, store_recording, wav_bytes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

PHONE_P1 = factories.FICTIONAL_PHONES[10]  # +12025550110
PHONE_P2 = factories.FICTIONAL_PHONES[11]
PHONE_H1 = factories.FICTIONAL_PHONES[12]
FACT_HASH = "f" * 64
RECORDED_S = 65  # long enough for the browser tests to seek to 30 s


@dataclass(frozen=True)
class World:
    """ward-7 (region CN): P-0001 called twice (the first answered and recorded, 65 s, with an
    escalation and its evidence), P-0002 called once just after midnight in Shanghai; ward-9
    (region US): H-100 called once. cora is compliance, adam admin, sue supervisor, ann agent."""

    app: Flask
    ward7: int
    ward9: int
    p1_case: int
    p2_case: int
    h1_case: int
    p1_first: int  #: the attempt ids
    p1_second: int
    p2_first: int
    h1_first: int
    recording_id: int
    recording: bytes
    escalation_id: int


def _attempt(
    session: Session, case_id: int, number: int, placed_at: datetime, status: AttemptStatus
) -> int:
    attempt = Attempt(
        case_id=case_id,
        number=number,
        status=status,
        language="zh-CN",
        call_sid=f"CA{case_id:04d}{number:02d}" + "c3" * 13,
        created_at=placed_at,
        placed_at=placed_at,
        ended_at=placed_at + timedelta(seconds=70),
        duration_s=RECORDED_S if status == AttemptStatus.COMPLETED else None,
        reached=status == AttemptStatus.COMPLETED,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def build_world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The campaigns, cases, calls, recording, escalation and staff of these tests, and the app."""
    now = clock.now  # 2030-01-07 01:00 UTC, 09:00 in Shanghai
    placed = datetime(2030, 1, 5, 2, 0, tzinfo=UTC)
    recording = wav_bytes(RECORDED_S)
    recording_id = store_recording(
        services.sessions, settings, placed, recording, sid="RE" + "d4" * 16
    )
    with services.sessions.begin() as session:
        ward7 = factories.campaign(session, now, name="ward-7")
        ward9 = factories.campaign(session, now, name="ward-9", default_region="US")
        p1 = factories.case(
            session,
            ward7,
            now,
            ref="P-0001",
            phone=PHONE_P1,
            details={"facts": {"dob": FACT_HASH}, "diagnosis": "fictional-diagnosis-x"},
        )
        p2 = factories.case(session, ward7, now, ref="P-0002", phone=PHONE_P2)
        h1 = factories.case(session, ward9, now, ref="H-100", phone=PHONE_H1)
        p1_first = _attempt(session, p1.id, 1, placed, AttemptStatus.COMPLETED)
        p1_second = _attempt(session, p1.id, 2, placed + timedelta(days=1), AttemptStatus.NO_ANSWER)
        # 23:30 UTC on the 6th is 07:30 on the 7th in Shanghai.
        p2_first = _attempt(
            session, p2.id, 1, datetime(2030, 1, 6, 23, 30, tzinfo=UTC), AttemptStatus.BUSY
        )
        h1_first = _attempt(session, h1.id, 1, placed, AttemptStatus.NO_ANSWER)
        row = session.get_one(Recording, recording_id)
        row.attempt_id, row.started_at = p1_first, placed
        for question, value in (("pain", "3"), ("wound", None)):
            session.add(
                Answer(
                    attempt_id=p1_first,
                    case_id=p1.id,
                    question=question,
                    value=value,
                    created_at=placed + timedelta(seconds=20),
                )
            )
        for offset, kind, detail in ((5, "prompt", "greeting"), (30, "key", "pain=3")):
            session.add(
                CallEvent(
                    attempt_id=p1_first,
                    at=placed + timedelta(seconds=offset),
                    kind=kind,
                    detail=detail,
                )
            )
        raise_escalation(
            session, case_id=p1.id, reason="low_satisfaction", now=now, attempt_id=p1_first
        )
        escalation_id = session.scalar(select(Escalation.id).where(Escalation.case_id == p1.id))
        assert escalation_id is not None
        session.add(
            Evidence(
                escalation_id=escalation_id,
                kind=EvidenceKind.RECORDING,
                recording_id=recording_id,
                note="the first call",
                added_by="sue",
                added_at=now,
            )
        )
        add_staff(session, now, "cora", StaffRole.COMPLIANCE)
        add_staff(session, now, "adam", StaffRole.ADMIN)
        add_staff(session, now, "sue", StaffRole.SUPERVISOR)
        add_staff(session, now, "ann", StaffRole.AGENT, campaign_id=ward7.id)
        ids = (ward7.id, ward9.id, p1.id, p2.id, h1.id)
    app = create_app(settings, services=services)
    return World(
        app,
        *ids,
        p1_first,
        p1_second,
        p2_first,
        h1_first,
        recording_id,
        recording,
        escalation_id,
    )


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    return build_world(settings, services, clock)


def client_of(world: World, username: str) -> FlaskClient:
    """A browser signed in to the console as this user."""
    client = world.app.test_client()
    assert 302 == sign_in(client, username).status_code
    return client


@pytest.fixture
def cora(world: World) -> FlaskClient:
    return client_of(world, "cora")


def found(page: str) -> list[int]:
    """The attempt ids listed by a search page, top to bottom."""
    return [int(match) for match in re.findall(r'<tr id="attempt-(\d+)"', page)]


def search(client: FlaskClient, **query: str) -> tuple[int, str]:
    answer = client.get("/console/calls", query_string={"lang": "en", **query})
    return answer.status_code, answer.get_data(as_text=True)


# --- search ---------------------------------------------------------------------------------------


def test_a_compliance_officer_signs_in_to_the_call_search(world: World) -> None:
    """cora's first page is the search; the navigation links it and the audit log."""
    client = world.app.test_client()
    assert "/console/calls" == sign_in(client, "cora").location
    page = client.get("/console/calls").get_data(as_text=True)
    assert 'href="/console/calls"' in page and 'href="/console/audit"' in page
    assert [] == found(page)  # nothing asked, nothing listed


def test_search_by_policy_number_exact_or_by_its_start(world: World, cora: FlaskClient) -> None:
    """P-0001 finds its two calls, newest first; P-000 finds P-0002's too; H- only ward-9's."""
    assert (200, [world.p1_second, world.p1_first]) == (
        search(cora, ref="P-0001")[0],
        found(search(cora, ref="P-0001")[1]),
    )
    assert [world.p2_first, world.p1_second, world.p1_first] == found(search(cora, ref="P-000")[1])
    assert [world.h1_first] == found(search(cora, ref="H-")[1])
    assert [] == found(search(cora, ref="0001")[1])  # a prefix, not a substring


def test_search_by_phone_reads_national_numbers_in_the_campaigns_region(
    world: World, cora: FlaskClient
) -> None:
    """E.164 matches anywhere; a national number is read in the chosen campaign's region (US for
    ward-9), or in every campaign's region when none is chosen; a non-number is said so."""
    assert [world.h1_first] == found(search(cora, phone=PHONE_H1)[1])
    national = "(202) 555-0112"
    assert [world.h1_first] == found(search(cora, phone=national, campaign=str(world.ward9))[1])
    assert [] == found(search(cora, phone=national, campaign=str(world.ward7))[1])  # CN there
    assert [world.h1_first] == found(search(cora, phone=national)[1])
    status, page = search(cora, phone="not a number")
    assert 400 == status and "Not a phone number." in page


def test_search_by_placed_date_reads_days_in_the_campaigns_zone(
    world: World, cora: FlaskClient
) -> None:
    """P-0002's call at 23:30 UTC on the 6th was on the 7th in Shanghai, and is found there."""
    assert [world.p2_first] == found(search(cora, **{"from": "2030-01-07", "to": "2030-01-07"})[1])
    sixth = found(search(cora, **{"from": "2030-01-06", "to": "2030-01-06"})[1])
    assert [world.p1_second] == sixth
    status, page = search(cora, **{"from": "07/01/2030"})
    assert 400 == status and "YYYY-MM-DD" in page


def test_search_by_campaign_and_the_results_columns(world: World, cora: FlaskClient) -> None:
    """ward-9 lists H-100's call; each row has the masked phone, never the number, and links to
    the replay page (when recorded) and the case page."""
    assert [world.h1_first] == found(search(cora, campaign=str(world.ward9))[1])
    page = search(cora, ref="P-0001")[1]
    assert mask_phone(PHONE_P1) in page and PHONE_P1 not in page
    assert f'href="/console/recordings/{world.recording_id}"' in page
    assert f'href="/console/cases/{world.p1_case}"' in page
    assert "completed" in page and f"{60 + 5} s" in page
    assert "2030-01-05 10:00" in page  # placed 02:00 UTC, shown in Shanghai time


def test_results_are_paged(world: World, cora: FlaskClient, services: Services) -> None:
    """51 calls of one case: 50 on the first page with a link to the rest, 1 on the second."""
    with services.sessions.begin() as session:
        for number in range(3, 52):
            _attempt(
                session,
                world.p1_case,
                number,
                datetime(2030, 1, 4, tzinfo=UTC) - timedelta(minutes=number),
                AttemptStatus.NO_ANSWER,
            )
    first = search(cora, ref="P-0001")[1]
    assert 50 == len(found(first)) and "page=2" in first
    second = search(cora, ref="P-0001", page="2")[1]
    assert 1 == len(found(second)) and "page=3" not in second


INJECTIONS = ["' OR 1=1 --", "%", "_", "P-%", "<script>alert(1)</script>", '"><img src=x>']


@pytest.mark.parametrize("field", ["ref", "phone", "from", "to", "campaign"])
@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_find_nothing_and_are_escaped(
    world: World, cora: FlaskClient, field: str, text: str
) -> None:
    """SQL wildcards and quotes match themselves (so nothing here); HTML comes back escaped."""
    status, page = search(cora, **{field: text})
    assert status in (200, 400)
    assert [] == found(page)
    assert "<script>alert" not in page and "<img src=x>" not in page
    if field in ("ref", "phone"):
        assert "&lt;script&gt;" in page or "<script>" not in text


# --- replay ---------------------------------------------------------------------------------------


def test_the_replay_page_shows_the_player_timeline_and_checksum_and_is_audited(
    world: World, cora: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """The player asks the audited endpoint with the reason; moments during the recording seek;
    the stored checksum shows; the opening itself is `recording.view` with the reason."""
    answer = cora.get(
        f"/console/recordings/{world.recording_id}",
        query_string={"reason": "complaint C-7", "lang": "en"},
    )
    assert 200 == answer.status_code
    page = answer.get_data(as_text=True)
    assert re.search(r'<audio id="player" controls preload="metadata"\s+src="[^"]*/audio\?', page)
    assert "reason=complaint+C-7" in page or "reason=complaint%20C-7" in page
    assert 'data-seek="30.0"' in page and 'data-seek="5.0"' in page
    assert '<script src="/console/compliance/replay.js"' in page and "<script>" not in page
    with sessions() as session:
        stored = session.get_one(Recording, world.recording_id)
        assert stored.sha256 is not None and stored.sha256 in page
    views = replays(sessions, "recording.view")
    assert [("cora", str(world.recording_id), "complaint C-7")] == [
        (e.actor, e.object_id, e.detail["reason"]) for e in views
    ]
    script = cora.get("/console/compliance/replay.js")
    assert 200 == script.status_code and "data-seek" in script.get_data(as_text=True)


def test_each_replay_from_the_page_is_audited_by_the_endpoint(
    world: World, cora: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """The player's ranged requests each leave a `recording.replay` entry with the reason."""
    url = f"/recordings/{world.recording_id}/audio?reason=complaint+C-7"
    assert 206 == cora.get(url, headers={"Range": "bytes=0-99"}).status_code
    assert 206 == cora.get(url, headers={"Range": "bytes=480044-"}).status_code
    assert [("0-99", "complaint C-7"), (f"480044-{len(world.recording) - 1}", "complaint C-7")] == [
        (e.detail["range"], e.detail["reason"]) for e in replays(sessions)
    ]


def test_an_unknown_recording_is_a_404(world: World, cora: FlaskClient) -> None:
    """No page, no audit entry for a recording that does not exist."""
    assert 404 == cora.get("/console/recordings/999").status_code


# --- audit log ------------------------------------------------------------------------------------


def test_the_audit_log_lists_newest_first_filters_and_shows_the_chain(
    world: World, cora: FlaskClient
) -> None:
    """Two views then the log: newest first, filtered by action and object, the chain intact."""
    cora.get(f"/console/recordings/{world.recording_id}?reason=first")
    cora.get(f"/console/recordings/{world.recording_id}?reason=second")
    page = cora.get("/console/audit?lang=en").get_data(as_text=True)
    assert "The audit chain verifies:" in page
    assert page.index("second") < page.index("first")
    only = cora.get(
        "/console/audit", query_string={"action": "recording.view", "object": "recording:999"}
    ).get_data(as_text=True)
    assert "entry-" not in only
    by_kind = cora.get(
        "/console/audit", query_string={"object": f"recording:{world.recording_id}"}
    ).get_data(as_text=True)
    assert 2 == by_kind.count('<tr id="entry-')


def test_the_audit_log_says_when_the_chain_is_broken(
    world: World, cora: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """An entry edited in the database shows as a break at that entry, at the top of the page."""
    cora.get(f"/console/recordings/{world.recording_id}?reason=first")
    with sessions.begin() as session:
        entry_id = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id).limit(1))
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(actor="x"))
    page = cora.get("/console/audit?lang=en").get_data(as_text=True)
    assert f"BROKEN at entry {entry_id} (altered)" in page


def test_audit_log_pages_go_by_entry_id(world: World, cora: FlaskClient) -> None:
    """51 entries: 50 and a link to the older one, which is alone on the next page."""
    for n in range(51):
        cora.get(f"/console/recordings/{world.recording_id}?reason=r{n}")
    page = cora.get("/console/audit").get_data(as_text=True)
    assert 50 == page.count('<tr id="entry-')
    older = re.search(r'href="(/console/audit\?before=\d+)"', page)
    assert older is not None
    assert 1 == cora.get(older.group(1)).get_data(as_text=True).count('<tr id="entry-')


# --- who may open them ----------------------------------------------------------------------------


PAGES = ["/console/calls", "/console/recordings/{rid}", "/console/audit"]


@pytest.mark.parametrize("username", ["ann", "sue"])
@pytest.mark.parametrize("path", PAGES)
def test_agents_and_supervisors_get_403_on_compliance_pages(
    world: World, sessions: sessionmaker[Session], username: str, path: str
) -> None:
    """The pages are for compliance officers and administrators; a refusal writes no entry."""
    client = client_of(world, username)
    assert 403 == client.get(path.format(rid=world.recording_id)).status_code
    assert [] == replays(sessions, "recording.view")


@pytest.mark.parametrize("path", PAGES)
def test_administrators_open_compliance_pages(world: World, path: str) -> None:
    """Administrators see what compliance sees."""
    assert 200 == client_of(world, "adam").get(path.format(rid=world.recording_id)).status_code


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    """No session: the sign-in page, with the way back."""
    answer = world.app.test_client().get("/console/calls?ref=P-0001")
    assert 302 == answer.status_code and "/console/sign-in" in answer.location


def test_campaigns_are_listed_in_the_form(world: World, cora: FlaskClient) -> None:
    """The campaign filter offers every campaign by name."""
    page = search(cora)[1]
    for name in ("ward-7", "ward-9"):
        assert f">{name}</option>" in page
