"""Write an outbox event in the same transaction as the outcome it reports.

A case reaches its final outcome in several places (ivr.attempts.close_case for the calls,
opt-outs and missed deadlines; the importer for excluded cases and deadlines already gone;
ivr.queue.fallback for paused cases; ivr.queue.actions for a resolved escalation), and new ones
will come. Rather than a call in each that a new path could forget, the session factory watches
what its flushes change (`install`, from ivr.db.make_sessions):

- before each flush, a Case whose status became done or excluded, and an Escalation whose status
  became resolved, are noted on the session;
- just before the outermost transaction commits, the noted rows still in that state get one
  event each, built from the transaction's own rows (answers and escalations added after the
  status changed included); the commit then writes them with the outcome, or neither.

Only ORM changes are seen: code that writes cases with Core statements (the importer's
executemany) names the closed ones with `note_closed`. Campaigns without an outcome_webhook_url
get no events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import InstanceState, Session, SessionTransaction, UOWTransaction, sessionmaker

from ivr.models import (
    Answer,
    Attempt,
    Case,
    CaseStatus,
    Escalation,
    EscalationStatus,
    OutboxEvent,
    OutboxStatus,
)
from ivr.outcome_webhook.payload import (
    CASE_CLOSED,
    ESCALATION_RESOLVED,
    CaseFacts,
    Resolution,
    outcome_payload,
)

FINAL = frozenset({CaseStatus.DONE, CaseStatus.EXCLUDED})
_NOTED = "ivr.outcome_webhook.noted"  # session.info key: (kind, object) by id(object)
_NOTED_IDS = "ivr.outcome_webhook.noted_ids"  # session.info key: ids of cases closed by Core
_CHUNK = 500  # ids per IN (...) list


def install(sessions: sessionmaker[Session]) -> None:
    """Have every session of this factory write outcome events with the outcomes."""
    event.listen(sessions, "before_flush", _note_changes)
    event.listen(sessions, "before_commit", _write_noted)
    event.listen(sessions, "after_transaction_end", _forget)


def _note_changes(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    noted: dict[int, tuple[str, Any]] = session.info.setdefault(_NOTED, {})
    for obj in session.new:
        if isinstance(obj, Case) and obj.status in FINAL:
            noted[id(obj)] = (CASE_CLOSED, obj)
        elif isinstance(obj, Escalation) and obj.status == EscalationStatus.RESOLVED:
            noted[id(obj)] = (ESCALATION_RESOLVED, obj)
    for obj in session.dirty:
        if isinstance(obj, Case) and _became(obj, FINAL):
            noted[id(obj)] = (CASE_CLOSED, obj)
        elif isinstance(obj, Escalation) and _became(obj, {EscalationStatus.RESOLVED}):
            noted[id(obj)] = (ESCALATION_RESOLVED, obj)


def _became(obj: Case | Escalation, values: Iterable[object]) -> bool:
    """The status was set in this flush to one of `values`, from a value outside them."""
    state: InstanceState[Case | Escalation] = inspect(obj)
    history = state.attrs.status.history
    added, before = list(history.added or ()), set(history.deleted or ())
    wanted = set(values)
    return bool(added) and added[-1] in wanted and not (before & wanted)


def note_closed(session: Session, case_ids: Iterable[int]) -> None:
    """Report these cases' outcomes at the commit: for cases written by Core statements."""
    session.info.setdefault(_NOTED_IDS, set()).update(case_ids)


def _write_noted(session: Session) -> None:
    # before_commit fires for a savepoint's release too; only the outermost commit writes.
    if session.in_nested_transaction():
        return
    session.flush()  # notes the last changes; new cases get their ids
    noted = list(session.info.pop(_NOTED, {}).values())
    ids = sorted(
        session.info.pop(_NOTED_IDS, set()) - {obj.id for _, obj in noted if isinstance(obj, Case)}
    )
    for chunk in _chunks(ids):
        noted.extend(
            (CASE_CLOSED, case) for case in session.scalars(select(Case).where(Case.id.in_(chunk)))
        )
    if noted:
        add_events(session, noted)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Rolled back: what was noted never happened.
        session.info.pop(_NOTED, None)
        session.info.pop(_NOTED_IDS, None)


