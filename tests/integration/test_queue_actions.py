"""Working the queue: claim, lapse, release, reassign, resolve with evidence, reopen, scopes."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.audit.log import verify_chain
from ivr.campaigns.service import create_campaign
from ivr.models import (
    Attempt,
    AttemptStatus,
    AuditEntry,
    Campaign,
    Case,
    Escalation,
    EscalationStatus,
    Evidence,
    EvidenceKind,
    Recording,
    RecordingStatus,
    StaffRole,
    StaffScope,
    StaffUser,
)
from ivr.queue.access import acting_user
from ivr.queue.actions import (
    claim,
    expire_claims,
    reassign,
    release,
    reopen,
    resolve,
    touch,
)
from ivr.queue.errors import (
    EscalationStateError,
    EvidenceError,
    NotAllowedError,
    OutcomeError,
    ReopenConflictError,
    StaffUserError,
)
from ivr.queue.evidence import Scan
from ivr.queue.history import history_of
from ivr.queue.service import raise_escalation
from ivr.services import Services
from recordings.store import open_store
from recordings.verify import verify_store
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

PDF = b"%PDF-1.4\n% a receipt signed by the policyholder (fictional)\n%%EOF\n"
SID = "RE" + "c3" * 16


# --- rows -------------------------------------------------------------------------------------


def add_user(
    session: Session,
    now: datetime,
    name: str,
    role: StaffRole = StaffRole.AGENT,
    *,
    active: bool = True,
    scopes: tuple[tuple[int | None, str | None], ...] = (),
) -> StaffUser:
    """A member of staff (no usable password: these tests never sign in)."""
    user = StaffUser(username=name, password_hash="!", role=role, active=active, created_at=now)
    session.add(user)
    session.flush()
    for campaign_id, department in scopes:
        session.add(StaffScope(user_id=user.id, campaign_id=campaign_id, department=department))
    session.flush()
    return user


def add_campaign(
    session: Session,
    now: datetime,
    template: str = "post-discharge",
    name: str = "",
    **options: str,
) -> Campaign:
    """A campaign from a shipped template."""
    return create_campaign(
        session, name=name or template, template_name=template, overrides=options, now=now
    )


def add_escalation(
    session: Session,
    campaign: Campaign,
    now: datetime,
    reason: str = "clinical_concern",
    *,
    ref: str = "P-0001",
    details: dict[str, Any] | None = None,
) -> int:
    """A case of the campaign and an open escalation for it; the escalation's id."""
    case = session.scalar(
        select(Case).where(Case.campaign_id == campaign.id, Case.external_ref == ref)
    ) or factories.case(session, campaign, now, ref=ref, details=details)
    raise_escalation(session, case_id=case.id, reason=reason, now=now)
    escalation_id = session.scalar(
        select(Escalation.id).where(
            Escalation.case_id == case.id,
            Escalation.reason == reason,
            Escalation.status != EscalationStatus.RESOLVED,
        )
    )
    assert escalation_id is not None
    return escalation_id


