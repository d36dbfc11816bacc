"""The tables: campaign, contact, case, attempt, call_event, answer, recording, escalation.

No I/O here; behaviour lives in the modules that load and save these rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _enum(cls: type[StrEnum]) -> Enum:
    # Stored as plain strings: adding a member later needs no database enum migration.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class CampaignStatus(StrEnum):
    """Whether the dispatcher may call this campaign's cases."""

    ACTIVE = "active"  #: cases are called when due
    PAUSED = "paused"  #: nothing is dialled; webhooks of calls in flight still run


class CaseStatus(StrEnum):
    """Where a case is in its journey."""

    PENDING = "pending"  #: waiting for its next call at next_call_at
    IN_CALL = "in_call"  #: an attempt is in flight; not eligible for another
    DONE = "done"  #: the machine is finished with it; see outcome
    #: the calls are used up and the campaign says pause: no more calls, not done; waits for
    #: the contact's reply to the fallback text or for a person
    PAUSED = "paused"
    EXCLUDED = "excluded"  #: never called (e.g. an excluded ward)


class CaseOutcome(StrEnum):
    """Why a case is done."""

    COMPLETED = "completed"  #: the flow reached its end
    UNREACHABLE = "unreachable"  #: every attempt went unanswered
    WRONG_NUMBER = "wrong_number"  #: the provider refused the number
    WRONG_PERSON = "wrong_person"  #: someone else answered
    REQUESTED_AGENT = "requested_agent"  #: the person asked for a human
    PARTIAL = "partial"  #: hung up mid-survey; answers kept
    IDENTITY_FAILED = "identity_failed"  #: identity items did not match; nothing disclosed
    MISSED_DEADLINE = "missed_deadline"  #: no window left before the deadline
    OPTED_OUT = "opted_out"  #: the number is on the do-not-call list; never escalated


class AttemptStatus(StrEnum):
    """One call's life; the provider's CallStatus values plus our own first and error states."""

    CREATED = "created"  #: row written, provider not yet asked
    QUEUED = "queued"  #: the provider accepted the call
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"  #: answered and ended
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"  #: the provider could not place it
    CANCELED = "canceled"
    ERROR = "error"  #: we could not hand it to the provider

    @property
    def rank(self) -> int:
        """Order of progress: a callback may only move an attempt to a higher rank."""
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        """True for the states a call never leaves."""
        return _RANK[self] >= _RANK[AttemptStatus.COMPLETED]


_RANK = {
    AttemptStatus.CREATED: 0,
    AttemptStatus.QUEUED: 1,
    AttemptStatus.INITIATED: 2,
    AttemptStatus.RINGING: 3,
    AttemptStatus.IN_PROGRESS: 4,
    AttemptStatus.COMPLETED: 5,
    AttemptStatus.BUSY: 5,
    AttemptStatus.NO_ANSWER: 5,
    AttemptStatus.FAILED: 5,
    AttemptStatus.CANCELED: 5,
    AttemptStatus.ERROR: 5,
}


class RecordingStatus(StrEnum):
    """A recording's way from the provider into our store."""

    PENDING = "pending"  #: announced by the provider, not yet stored
    STORED = "stored"  #: in our store, checksum recorded
    FAILED = "failed"  #: gave up after repeated errors; needs a person


class EscalationStatus(StrEnum):
    """A human task's state."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    template: Mapped[str] = mapped_column(String(50))
    flow: Mapped[str] = mapped_column(String(50))
    # A flow of the user's own (YAML, validated at creation); None: the shipped flow named `flow`.
    flow_definition: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus), default=CampaignStatus.ACTIVE
    )
    created_at: Mapped[datetime]
    # The outcome webhook's signing secret is derived from IVR_SECRET_KEY and this random salt
    # (ivr.outcome_webhook.signing); None: no secret made yet, nothing is sent.
    webhook_salt: Mapped[str | None] = mapped_column(String(64))

    cases: Mapped[list[Case]] = relationship(back_populates="campaign")


class Contact(Base):
    """The person to call; kept apart from the case so that the personal data sits in one place."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # E.164. Indexed: the dispatcher counts earlier calls to a number across all campaigns.
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    sex: Mapped[str | None] = mapped_column(String(10))
    age: Mapped[int | None] = mapped_column(Integer)
    # Only for the unreachable e-mail of the programs that ask for it (fallback).
    email: Mapped[str | None] = mapped_column(String(254))


