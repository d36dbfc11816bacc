"""One attempt's life after the dial: flow events, status callbacks, and settling its case.

Every function here runs inside the caller's transaction and applies each provider event at most
once, whatever the provider repeats or reorders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Integer, Table, bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ivr.call_events import Row, event_row, note_keys, note_prompts
from ivr.cases.recurrence import schedule_next_case
from ivr.consent.dnc import add_number
from ivr.db import rowcount
from ivr.flows.engine import advance, current_step
from ivr.flows.model import (
    Effect,
    Event,
    Flow,
    FlowOutcome,
    FlowState,
    Hangup,
    IdentityChecked,
    OptOut,
    RaiseEscalation,
    SaveAnswer,
    Start,
    Step,
    VerifyNode,
)
from ivr.identity import FACTS_KEY, fact_matches
from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    CallEvent,
    Case,
    CaseOutcome,
    CaseStatus,
    DncSource,
)
from ivr.outcome import settle
from ivr.privacy import redact_phones
from ivr.queue.fallback import note_email_due, note_sms_due, pause_case
from ivr.queue.service import raise_escalation
from ivr.services import Services
from ivr.telephony.port import RecordingNotLiveError, TelephonyError, is_machine
from scheduler.planner import plan_next_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowReply:
    """What to tell the provider after a flow event."""

    step: Step
    step_no: int  # the number the next Gather's action must carry
    applied: bool  # False when the request was a replay and nothing changed
    recording: str | None = None  # "pause" before a step that takes identity digits, "resume" after


def state_of(attempt: Attempt) -> FlowState | None:
    """The attempt's saved flow state, if its flow has started."""
    return None if attempt.flow_state is None else FlowState.from_json(attempt.flow_state)


# The step number in the WHERE clause is the guard: of two copies of one request (the provider
# retries a slow webhook), only one can move the step on. Built once: the SQL and its cache key
# are the same for every event.
# A Core statement on the table: the ORM's bulk UPDATE would autoflush and look for objects to
# synchronise, and the loaded attempt is set by hand below anyway.
_ATTEMPTS = cast(Table, Attempt.__table__)
MOVE_STEP = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"))
    .where(_ATTEMPTS.c.flow_step == bindparam("expected_step"))
    .values(
        flow_state=bindparam("flow_state", type_=_ATTEMPTS.c.flow_state.type),
        flow_step=bindparam("flow_step", type_=Integer()),
        reached=bindparam("reached", type_=Boolean()),
    )
)


# Core INSERTs (ivr.call_events says why); they need no flush, and the rows are visible to every
# later SELECT of the transaction (settling, the outcome webhook's payload).
_INSERT_ANSWERS = insert(cast(Table, Answer.__table__))
_INSERT_EVENTS = insert(cast(Table, CallEvent.__table__))
# The columns set are the parameters' other keys (a status callback sets one to four of them).
_SET_STATUS = update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt_id"))


def apply_flow_event(
    session: Session,
    services: Services,
    attempt: Attempt,
    event: Event,
    expected_step: int,
    now: datetime,
) -> FlowReply:
    """Apply a flow event exactly once; a replayed request gets the current step again."""
    flow = services.flow(attempt.case.campaign)
    state = state_of(attempt)
    if attempt.flow_step != expected_step or (state is not None and state.done):
        return _replay(services, attempt, state)
    if state is None and not isinstance(event, Start):
        # Keys for a flow that never started (its voice request was lost): nothing to apply.
        return _replay(services, attempt, state)
    transition = advance(flow, state, event, verify=_verifier(services, attempt))
    moved_to = {
        "flow_state": transition.state.to_json(),
        "flow_step": expected_step + 1,
        "reached": transition.state.reached,
    }
    moved = session.execute(
        MOVE_STEP, {"attempt_id": attempt.id, "expected_step": expected_step, **moved_to}
    )
    if rowcount(moved) != 1:
        session.refresh(attempt)
        return _replay(services, attempt, state_of(attempt))
    # The row now holds exactly these values (the UPDATE changed nothing else), so they are set
    # as the loaded state rather than read back: a refresh would cost a SELECT and expire the
    # case, campaign and contact loaded with the attempt.
    for key, value in moved_to.items():
        set_committed_value(attempt, key, value)
    # The call's timeline (ivr.call_events): noted only here, once the step has moved on.
    events: list[Row] = []
    note_keys(events, attempt.id, flow, state, event, transition.effects, now)
    same_day = services.config(attempt.case.campaign).same_day_reasons
    answers = _apply_effects(session, attempt, transition.effects, now, events, same_day)
    step = transition.step if transition.step is not None else Step((), None)
    note_prompts(events, attempt.id, flow, step.prompts, now)
    if answers:
        session.execute(_INSERT_ANSWERS, answers)
    if events:
        session.execute(_INSERT_EVENTS, events)
    change = _recording_change(flow, state, step)
    return FlowReply(step, expected_step + 1, applied=True, recording=change)


