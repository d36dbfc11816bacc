"""The case page in the console: who may open it (IDOR), what it shows and hides, resolve,
release and call back from it, and replaying its recordings as an agent; on SQLite and PostgreSQL.

Twilio's REST API is faked at the HTTP level with `responses`, as in test_agent_callback.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import BytesIO

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import (
    AgentCallback,
    Answer,
    Attempt,
    AttemptStatus,
    AuditEntry,
    CallEvent,
    Case,
    EscalationStatus,
    Evidence,
    Recording,
)
from ivr.privacy import mask_phone
from ivr.queue.service import raise_escalation
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.console.support import form_token, post_form
from tests.console.test_agent_queue import (
    World,
    build_world,
    client_of,
    escalation,
    holder,
    listed,
)
from tests.integration.test_agent_callback import CALLS_URL, LUNCHTIME, created_call
from tests.integration.test_replay import replays, store_recording, wav_bytes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CUSTOMER = factories.FICTIONAL_PHONES[0]  # every case of factories.case has this number
MASKED = mask_phone(CUSTOMER)
FACT_HASH = "f" * 64


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; a request no test expected fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    """The queue tests' world, with the Twilio adapter, and P-1 called once and recorded."""
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _s: None
    )
    built = build_world(settings, services, clock)
    call(services, settings, clock, built.p1_case)
    return built


def call(services: Services, settings: Settings, clock: FakeClock, case_id: int) -> int:
    """An answered attempt of the case with two answers, two moments and a stored recording."""
    now = clock.now - timedelta(hours=2)
    recording_id = store_recording(services.sessions, settings, now, wav_bytes(1.0))
    with services.sessions.begin() as session:
        case = session.get_one(Case, case_id)
        case.details = {"facts": {"dob": FACT_HASH}, "diagnosis": "fictional-diagnosis-x"}
        attempt = Attempt(
            case_id=case_id,
            number=1,
            status=AttemptStatus.COMPLETED,
            language="zh-CN",
            created_at=now,
            call_sid="CA" + "e5" * 16,
        )
        session.add(attempt)
        session.flush()
        session.get_one(Recording, recording_id).attempt_id = attempt.id
        for question, value in (("pain", "3"), ("wound", None)):
            session.add(
                Answer(
                    attempt_id=attempt.id,
                    case_id=case_id,
                    question=question,
                    value=value,
                    created_at=now,
                )
            )
        session.add(CallEvent(attempt_id=attempt.id, at=now, kind="prompt", detail="greeting"))
        session.add(CallEvent(attempt_id=attempt.id, at=now, kind="key", detail="pain=3"))
    return recording_id