class Case(Base):
    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("campaign_id", "external_ref", name="uq_case_campaign_ref"),
        Index("ix_case_due", "status", "next_call_at"),
        # A report's scope (a campaign, a period of anchor dates), read with the ids alone
        # (migration 0011 says why).
        Index("ix_case_scope", "campaign_id", "anchor_date", postgresql_include=["id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    # Indexed: the call caps go from a number to its contacts, their cases, then the attempts.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(100))
    anchor_date: Mapped[date] = mapped_column(Date)  # discharge date, policy receipt, ...
    department: Mapped[str | None] = mapped_column(String(100))
    ward: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # doctor, diagnosis, ...
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.PENDING)
    outcome: Mapped[CaseOutcome | None] = mapped_column(_enum(CaseOutcome))
    excluded_reason: Mapped[str | None] = mapped_column(String(200))
    attempts_made: Mapped[int] = mapped_column(default=0)
    # The number of the first attempt on which a person answered, set when that attempt settles;
    # None until then. The reports count reached cases and the calls it took from it, so they do
    # not read the attempts for it (migration 0012 measured the difference).
    reached_on_attempt: Mapped[int | None]
    next_call_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    campaign: Mapped[Campaign] = relationship(back_populates="cases")
    contact: Mapped[Contact] = relationship()
    attempts: Mapped[list[Attempt]] = relationship(back_populates="case", order_by="Attempt.number")


class Attempt(Base):
    __tablename__ = "attempt"
    __table_args__ = (
        UniqueConstraint("case_id", "number", name="uq_attempt_case_number"),
        # Every dialler pass sweeps the attempts in flight (scheduler.reconcile): measured 14.8 ms
        # over 50,000 attempts without it, 0.28 ms with it.
        Index(
            "ix_attempt_unsettled",
            "created_at",
            postgresql_where=text("settled_at IS NULL"),
            sqlite_where=text("settled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    number: Mapped[int]
    status: Mapped[AttemptStatus] = mapped_column(
        _enum(AttemptStatus), default=AttemptStatus.CREATED
    )
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_sequence: Mapped[int] = mapped_column(default=-1)
    language: Mapped[str] = mapped_column(String(10))
    flow_state: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    flow_step: Mapped[int] = mapped_column(default=0)  # events applied; guards against replays
    reached: Mapped[bool] = mapped_column(default=False)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_permanent: Mapped[bool] = mapped_column(default=False)  # never retry this number
    duration_s: Mapped[int | None]
    created_at: Mapped[datetime]
    placed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]  # the case was updated from this attempt's result

    case: Mapped[Case] = relationship(back_populates="attempts")
    answers: Mapped[list[Answer]] = relationship(back_populates="attempt")


class CallEvent(Base):
    """One moment of a call's timeline: recording paused or resumed, an identity item checked.

    Never the keyed digits: `detail` names the item and whether it matched, nothing more.
    """

    __tablename__ = "call_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id"), index=True)
    at: Mapped[datetime]
    # Indexed: every dispatcher tick looks up the texts due (kind "sms.due").
    kind: Mapped[str] = mapped_column(String(50), index=True)
    detail: Mapped[str | None] = mapped_column(String(200))


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("attempt_id", "question", name="uq_answer_attempt_q"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    question: Mapped[str] = mapped_column(String(50))
    value: Mapped[str | None] = mapped_column(String(50))  # None: asked, no valid answer
    created_at: Mapped[datetime]

    attempt: Mapped[Attempt] = relationship(back_populates="answers")


class Recording(Base):
    __tablename__ = "recording"
    __table_args__ = (Index("ix_recording_due", "status", "next_fetch_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"))
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    media_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[RecordingStatus] = mapped_column(
        _enum(RecordingStatus), default=RecordingStatus.PENDING
    )
    duration_s: Mapped[int | None]
    channels: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None]
    path: Mapped[str | None] = mapped_column(String(300))  # relative to the store's root
    fetch_tries: Mapped[int] = mapped_column(default=0)
    next_fetch_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    stored_at: Mapped[datetime | None]
    provider_deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # RecordingStartTime from the provider: offset 0 of the audio, for the call's timeline.
    started_at: Mapped[datetime | None]
    # The compressed mono copy people listen to; the file at `path` stays the evidence.
    listen_path: Mapped[str | None] = mapped_column(String(300))
    # Set when the file was stored encrypted: the id of the key (IVR_RECORDINGS_KEY) it needs.
    key_id: Mapped[str | None] = mapped_column(String(64))
    # Kept at least until this date (from the campaign's retention rule and a date on the case);
    # None: not yet computed, so never purged.
    retain_until: Mapped[date | None] = mapped_column(Date)
    legal_hold: Mapped[bool] = mapped_column(default=False)  # blocks any deletion while set
    purged_at: Mapped[datetime | None]  # the files were deleted; the row stays as the record
    # An agent's bridged callback (attempt_id is then None): same pipeline, linked as evidence.
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("agent_callback.id"), index=True)