def _verifier(services: Services, attempt: Attempt) -> Callable[[str, str], bool]:
    """Compare a keyed identity item with the case's keyed hash; no hash never matches."""
    facts = attempt.case.details.get(FACTS_KEY) or {}
    secret = services.settings.secret_key

    def verify(item: str, keyed: str) -> bool:
        stored = facts.get(item)
        if not (isinstance(stored, str) and stored and secret):
            return False
        return fact_matches(secret, item, keyed, stored)

    return verify


def _recording_change(flow: Flow, before: FlowState | None, step: Step) -> str | None:
    # Identity digits must not be in the kept audio: pause before a step that gathers them
    # (its prompt included) and resume on the first step that does not.
    was_sensitive = (
        before is not None and not before.done and isinstance(flow.node(before.node), VerifyNode)
    )
    if step.sensitive and not was_sensitive:
        return "pause"
    if was_sensitive and not step.sensitive:
        return "resume"
    return None


def _replay(services: Services, attempt: Attempt, state: FlowState | None) -> FlowReply:
    if state is None:
        return FlowReply(Step((), None), attempt.flow_step, applied=False)
    flow = services.flow(attempt.case.campaign)
    return FlowReply(current_step(flow, state), attempt.flow_step, applied=False)


def _apply_effects(
    session: Session,
    attempt: Attempt,
    effects: tuple[Effect, ...],
    now: datetime,
    events: list[Row],
    same_day: frozenset[str] = frozenset(),
) -> list[Row]:
    """Apply a transition's effects; the answer rows (and the timeline's, in `events`) to write."""
    answers: list[Row] = []
    for effect in effects:
        if isinstance(effect, SaveAnswer):
            answers.append(
                {
                    "attempt_id": attempt.id,
                    "case_id": attempt.case_id,
                    "question": effect.question,
                    "value": effect.value,
                    "created_at": now,
                }
            )
        elif isinstance(effect, IdentityChecked):
            verdict = "matched" if effect.matched else "did not match"
            events.append(
                event_row(attempt.id, now, "identity.checked", f"{effect.item} {verdict}")
            )
        elif isinstance(effect, RaiseEscalation):
            # Renovation: problems go to the job's responsible manager (REQUIREMENTS section 4).
            manager = attempt.case.details.get("manager")
            raise_escalation(
                session,
                case_id=attempt.case_id,
                attempt_id=attempt.id,
                reason=effect.reason,
                priority=effect.priority,
                now=now,
                same_day=effect.reason in same_day,
                detail=f"responsible manager: {manager}" if manager else None,
            )
        elif isinstance(effect, OptOut):
            # In force at once, for every campaign, in this same transaction. The case closes
            # now, so settling the attempt later plans no further call and raises nothing.
            add_number(
                session,
                attempt.case.contact.phone,
                now=now,
                source=DncSource.KEYPRESS,
                reason="pressed the opt-out key during a call",
            )
            close_case(session, attempt.case, CaseOutcome.OPTED_OUT, now)
    return answers


def record_status(
    session: Session,
    services: Services,
    attempt: Attempt,
    status: AttemptStatus,
    *,
    sequence: int | None,
    duration_s: int | None,
    now: datetime,
) -> bool:
    """Move an attempt forward on a status callback; True if anything changed.

    Callbacks repeat and arrive out of order, so a status only ever moves the attempt to a higher
    rank, and a terminal status is final. The attempt is settled once, on its first terminal status.
    """
    changes: dict[str, object] = {}
    if sequence is not None and sequence > attempt.last_sequence:
        changes["last_sequence"] = sequence
    moved = status.rank > attempt.status.rank
    if moved:
        changes["status"] = status
        if status.terminal:
            changes["ended_at"] = now
            changes["duration_s"] = duration_s
    # Written at once with Core, as the flow's rows are (ivr.call_events says why): the attempt's
    # row is locked, so these values are what it holds, set as loaded without a read back.
    if changes:
        session.execute(_SET_STATUS, {"attempt_id": attempt.id, **changes})
        for key, value in changes.items():
            set_committed_value(attempt, key, value)
    if moved:
        session.execute(_INSERT_EVENTS, [event_row(attempt.id, now, "status", status.value)])
    changed = moved
    if attempt.status.terminal and attempt.settled_at is None:
        settle_attempt(session, services, attempt, now)
        changed = True
    return changed