def recording_id_of(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        found: int | None = session.scalar(select(Recording.id))
        assert found is not None
        return found


def case_path(case_id: int) -> str:
    return f"/console/cases/{case_id}"


def claim(client: FlaskClient, escalation_id: int) -> None:
    answer = post_form(client, "/console/queue", f"/console/queue/{escalation_id}/claim", {})
    assert 302 == answer.status_code


def text(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert 200 == page.status_code, page.status_code
    return page.get_data(as_text=True)


# --- who opens a case ------------------------------------------------------------------------


def test_an_agent_may_not_open_a_case_another_agent_holds(world: World) -> None:
    """IDOR: bob gets 403, with the reason in the page, on P-1 once ann holds it."""
    ann, bob = client_of(world, "ann"), client_of(world, "bob")
    assert 200 == bob.get(case_path(world.p1_case)).status_code  # unclaimed: his to claim
    claim(ann, world.p1)
    refused = bob.get(case_path(world.p1_case) + "?lang=en")
    assert 403 == refused.status_code
    assert "held by another member of staff" in refused.get_data(as_text=True)
    assert "P-1" not in refused.get_data(as_text=True)
    assert 200 == ann.get(case_path(world.p1_case)).status_code
    assert 200 == bob.get(case_path(world.p2_case)).status_code


def test_an_agent_may_not_open_a_case_outside_their_scope(world: World) -> None:
    """cara (ward-9) gets 403 on a ward-7 case; an unknown case is 404."""
    cara = client_of(world, "cara")
    assert 403 == cara.get(case_path(world.p1_case)).status_code
    assert 200 == cara.get(case_path(world.o1_case)).status_code
    assert 404 == cara.get(case_path(999_999)).status_code


@pytest.mark.parametrize("name", ["sue", "cora", "adam"])
def test_supervisors_compliance_and_admins_open_any_case(world: World, name: str) -> None:
    """Even one an agent holds."""
    claim(client_of(world, "ann"), world.p1)
    assert 200 == client_of(world, name).get(case_path(world.p1_case)).status_code


# --- what the page shows -----------------------------------------------------------------------


def test_the_page_shows_the_answers_timeline_and_player_never_identity_facts(
    world: World, services: Services
) -> None:
    """Answers of every attempt, the call's moments, an <audio> on the replay URL; no details."""
    page = text(client_of(world, "ann"), case_path(world.p1_case) + "?lang=en")
    assert "pain" in page and "(no valid answer)" in page
    assert "greeting" in page and "pain=3" in page
    recording_id = recording_id_of(services.sessions)
    assert f'<audio controls preload="metadata" src="/recordings/{recording_id}/audio?' in page
    assert FACT_HASH not in page and "fictional-diagnosis-x" not in page
    assert "Cardiology" in page and "2029-12-31" in page


def test_the_phone_is_masked_until_the_agent_starts_a_callback(
    world: World, services: Services, mocked: responses.RequestsMock
) -> None:
    """Masked on opening; after ann's callback (the provider accepts) shown in full to her only."""
    ann = client_of(world, "ann")
    page = text(ann, case_path(world.p1_case))
    assert MASKED in page and CUSTOMER not in page
    claim(ann, world.p1)
    mocked.post(CALLS_URL, json=created_call(), status=201)
    answer = post_form(
        ann, case_path(world.p1_case), f"/console/escalations/{world.p1}/callback", {}
    )
    assert (302, case_path(world.p1_case)) == (answer.status_code, answer.location)
    page = text(ann, case_path(world.p1_case) + "?lang=en")
    assert "您的电话正在振铃" in page and "your phone is ringing" in page
    assert CUSTOMER in page
    assert CUSTOMER not in text(client_of(world, "sue"), case_path(world.p1_case))
    assert 1 == len(mocked.calls)


def test_a_callback_outside_the_windows_says_when_the_next_one_opens(
    world: World, services: Services, clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    """At 12:00 in Shanghai: refused, naming 06:00 UTC; no call, and the phone stays masked."""
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    clock.now = LUNCHTIME
    post_form(ann, case_path(world.p1_case), f"/console/escalations/{world.p1}/callback", {})
    page = text(ann, case_path(world.p1_case))
    assert "下一个允许呼叫时段开始于 2030-01-07 06:00 UTC" in page
    assert CUSTOMER not in page
    assert 0 == len(mocked.calls)
    with services.sessions() as session:
        assert session.scalar(select(AgentCallback.id)) is None


def test_without_telephony_the_page_says_a_callback_cannot_be_placed(
    world: World, services: Services
) -> None:
    """An installation without a provider shows why instead of a call button."""
    services.telephony = None
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    page = text(ann, case_path(world.p1_case) + "?lang=en")
    assert "cannot be placed from this installation" in page


# --- resolve and release -------------------------------------------------------------------------


def test_resolving_without_the_needed_evidence_shows_why_and_changes_nothing(
    world: World, services: Services, clock: FakeClock
) -> None:
    """A suspected mis-sale needs a recording or a scan: refused, still claimed, nothing audited."""
    with services.sessions.begin() as session:
        raise_escalation(session, case_id=world.p2_case, reason="missell_suspected", now=clock.now)
    ann = client_of(world, "ann")
    page = text(ann, "/console/queue")
    missell = max(listed(page))
    claim(ann, missell)
    post_form(
        ann,
        case_path(world.p2_case),
        f"/console/escalations/{missell}/resolve",
        {"outcome": "advice_given", "note": "spoke to them"},
    )
    assert "closed only with evidence" in text(ann, case_path(world.p2_case))
    assert EscalationStatus.CLAIMED == escalation(services, missell).status
    assert [] == replays(services.sessions, "escalation.resolve")


def test_a_letter_is_resolved_only_with_a_scan_uploaded_in_the_form(
    world: World, services: Services, settings: Settings
) -> None:
    """Without the file the refusal says why; with the signed receipt's scan it closes."""
    with services.sessions.begin() as session:
        campaign = session.get_one(Case, world.p1_case).campaign
        campaign.options = {**campaign.options, "outcomes": "advice_given,letter_sent"}
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    page = ann.get(case_path(world.p1_case))
    assert 'enctype="multipart/form-data"' in page.get_data(as_text=True)
    action = f"/console/escalations/{world.p1}/resolve"
    refused = ann.post(
        action,
        data={"outcome": "letter_sent", "csrf_token": form_token(page), "scan": (BytesIO(), "")},
        content_type="multipart/form-data",
    )
    assert 302 == refused.status_code
    assert "receipt the policyholder signed" in text(ann, case_path(world.p1_case))
    assert EscalationStatus.CLAIMED == escalation(services, world.p1).status
    receipt = b"%PDF-1.4 a fictional signed receipt"
    done = ann.post(
        action,
        data={
            "outcome": "letter_sent",
            "csrf_token": form_token(ann.get(case_path(world.p1_case))),
            "scan": (BytesIO(receipt), "receipt.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert 302 == done.status_code
    assert (EscalationStatus.RESOLVED, "letter_sent") == (
        escalation(services, world.p1).status,
        escalation(services, world.p1).outcome,
    )
    with services.sessions() as session:
        [path] = session.scalars(select(Evidence.path).where(Evidence.escalation_id == world.p1))
    assert path is not None and receipt == (settings.recordings_dir / path).read_bytes()


def test_resolving_with_a_note_closes_it_and_the_note_is_escaped(
    world: World, services: Services
) -> None:
    """The outcome from the campaign's list; a note with markup is shown as text."""
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    note = "<script>alert('x')</script> called back"
    answer = post_form(
        ann,
        case_path(world.p1_case),
        f"/console/escalations/{world.p1}/resolve",
        {"outcome": "advice_given", "note": note},
    )
    assert 302 == answer.status_code
    row = escalation(services, world.p1)
    assert (EscalationStatus.RESOLVED, "advice_given", note) == (
        row.status,
        row.outcome,
        row.resolution_note,
    )
    for reader in (ann, client_of(world, "sue")):
        page = text(reader, case_path(world.p1_case))
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_resolve_without_its_csrf_token_is_refused_and_changes_nothing(
    world: World, services: Services
) -> None:
    """400, still claimed."""
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    refused = ann.post(f"/console/escalations/{world.p1}/resolve", data={"outcome": "advice_given"})
    assert 400 == refused.status_code
    assert EscalationStatus.CLAIMED == escalation(services, world.p1).status


def test_another_agent_cannot_resolve_or_release_a_claim_by_posting(
    world: World, services: Services
) -> None:
    """bob posting to ann's escalation (with his own valid token) is refused; nothing changes."""
    claim(client_of(world, "ann"), world.p1)
    bob = client_of(world, "bob")
    token = form_token(bob.get("/console/queue"))
    for action, data in (("resolve", {"outcome": "advice_given"}), ("release", {})):
        bob.post(f"/console/escalations/{world.p1}/{action}", data={**data, "csrf_token": token})
    assert "ann" == holder(services, world.p1)


def test_releasing_gives_the_escalation_back_and_returns_to_the_queue(
    world: World, services: Services
) -> None:
    """The holder releases; the agent lands on the queue, the escalation is open again."""
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    answer = post_form(
        ann, case_path(world.p1_case), f"/console/escalations/{world.p1}/release", {}
    )
    assert (302, "/console/queue") == (answer.status_code, answer.location)
    assert EscalationStatus.OPEN == escalation(services, world.p1).status


# --- replaying the case's recordings ----------------------------------------------------------


def test_an_agent_replays_a_recording_of_a_case_they_may_open_and_it_is_audited(
    world: World, services: Services
) -> None:
    """ann (scope, no colleague's claim): 206 for a range, one audit entry naming her."""
    recording_id = recording_id_of(services.sessions)
    ann = client_of(world, "ann")
    claim(ann, world.p1)
    url = f"/recordings/{recording_id}/audio?reason=console:%20case%20{world.p1_case}"
    answer = ann.get(url, headers={"Range": "bytes=0-99"})
    assert (206, 100) == (answer.status_code, len(answer.data))
    entries = replays(services.sessions)
    assert [("ann", str(recording_id))] == [(e.actor, e.object_id) for e in entries]
    assert "0-99" == entries[0].detail["range"]


def test_an_agent_may_not_replay_a_recording_of_a_colleagues_or_another_wards_case(
    world: World, services: Services
) -> None:
    """bob (ann holds P-1) and cara (ward-9) get 403; nothing is audited."""
    recording_id = recording_id_of(services.sessions)
    claim(client_of(world, "ann"), world.p1)
    url = f"/recordings/{recording_id}/audio?reason=curious"
    for name in ("bob", "cara"):
        assert 403 == client_of(world, name).get(url).status_code
    with services.sessions() as session:
        assert [] == list(session.scalars(select(AuditEntry)))


def test_opening_a_case_is_audited_and_a_refused_opening_is_not(
    world: World, services: Services
) -> None:
    """case.view names the viewer, the recordings whose timelines were shown, the phone's state."""
    ann, bob = client_of(world, "ann"), client_of(world, "bob")
    claim(ann, world.p1)
    text(ann, case_path(world.p1_case))
    assert 403 == bob.get(case_path(world.p1_case)).status_code
    views = replays(services.sessions, "case.view")
    assert [("ann", str(world.p1_case))] == [(e.actor, e.object_id) for e in views]
    expected = {"recordings": [recording_id_of(services.sessions)], "phone_shown": False}
    assert expected == views[0].detail


def test_claiming_from_the_case_page_comes_back_to_it(world: World, services: Services) -> None:
    """An agent who opened an unclaimed case claims it there and stays on the page."""
    ann = client_of(world, "ann")
    path = case_path(world.p2_case)
    page = ann.get(path)
    answer = ann.post(
        f"/console/queue/{world.p2}/claim", data={"csrf_token": form_token(page), "back": "case"}
    )
    assert (302, path) == (answer.status_code, answer.location)
    assert "ann" == holder(services, world.p2)
    assert f'action="/console/escalations/{world.p2}/resolve"' in text(ann, path)