class Escalation(Base):
    __tablename__ = "escalation"
    __table_args__ = (
        # One open escalation per case and reason: a second trigger adds to it.
        Index(
            "uq_escalation_open",
            "case_id",
            "reason",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"))
    reason: Mapped[str] = mapped_column(String(50))
    priority: Mapped[int] = mapped_column(default=3)  # 1 most urgent
    status: Mapped[EscalationStatus] = mapped_column(
        _enum(EscalationStatus), default=EscalationStatus.OPEN
    )
    triggers: Mapped[int] = mapped_column(default=1)
    detail: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Who works on it; a claim lapses when its holder has done nothing for the idle time.
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    claimed_at: Mapped[datetime | None]
    touched_at: Mapped[datetime | None]  # the holder's last action on it
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(50))  # from the campaign's list
    resolution_note: Mapped[str | None] = mapped_column(Text)
    overdue_at: Mapped[datetime | None]  # when the SLA job found it past due_at
    notified_at: Mapped[datetime | None]  # when supervisors were told it is overdue

    case: Mapped[Case] = relationship()


class DncSource(StrEnum):
    """How a number came onto the do-not-call list."""

    CLI = "cli"  #: `ivr dnc add`
    CSV = "csv"  #: `ivr dnc import`
    API = "api"  #: the JSON API
    AGENT = "agent"  #: a member of staff, from the queue or a call back
    KEYPRESS = "keypress"  #: the person pressed the flow's opt-out key during a call
    SMS = "sms"  #: the person replied to a text with an opt-out word (ivr.queue.replies)


class DoNotCall(Base):
    """A number the dispatcher must not dial, in any campaign, while the entry is in force."""

    __tablename__ = "do_not_call"

    id: Mapped[int] = mapped_column(primary_key=True)
    # E.164, unique: a second add of one number updates this row (the constraint settles races).
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    added_at: Mapped[datetime]  # the latest request to be left alone
    until: Mapped[datetime | None]  # in force while now < until; None: indefinitely
    source: Mapped[DncSource] = mapped_column(_enum(DncSource))
    reason: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str | None] = mapped_column(String(100))


class DialPace(Base):
    """A moment shared by every dispatcher process: the next free call slot, a provider pause.

    `next_at` is seconds since the epoch (see scheduler.pacing for whose clock).
    """

    __tablename__ = "dial_pace"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)


class AuditEntry(Base):
    """One entry of the append-only audit log: who did what to which object, and when.

    Each entry's `entry_hash` covers its own fields and the previous entry's hash (keyed with the
    installation's secret), so an entry edited, removed or inserted later breaks the chain
    (`ivr audit verify`).
    """

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # a user name, or "system:<job>"
    action: Mapped[str] = mapped_column(String(50), index=True)  # recording.replay, ...
    object_kind: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class StaffRole(StrEnum):
    """What a member of staff may do (see ivr.staff)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class StaffUser(Base):
    """A person who signs in: agents, supervisors, compliance officers, administrators."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole))
    active: Mapped[bool] = mapped_column(default=True)
    # E.164; the phone the product rings first for an agent's callback (ivr.queue.callback).
    phone: Mapped[str | None] = mapped_column(String(20))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class EscalationEvent(Base):
    """One step of an escalation's history: raised, triggered again, claimed, released, lapsed,
    reassigned, resolved, reopened, overdue, notified. Never edited: the history is the record."""

    __tablename__ = "escalation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # a user name, or "system:<job>"
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(Text)


class EvidenceKind(StrEnum):
    """What backs an escalation's resolution."""

    RECORDING = "recording"  #: a call recording kept in the recordings store
    SCAN = "scan"  #: an uploaded document: a signed receipt of a letter or a home visit