def settle_attempt(session: Session, services: Services, attempt: Attempt, now: datetime) -> None:
    """Close a finished attempt's flow and decide what its case does next."""
    state = state_of(attempt)
    if state is not None and not state.done:
        apply_flow_event(session, services, attempt, Hangup(), attempt.flow_step, now)
        state = state_of(attempt)
    attempt.settled_at = now
    case = attempt.case
    # Before the early return: whoever settles the case, the reports must count this reach.
    if attempt.reached and (
        case.reached_on_attempt is None or attempt.number < case.reached_on_attempt
    ):
        case.reached_on_attempt = attempt.number
    if case.status is not CaseStatus.IN_CALL:
        # Already settled by a sweep, or a later attempt exists: nothing more to decide.
        return
    config = services.config(case.campaign)
    flow_outcome = None if state is None else state.outcome
    # Only a "not me" call's settling counts the earlier ones; reading every attempt of the case
    # for the others cost a millisecond of each call's last callback.
    wrong_person_calls = (
        sum(_ended(a) is FlowOutcome.WRONG_PERSON for a in case.attempts)
        if flow_outcome is FlowOutcome.WRONG_PERSON
        else 0
    )
    decision = settle(
        status=attempt.status,
        flow_outcome=flow_outcome,
        permanent_error=attempt.error_permanent,
        attempts_made=case.attempts_made,
        max_attempts=config.policy.max_attempts,
        wrong_person_calls=wrong_person_calls,
        wrong_person_retries=services.flow(case.campaign).wrong_person_retries,
        machine=is_machine(attempt.answered_by),
    )
    outcome = decision.outcome
    detail = None
    if outcome is None:
        next_at = plan_next_call(
            anchor=case.anchor_date,
            attempts_made=case.attempts_made,
            last_attempt_at=attempt.placed_at or attempt.created_at,
            policy=config.policy,
            tz=ZoneInfo(case.contact.timezone),
            now=now,
            deadline=case.deadline_at,
        )
        if next_at is None:
            outcome = CaseOutcome.MISSED_DEADLINE
            detail = "no calling window left before the deadline"
        else:
            case.status = CaseStatus.PENDING
            case.next_call_at = next_at
    if outcome is not None:
        if outcome is CaseOutcome.UNREACHABLE and config.after_unreachable == "pause":
            pause_case(case)  # no outcome yet: a reply or a person closes it (ivr.queue.fallback)
        else:
            close_case(session, case, outcome, now)
        reason = decision.escalate or ("unreachable" if detail else None)
        if reason is not None:
            raise_escalation(
                session,
                case_id=case.id,
                attempt_id=attempt.id,
                reason=reason,
                now=now,
                detail=detail,
                same_day=reason in config.same_day_reasons,
            )
        if outcome is CaseOutcome.UNREACHABLE and config.sms_when_unreachable:
            note_sms_due(session, attempt, now)
        if outcome is CaseOutcome.UNREACHABLE and config.email_when_unreachable:
            note_email_due(session, attempt, now)
        # Programs with periodic follow-ups (care insurance) plan the next one here, in the
        # same transaction; the others have no frequency and nothing happens.
        schedule_next_case(
            session, case, now=now, policy=config.policy, tz=ZoneInfo(case.contact.timezone)
        )
    log.info(
        "attempt settled",
        extra={
            "action": "attempt.settled",
            "case_id": case.id,
            "attempt_id": attempt.id,
            "status": attempt.status.value,
            "outcome": outcome and outcome.value,
        },
    )


def _ended(attempt: Attempt) -> FlowOutcome | None:
    state = state_of(attempt)
    return None if state is None else state.outcome


def close_case(session: Session, case: Case, outcome: CaseOutcome, now: datetime) -> None:
    """Mark a case done; the machine calls it no more."""
    case.status = CaseStatus.DONE
    case.outcome = outcome
    case.next_call_at = None
    case.done_at = now


def change_recording(services: Services, attempt_id: int, call_sid: str, change: str) -> None:
    """Pause or resume the call's recording; the result goes on the call's timeline.

    Called between the flow's transaction and the TwiML answer, so the pause is in place before
    the caller hears the identity question. A failure cannot be undone by refusing the call, so
    it is recorded (timeline and error log) for the recording to be reviewed.
    """
    done = "paused" if change == "pause" else "resumed"
    kind, detail = f"recording.{done}", None
    telephony = services.telephony
    try:
        if telephony is None:
            raise TelephonyError("no telephony provider configured in this process")
        if change == "pause":
            telephony.pause_recording(call_sid)
        else:
            telephony.resume_recording(call_sid)
    except RecordingNotLiveError:
        kind, detail = f"recording.not_{done}", "the call is no longer recording"
    except TelephonyError as exc:
        kind, detail = f"recording.{change}_failed", redact_phones(str(exc))[:200]
        log.error("recording %s failed", change, extra={"action": kind, "attempt_id": attempt_id})
    with services.sessions.begin() as session:
        session.add(CallEvent(attempt_id=attempt_id, at=services.clock(), kind=kind, detail=detail))