def _wants_events(options: dict[str, Any]) -> bool:
    # Not parsed here: a malformed stored value must not stop an outcome from committing; the
    # deliverer parses it and marks the event failed.
    url = options.get("outcome_webhook_url")
    return isinstance(url, str) and url.strip().lower() not in ("", "none")


def add_events(session: Session, noted: Sequence[tuple[str, Any]]) -> list[OutboxEvent]:
    """Add one event per noted change still in force, for campaigns with a webhook."""
    todo: list[tuple[str, Case, Escalation | None]] = []
    for kind, obj in noted:
        if not inspect(obj).persistent:
            continue  # added in a savepoint that was rolled back
        if kind == CASE_CLOSED and obj.status in FINAL:
            todo.append((kind, obj, None))
        elif kind == ESCALATION_RESOLVED and obj.status == EscalationStatus.RESOLVED:
            todo.append((kind, obj.case, obj))
    todo = [item for item in todo if _wants_events(item[1].campaign.options)]
    if not todo:
        return []
    case_ids = sorted({case.id for _, case, _ in todo})
    answers = _last_answers(session, case_ids)
    open_escalations = _open_escalations(session, case_ids)
    events = []
    for kind, case, escalation in todo:
        event_id = str(uuid.uuid4())
        occurred_at = _occurred_at(case, escalation)
        payload = outcome_payload(
            kind=kind,
            event_id=event_id,
            occurred_at=occurred_at,
            case=CaseFacts(
                case_id=case.id,
                campaign=case.campaign.name,
                external_ref=case.external_ref,
                status=str(case.status),
                outcome=None if case.outcome is None else str(case.outcome),
                done_at=case.done_at,
                attempts=case.attempts_made,
            ),
            answers=answers.get(case.id, {}),
            open_escalations=open_escalations.get(case.id, []),
            resolution=None
            if escalation is None
            else Resolution(
                escalation_id=escalation.id,
                reason=escalation.reason,
                outcome=escalation.outcome,
                resolved_at=escalation.resolved_at,
            ),
        )
        row = OutboxEvent(
            event_id=event_id,
            kind=kind,
            campaign_id=case.campaign_id,
            case_id=case.id,
            payload=payload,
            status=OutboxStatus.PENDING,
            tries=0,
            next_try_at=occurred_at,
            created_at=occurred_at,
        )
        session.add(row)
        events.append(row)
    return events


def _occurred_at(case: Case, escalation: Escalation | None) -> datetime:
    # The times the outcome itself was written with (the caller's clock), never read here.
    if escalation is not None:
        return escalation.resolved_at or escalation.updated_at
    return case.done_at or case.created_at


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _last_answers(session: Session, case_ids: list[int]) -> dict[int, dict[str, str | None]]:
    """Per case, the answers of its latest attempt: the one that completed it."""
    latest: dict[int, tuple[int, dict[str, str | None]]] = {}
    for chunk in _chunks(case_ids):
        rows = session.execute(
            select(Attempt.case_id, Attempt.number, Answer.question, Answer.value)
            .outerjoin(Answer, Answer.attempt_id == Attempt.id)
            .where(Attempt.case_id.in_(chunk))
            .order_by(Attempt.case_id, Attempt.number, Answer.id)
        )
        for case_id, number, question, value in rows:
            seen = latest.get(case_id)
            if seen is None or number > seen[0]:
                seen = latest[case_id] = (number, {})
            if question is not None:  # an attempt without answers still counts as the latest
                seen[1][question] = value
    return {case_id: answers for case_id, (_, answers) in latest.items()}


def _open_escalations(session: Session, case_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for chunk in _chunks(case_ids):
        rows = session.execute(
            select(Escalation.case_id, Escalation.reason, Escalation.status)
            .where(Escalation.case_id.in_(chunk), Escalation.status != EscalationStatus.RESOLVED)
            .order_by(Escalation.case_id, Escalation.id)
        )
        for case_id, reason, status in rows:
            found.setdefault(case_id, []).append((reason, str(status)))
    return found