def add_recording(session: Session, case_id: int, now: datetime, sid: str = SID) -> Recording:
    """A recording of a call to the case, stored and checksummed as the fetcher leaves it."""
    number = 1 + len(list(session.scalars(select(Attempt.id).where(Attempt.case_id == case_id))))
    attempt = Attempt(
        case_id=case_id,
        number=number,
        status=AttemptStatus.COMPLETED,
        language="zh-CN",
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    recording = Recording(
        attempt_id=attempt.id,
        recording_sid=sid,
        call_sid="CA" + sid[2:],
        media_url="https://api.twilio.example/none",
        status=RecordingStatus.STORED,
        sha256="0" * 64,
        size_bytes=44,
        path=f"2030/01/{sid}.wav",
        created_at=now,
        stored_at=now,
    )
    session.add(recording)
    session.flush()
    return recording


def actions_of(sessions: sessionmaker[Session], escalation_id: int) -> list[str]:
    with sessions() as session:
        return [e.action for e in history_of(session, escalation_id)]


def escalation(sessions: sessionmaker[Session], escalation_id: int) -> Escalation:
    with sessions() as session:
        row = session.get(Escalation, escalation_id)
        assert row is not None
        return row


def audit_actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def do(services: Services, action: Any, escalation_id: int, username: str, **kw: Any) -> Any:
    """Run one action as `username` in its own transaction, as the CLI and the console do."""
    with services.sessions.begin() as session:
        return action(session, services, escalation_id, acting_user(session, username), **kw)


@pytest.fixture
def post_discharge(services: Services, clock: FakeClock) -> int:
    """An open clinical_concern escalation and four people: ann, bob (agents), sue, root."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now)
        add_user(session, clock.now, "ann")
        add_user(session, clock.now, "bob")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        add_user(session, clock.now, "root", StaffRole.ADMIN)
        return add_escalation(session, campaign, clock.now)


@pytest.fixture
def missell(services: Services, clock: FakeClock) -> int:
    """An open missell_suspected escalation of a policy sold by agent Carl; ann and sue exist."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now, "cooling-off")
        add_user(session, clock.now, "ann")
        add_user(session, clock.now, "carl")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        return add_escalation(
            session,
            campaign,
            clock.now,
            "missell_suspected",
            ref="POL-0001",
            details={"seller": "  Carl "},
        )


# --- claims -----------------------------------------------------------------------------------


def test_a_second_claim_is_told_who_holds_the_escalation_and_since_when(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """The first claim wins; the second changes nothing and names the holder."""
    first = do(services, claim, post_discharge, "ann")
    clock.advance(minutes=5)
    second = do(services, claim, post_discharge, "bob")
    assert (True, "ann") == (first.won, first.holder)
    assert (False, "ann", first.since) == (second.won, second.holder, second.since)
    assert "held by ann since" in second.message()
    row = escalation(services.sessions, post_discharge)
    assert EscalationStatus.CLAIMED == row.status
    assert ["raised", "claimed"] == actions_of(services.sessions, post_discharge)


def test_claiming_again_by_the_holder_only_touches_it(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """A holder's second claim keeps the claim's start and moves its last activity."""
    first = do(services, claim, post_discharge, "ann")
    clock.advance(minutes=10)
    again = do(services, claim, post_discharge, "ann")
    row = escalation(services.sessions, post_discharge)
    assert (True, first.since) == (again.won, again.since)
    assert clock.now == row.touched_at
    assert ["raised", "claimed"] == actions_of(services.sessions, post_discharge)


def test_an_idle_claim_lapses_and_another_agent_takes_it(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Past the idle time the claim goes to the next agent and the history says it lapsed."""
    do(services, claim, post_discharge, "ann")
    clock.advance(minutes=29)
    assert not do(services, claim, post_discharge, "bob").won
    clock.advance(minutes=1)
    taken = do(services, claim, post_discharge, "bob")
    assert (True, "bob", "ann") == (taken.won, taken.holder, taken.lapsed_holder)
    assert ["raised", "claimed", "lapsed", "claimed"] == actions_of(
        services.sessions, post_discharge
    )


def test_expiring_idle_claims_puts_them_back_in_the_queue(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """The periodic sweep opens idle claims only, once, with a lapsed event."""
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        busy = add_escalation(session, case.campaign, clock.now, "low_satisfaction")
    do(services, claim, post_discharge, "ann")
    do(services, claim, busy, "bob")
    clock.advance(minutes=25)
    do(services, touch, busy, "bob")
    clock.advance(minutes=5)
    with services.sessions.begin() as session:
        assert [post_discharge] == expire_claims(session, services)
    with services.sessions.begin() as session:
        assert [] == expire_claims(session, services)
    row = escalation(services.sessions, post_discharge)
    assert (EscalationStatus.OPEN, None) == (row.status, row.claimed_by_id)
    assert EscalationStatus.CLAIMED == escalation(services.sessions, busy).status
    with services.sessions() as session:
        last = history_of(session, post_discharge)[-1]
    assert ("system:claims", "lapsed", "claim of ann lapsed after 30 min idle") == (
        last.actor,
        last.action,
        last.detail,
    )


def test_the_holders_activity_keeps_the_claim(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """A touch restarts the idle time, so the claim does not lapse 30 minutes after claiming."""
    do(services, claim, post_discharge, "ann")
    clock.advance(minutes=20)
    do(services, touch, post_discharge, "ann")
    clock.advance(minutes=20)
    assert not do(services, claim, post_discharge, "bob").won
    with pytest.raises(NotAllowedError, match="bob does not hold"):
        do(services, touch, post_discharge, "bob")


def test_the_idle_time_is_a_setting(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """IVR_CLAIM_IDLE_MINUTES sets when a claim lapses."""
    services.settings = services.settings.with_(claim_idle_minutes=5)
    do(services, claim, post_discharge, "ann")
    clock.advance(minutes=5)
    assert do(services, claim, post_discharge, "bob").won


def test_release_gives_the_escalation_back_to_the_queue(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Only the holder (or a supervisor) releases; then anyone may claim it."""
    do(services, claim, post_discharge, "ann")
    with pytest.raises(NotAllowedError):
        do(services, release, post_discharge, "bob")
    do(services, release, post_discharge, "ann")
    row = escalation(services.sessions, post_discharge)
    assert (EscalationStatus.OPEN, None, None) == (row.status, row.claimed_by_id, row.touched_at)
    with pytest.raises(EscalationStateError, match="not claimed"):
        do(services, release, post_discharge, "ann")
    assert do(services, claim, post_discharge, "bob").won
    do(services, release, post_discharge, "sue")
    assert ["raised", "claimed", "released", "claimed", "released"] == actions_of(
        services.sessions, post_discharge
    )


def test_unknown_and_disabled_users_cannot_act(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """--as names an active user."""
    with services.sessions.begin() as session:
        add_user(session, clock.now, "gone", active=False)
    with pytest.raises(StaffUserError, match="no user named nobody"):
        do(services, claim, post_discharge, "nobody")
    with pytest.raises(StaffUserError, match="disabled"):
        do(services, claim, post_discharge, "gone")


# --- scopes -----------------------------------------------------------------------------------


def test_an_agent_works_only_the_campaigns_and_departments_of_its_scope(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Scope rows limit agents; supervisors and agents without rows are not limited."""
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        other = add_campaign(session, clock.now, name="elsewhere")
        add_user(session, clock.now, "oncology", scopes=((None, "Oncology"),))
        add_user(session, clock.now, "other", scopes=((other.id, None),))
        add_user(session, clock.now, "cardio", scopes=((other.id, None), (None, " cardiology")))
        add_user(session, clock.now, "exact", scopes=((case.campaign_id, "Cardiology"),))
    for name in ("oncology", "other"):
        with pytest.raises(NotAllowedError, match=f"outside the scope of {name}"):
            do(services, claim, post_discharge, name)
    assert do(services, claim, post_discharge, "cardio").won
    do(services, release, post_discharge, "cardio")
    assert do(services, claim, post_discharge, "exact").won
    with pytest.raises(NotAllowedError, match="outside the scope of oncology"):
        do(services, reassign, post_discharge, "sue", to=_user(services, "oncology"))


def _user(services: Services, name: str) -> StaffUser:
    with services.sessions() as session:
        return acting_user(session, name)


# --- reassign ---------------------------------------------------------------------------------


def test_a_supervisor_reassigns_with_a_note_and_it_is_audited(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Agents may not reassign; a supervisor's reassign moves the claim and is in the audit log."""
    do(services, claim, post_discharge, "ann")
    with pytest.raises(NotAllowedError, match="supervisor or an admin"):
        do(services, reassign, post_discharge, "ann", to=_user(services, "bob"))
    clock.advance(minutes=3)
    do(services, reassign, post_discharge, "sue", to=_user(services, "bob"), note="ann is off")
    row = escalation(services.sessions, post_discharge)
    assert (EscalationStatus.CLAIMED, clock.now) == (row.status, row.touched_at)
    assert "bob" == do(services, claim, post_discharge, "ann").holder
    with services.sessions() as session:
        last = history_of(session, post_discharge)[-1]
        assert ("sue", "reassigned", "from ann to bob: ann is off") == (
            last.actor,
            last.action,
            last.detail,
        )
        assert verify_chain(session, services) is None
    assert ["escalation.reassign"] == audit_actions(services.sessions)
    with pytest.raises(EscalationStateError, match="already holds"):
        do(services, reassign, post_discharge, "root", to=_user(services, "bob"))


# --- resolve ----------------------------------------------------------------------------------


def test_only_the_holder_or_a_supervisor_resolves_with_a_campaign_outcome(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Claim first; the outcome comes from the campaign's list; the note stays on the row."""
    with pytest.raises(NotAllowedError, match="claim escalation"):
        do(services, resolve, post_discharge, "ann", outcome="advice_given")
    do(services, claim, post_discharge, "ann")
    with pytest.raises(NotAllowedError):
        do(services, resolve, post_discharge, "bob", outcome="advice_given")
    with pytest.raises(OutcomeError, match="advice_given, referred_to_doctor"):
        do(services, resolve, post_discharge, "ann", outcome="confirmed")
    do(services, resolve, post_discharge, "ann", outcome=" Advice_Given ", note="call 13800138000")
    row = escalation(services.sessions, post_discharge)
    assert (EscalationStatus.RESOLVED, "advice_given", clock.now) == (
        row.status,
        row.outcome,
        row.resolved_at,
    )
    assert "call 13800138000" == row.resolution_note
    with services.sessions() as session:
        assert "advice_given: call •••" == history_of(session, post_discharge)[-1].detail
    with pytest.raises(EscalationStateError, match="already resolved"):
        do(services, resolve, post_discharge, "sue", outcome="advice_given")
    assert ["escalation.resolve"] == audit_actions(services.sessions)


def test_a_supervisor_resolves_without_claiming(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """Supervisors and admins close escalations nobody holds, or someone else holds."""
    do(services, resolve, post_discharge, "sue", outcome="no_action_needed")
    assert "no_action_needed" == escalation(services.sessions, post_discharge).outcome


def test_a_suspected_missale_needs_a_recording_of_its_case_or_a_scan(
    services: Services, clock: FakeClock, missell: int
) -> None:
    """No evidence, or a recording of another case, is refused; a recording of the case works."""
    with services.sessions.begin() as session:
        row = session.get(Escalation, missell)
        assert row is not None
        add_recording(session, row.case_id, clock.now)
        other = factories.case(session, row.case.campaign, clock.now, ref="POL-0002")
        add_recording(session, other.id, clock.now, sid="RE" + "d4" * 16)
    do(services, claim, missell, "ann")
    with pytest.raises(EvidenceError, match="only with evidence"):
        do(services, resolve, missell, "ann", outcome="confirmed")
    with pytest.raises(EvidenceError, match="not a recording of this case"):
        do(services, resolve, missell, "ann", outcome="confirmed", recording_sid="RE" + "d4" * 16)
    with pytest.raises(EvidenceError, match="not a recording of this case"):
        do(services, resolve, missell, "ann", outcome="confirmed", recording_sid="RE-unknown")
    # A recording proves a call, not a letter: letter_sent needs the signed receipt.
    with pytest.raises(EvidenceError, match="needs a scan"):
        do(services, resolve, missell, "ann", outcome="letter_sent", recording_sid=SID)
    assert EscalationStatus.CLAIMED == escalation(services.sessions, missell).status
    do(services, resolve, missell, "ann", outcome="confirmed", recording_sid=SID)
    with services.sessions() as session:
        evidence = session.scalars(select(Evidence)).one()
        assert (EvidenceKind.RECORDING, "ann") == (evidence.kind, evidence.added_by)
        assert ["raised", "claimed", "evidence_added", "resolved"] == [
            e.action for e in history_of(session, missell)
        ]
        assert verify_chain(session, services) is None
        # Evidence outlives its recording's retention: linked, it is put on legal hold.
        assert session.scalars(
            select(Recording.legal_hold).where(Recording.recording_sid == SID)
        ).one()
    assert [
        "recording.hold",
        "escalation.evidence_added",
        "escalation.resolve",
    ] == audit_actions(services.sessions)


def test_a_letter_with_a_signed_receipt_scan_closes_a_suspected_missale(
    services: Services, clock: FakeClock, missell: int, settings: Any
) -> None:
    """The scan is stored under its digest, with no name or file name in its path."""
    do(services, claim, missell, "ann")
    with pytest.raises(EvidenceError, match="not a PDF file"):
        do(
            services,
            resolve,
            missell,
            "ann",
            outcome="letter_sent",
            scan=Scan(b"GIF89a", "receipt.pdf"),
        )
    scan = Scan(PDF, "王小明 receipt.PDF")
    do(services, resolve, missell, "ann", outcome="letter_sent", scan=scan)
    digest = hashlib.sha256(PDF).hexdigest()
    with services.sessions() as session:
        evidence = session.scalars(select(Evidence)).one()
    assert f"evidence/2030/01/{digest}.pdf" == evidence.path
    assert (EvidenceKind.SCAN, digest, len(PDF), "application/pdf") == (
        evidence.kind,
        evidence.sha256,
        evidence.size_bytes,
        evidence.media_type,
    )
    assert PDF == (Path(settings.recordings_dir) / evidence.path).read_bytes()


def test_recordings_verify_checks_an_uploaded_scan_and_never_calls_it_unreferenced(
    services: Services, clock: FakeClock, missell: int, settings: Any
) -> None:
    """A scan is evidence like a recording: kept, re-hashed, and reported when changed."""
    do(services, claim, missell, "ann")
    do(services, resolve, missell, "ann", outcome="letter_sent", scan=Scan(PDF, "r.pdf"))
    store = open_store(settings)
    report = verify_store(services.sessions, store)
    assert (report.ok, report.intact, report.findings) == (True, 1, [])
    with services.sessions() as session:
        path = session.scalars(select(Evidence.path)).one()
    assert path is not None
    (Path(settings.recordings_dir) / path).write_bytes(PDF.replace(b"signed", b"forged"))
    (finding,) = verify_store(services.sessions, store).findings
    assert (finding.kind, finding.path) == ("altered", path)


def test_a_refused_resolution_stores_no_scan(
    services: Services, clock: FakeClock, missell: int, settings: Any
) -> None:
    """Every check runs before the scan is written, so a refusal leaves no file behind."""
    do(services, claim, missell, "ann")
    with pytest.raises(OutcomeError):
        do(services, resolve, missell, "ann", outcome="shrugged", scan=Scan(PDF, "r.pdf"))
    assert not (Path(settings.recordings_dir) / "evidence").exists()


def test_the_seller_of_the_policy_never_works_its_missale(
    services: Services, clock: FakeClock, missell: int
) -> None:
    """Carl sold it (recorded as ' Carl '): he may not claim, be assigned, or resolve it."""
    with pytest.raises(NotAllowedError, match="carl sold this policy"):
        do(services, claim, missell, "carl")
    with pytest.raises(NotAllowedError, match="carl sold this policy"):
        do(services, reassign, missell, "sue", to=_user(services, "carl"))
    with services.sessions.begin() as session:
        add_user(session, clock.now, "carl.sup", StaffRole.SUPERVISOR)
        row = session.get(Escalation, missell)
        assert row is not None
        row.case.details = {"seller": "CARL.SUP"}
    with pytest.raises(NotAllowedError, match=r"carl\.sup sold this policy"):
        do(services, resolve, missell, "carl.sup", outcome="confirmed", scan=Scan(PDF, "r.pdf"))
    assert do(services, claim, missell, "carl").won


def test_a_campaign_may_require_evidence_for_more_reasons(
    services: Services, clock: FakeClock
) -> None:
    """evidence_reasons=complaint: a complaint is closed only with evidence."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now, "renovation", evidence_reasons="complaint")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        escalation_id = add_escalation(session, campaign, clock.now, "complaint")
        plain = add_escalation(session, campaign, clock.now, "wrong_person")
    with pytest.raises(EvidenceError):
        do(services, resolve, escalation_id, "sue", outcome="complaint_resolved")
    do(
        services,
        resolve,
        escalation_id,
        "sue",
        outcome="complaint_resolved",
        scan=Scan(PDF, "a.pdf"),
    )
    do(services, resolve, plain, "sue", outcome="unreachable_closed")


# --- reopen -----------------------------------------------------------------------------------


def test_reopening_keeps_the_earlier_resolution_in_the_history(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """The resolver or a supervisor reopens; the row is open again, the history keeps all."""
    do(services, claim, post_discharge, "ann")
    do(services, resolve, post_discharge, "ann", outcome="advice_given")
    with pytest.raises(NotAllowedError, match="whoever resolved it"):
        do(services, reopen, post_discharge, "bob", note="wrong")
    with pytest.raises(EscalationStateError, match="say why"):
        do(services, reopen, post_discharge, "ann", note=" ")
    clock.advance(hours=1)
    do(services, reopen, post_discharge, "ann", note="the patient called back")
    row = escalation(services.sessions, post_discharge)
    assert (EscalationStatus.OPEN, None, None, None) == (
        row.status,
        row.outcome,
        row.resolved_by_id,
        row.claimed_by_id,
    )
    with services.sessions() as session:
        history = [(e.action, e.detail) for e in history_of(session, post_discharge)]
    assert ("resolved", "advice_given") == history[2]
    assert ("reopened", "was advice_given by ann: the patient called back") == history[3]
    with pytest.raises(EscalationStateError, match="is not resolved"):
        do(services, reopen, post_discharge, "sue", note="again")
    do(services, claim, post_discharge, "bob")
    do(services, resolve, post_discharge, "bob", outcome="referred_to_doctor")
    do(services, reopen, post_discharge, "sue", note="check")
    assert [
        "escalation.resolve",
        "escalation.reopen",
        "escalation.resolve",
        "escalation.reopen",
    ] == audit_actions(services.sessions)


def test_reopening_is_refused_while_the_same_reason_is_open_again(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """A new trigger after the resolution opened another escalation: work that one instead."""
    do(services, resolve, post_discharge, "sue", outcome="advice_given")
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        newer = add_escalation(session, case.campaign, clock.now)
    assert newer != post_discharge
    with pytest.raises(ReopenConflictError, match=f"escalation {newer} of the same case"):
        do(services, reopen, post_discharge, "sue", note="again")
    assert EscalationStatus.RESOLVED == escalation(services.sessions, post_discharge).status


def test_a_second_trigger_is_in_the_history(
    services: Services, clock: FakeClock, post_discharge: int
) -> None:
    """raise_escalation writes raised, then triggered for each trigger that adds to it."""
    with services.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        raise_escalation(session, case_id=case.id, reason="clinical_concern", now=clock.now)
    assert ["raised", "triggered"] == actions_of(services.sessions, post_discharge)
    assert 2 == escalation(services.sessions, post_discharge).triggers