class Evidence(Base):
    """A recording or an uploaded scan linked to an escalation as the proof of its outcome."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    kind: Mapped[EvidenceKind] = mapped_column(_enum(EvidenceKind))
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recording.id"))
    path: Mapped[str | None] = mapped_column(String(300))  # a scan, relative to the store's root
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None]
    media_type: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime]


class StaffScope(Base):
    """What an agent may work on: a campaign, a department, or both; an agent with no scope row
    works every campaign. Supervisors, compliance officers and administrators are not limited."""

    __tablename__ = "staff_scope"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    department: Mapped[str | None] = mapped_column(String(100))


class AgentCallbackStatus(StrEnum):
    """An agent's callback: the agent's phone rings first, then the customer's is bridged in."""

    REQUESTED = "requested"  #: row written, provider not yet asked
    CALLING_AGENT = "calling_agent"  #: the provider accepted the call to the agent's phone
    AGENT_ANSWERED = "agent_answered"  #: the agent picked up and is asked to confirm
    BRIDGING = "bridging"  #: the agent confirmed; the customer's phone is ringing
    COMPLETED = "completed"  #: the customer answered and the bridged call ended
    CUSTOMER_UNREACHED = "customer_unreached"  #: busy, no answer or failed on the customer's leg
    AGENT_UNREACHED = "agent_unreached"  #: the agent did not answer or did not confirm
    FAILED = "failed"  #: the provider refused the call, or we could not hand it over


class AgentCallback(Base):
    """One "call back" from an escalation: recorded like every call, linked to it as evidence."""

    __tablename__ = "agent_callback"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    status: Mapped[AgentCallbackStatus] = mapped_column(
        _enum(AgentCallbackStatus), default=AgentCallbackStatus.REQUESTED
    )
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)  # the agent's leg
    dial_call_sid: Mapped[str | None] = mapped_column(String(64))  # the customer's leg
    dial_status: Mapped[str | None] = mapped_column(String(32))  # the provider's DialCallStatus
    dial_duration_s: Mapped[int | None]
    # Calling outside the customer's windows needs the agent's confirmation, kept here and in
    # the audit log.
    window_override: Mapped[bool] = mapped_column(default=False)
    override_reason: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    placed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # the agent picked up
    bridged_at: Mapped[datetime | None]  # the customer picked up
    ended_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for the JSON API; requests made with it act as its staff user (role and
    scope). Only a hash is kept: the token is shown once, when it is made."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # the integration, e.g. his-sync
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings to tell tokens apart
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class InboundMessage(Base):
    """A text message a contact sent us (a reply to the unreachable text). MessageSid is unique:
    the provider may deliver the webhook twice."""

    __tablename__ = "inbound_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    body: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))  # the case it answers
    action: Mapped[str] = mapped_column(String(32))  # callback_requested, opted_out, ignored, ...
    received_at: Mapped[datetime]


class JobMark(Base):
    """A once-only job's mark: the first process to insert a key does the work (the daily digest
    of a day, sent by one of several dialler processes); the others see the key and skip."""

    __tablename__ = "job_mark"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # e.g. digest:2026-11-23
    at: Mapped[datetime]


class AuditSample(Base):
    """A draw of cases for supervisors to re-call, checking that the follow-up happened: the
    hospital's random share, or the regulator's interval draw. Kept so that the same draw can be
    shown again and its outcomes reported."""

    __tablename__ = "audit_sample"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)  # the cases' anchor dates, both included
    period_end: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))  # random | interval
    share: Mapped[float] = mapped_column(Float)
    min_count: Mapped[int | None]
    seed: Mapped[str] = mapped_column(String(64))  # the same seed draws the same sample
    population: Mapped[int]
    strata: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # stratum -> [population, drawn]
    drawn_at: Mapped[datetime]
    drawn_by: Mapped[str] = mapped_column(String(100))


class AuditItem(Base):
    """One drawn case and what its audit re-call found."""

    __tablename__ = "audit_item"
    __table_args__ = (UniqueConstraint("sample_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("audit_sample.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    why: Mapped[str] = mapped_column(String(16))  # drawn | problem (always included)
    outcome: Mapped[str | None] = mapped_column(
        String(16)
    )  # confirmed | not_confirmed | unreachable
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime | None]
    recorded_by: Mapped[str | None] = mapped_column(String(100))


class OutboxStatus(StrEnum):
    """Where an outcome webhook event is on its way to the customer's system."""

    PENDING = "pending"  #: to be sent (again) at next_try_at
    DELIVERED = "delivered"  #: the receiver answered 2xx
    FAILED = "failed"  #: refused (4xx) or given up after the retry period; needs a person


class OutboxEvent(Base):
    """An outcome to POST to a campaign's outcome_webhook_url, written in the outcome's own
    transaction (ivr.outcome_webhook.outbox), so an outcome is never committed without it."""

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_due", "status", "next_try_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Sent as X-IVR-Event-Id: the receiver's idempotency key across our retries.
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # case.closed | escalation.resolved
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # never identity facts nor a phone
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None]
    # A deliverer holds the row until then, so two `ivr dial` processes never POST it at once.
    leased_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
