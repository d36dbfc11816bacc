"""A case file for a dispute: one zip with what the case holds and how to check it.

    case.json                      the case (no identity facts, the phone masked, no name), the
                                   answers of every attempt, the escalations with their history
                                   and evidence list, the recordings and their integrity
    timelines/recording-<id>.json  each recording's call timeline (recordings.timeline)
    recordings/<sid>.wav           each stored recording, decrypted through the store
    manifest.txt                   `sha256sum -c` lines for every file above, then the checksum
                                   recorded when each recording was stored, and whether it matches

`collect` reads the rows (in the caller's session), `read_recordings` the files (with no
transaction open: reading a bucket takes a while, and SQLite's write lock must not wait on it),
`build_zip` is pure.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.identity import visible_details
from ivr.models import (
    AgentCallback,
    Answer,
    Attempt,
    Case,
    Escalation,
    EscalationEvent,
    Evidence,
    Recording,
    RecordingStatus,
    StaffUser,
)
from ivr.privacy import mask_phone
from ivr.services import Services
from recordings.crypto import CryptoError
from recordings.store import StorePathError, open_store
from recordings.timeline import recording_timeline

# A fixed date for every zip entry: the same case exported twice gives the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class StoredFile:
    """A recording to put in the zip, as its row describes it."""

    recording_id: int
    sid: str
    path: str | None
    sha256: str | None  # recorded when it was stored
    key_id: str | None
    purged: bool


@dataclass
class CaseFile:
    """What goes into one case's zip; `recordings` is filled by read_recordings."""

    case_id: int
    case: dict[str, Any]
    timelines: dict[int, dict[str, Any]]
    files: list[StoredFile]
    audio: dict[int, bytes] = field(default_factory=dict)
    problems: dict[int, str] = field(default_factory=dict)  # recording id -> missing | ...


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def collect(session: Session, case_id: int) -> CaseFile | None:
    """The case's rows as JSON-safe values; None if there is no such case."""
    case = session.get(Case, case_id)
    if case is None:
        return None
    attempts = list(session.scalars(select(Attempt).where(Attempt.case_id == case_id)))
    answers = list(
        session.scalars(select(Answer).where(Answer.case_id == case_id).order_by(Answer.id))
    )
    callbacks = list(
        session.scalars(select(AgentCallback.id).where(AgentCallback.case_id == case_id))
    )
    recordings = list(
        session.scalars(
            select(Recording)
            .where(
                Recording.attempt_id.in_([a.id for a in attempts])
                | Recording.callback_id.in_(callbacks)
            )
            .order_by(Recording.id)
        )
    )
    number_of = {attempt.id: attempt.number for attempt in attempts}
    record = {
        "id": case.id,
        "external_ref": case.external_ref,
        "campaign": {"id": case.campaign.id, "name": case.campaign.name},
        "anchor_date": _iso(case.anchor_date),
        "department": case.department,
        "ward": case.ward,
        "details": visible_details(case.details or {}),
        "status": str(case.status),
        "outcome": None if case.outcome is None else str(case.outcome),
        "excluded_reason": case.excluded_reason,
        "attempts_made": case.attempts_made,
        "deadline_at": _iso(case.deadline_at),
        "done_at": _iso(case.done_at),
        "created_at": _iso(case.created_at),
        "contact": {
            "phone": mask_phone(case.contact.phone),
            "language": case.contact.language,
            "timezone": case.contact.timezone,
        },
        "attempts": [
            {
                "number": a.number,
                "status": str(a.status),
                "call_sid": a.call_sid,
                "answered_by": a.answered_by,
                "placed_at": _iso(a.placed_at),
                "ended_at": _iso(a.ended_at),
                "duration_s": a.duration_s,
                "answers": [
                    {"question": x.question, "value": x.value, "at": _iso(x.created_at)}
                    for x in answers
                    if x.attempt_id == a.id
                ],
            }
            for a in sorted(attempts, key=lambda a: a.number)
        ],
        "escalations": _escalations(session, case_id),
        "recordings": [
            {
                "id": r.id,
                "sid": r.recording_sid,
                "attempt_number": number_of.get(r.attempt_id or 0),
                "agent_callback": r.callback_id is not None,
                "duration_s": r.duration_s,
                "sha256": r.sha256,
                "size_bytes": r.size_bytes,
                "stored_at": _iso(r.stored_at),
                "retain_until": _iso(r.retain_until),
                "legal_hold": r.legal_hold,
                "purged_at": _iso(r.purged_at),
            }
            for r in recordings
        ],
    }
    timelines = {}
    for r in recordings:
        found = recording_timeline(session, r.id)
        if found is not None:
            timelines[r.id] = found.as_json()
    files = [
        StoredFile(
            r.id,
            r.recording_sid,
            r.path if r.status == RecordingStatus.STORED else None,
            r.sha256,
            r.key_id,
            r.purged_at is not None,
        )
        for r in recordings
    ]
    return CaseFile(case_id, record, timelines, files)


def _escalations(session: Session, case_id: int) -> list[dict[str, Any]]:
    escalations = list(
        session.scalars(
            select(Escalation).where(Escalation.case_id == case_id).order_by(Escalation.id)
        )
    )
    staff_ids = {e.claimed_by_id for e in escalations} | {e.resolved_by_id for e in escalations}
    names = {
        row.id: row.username
        for row in session.execute(
            select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(staff_ids - {None}))
        )
    }
    ids = [e.id for e in escalations]
    events = list(
        session.scalars(
            select(EscalationEvent)
            .where(EscalationEvent.escalation_id.in_(ids))
            .order_by(EscalationEvent.id)
        )
    )
    evidence = list(
        session.scalars(
            select(Evidence).where(Evidence.escalation_id.in_(ids)).order_by(Evidence.id)
        )
    )
    return [
        {
            "id": e.id,
            "reason": e.reason,
            "priority": e.priority,
            "status": str(e.status),
            "detail": e.detail,
            "created_at": _iso(e.created_at),
            "due_at": _iso(e.due_at),
            "claimed_by": names.get(e.claimed_by_id or 0),
            "resolved_by": names.get(e.resolved_by_id or 0),
            "resolved_at": _iso(e.resolved_at),
            "outcome": e.outcome,
            "resolution_note": e.resolution_note,
            "history": [
                {"at": _iso(v.at), "actor": v.actor, "action": v.action, "detail": v.detail}
                for v in events
                if v.escalation_id == e.id
            ],
            "evidence": [
                {
                    "kind": str(x.kind),
                    "recording_id": x.recording_id,
                    "path": x.path,
                    "sha256": x.sha256,
                    "size_bytes": x.size_bytes,
                    "media_type": x.media_type,
                    "note": x.note,
                    "added_by": x.added_by,
                    "added_at": _iso(x.added_at),
                }
                for x in evidence
                if x.escalation_id == e.id
            ],
        }
        for e in escalations
    ]


def read_recordings(services: Services, found: CaseFile) -> None:
    """Read each stored recording through the store (decrypting it, as a replay does) and note
    the ones that cannot be put in the zip: purged, missing, unreadable or not what was stored."""
    store = open_store(services.settings)
    for item in found.files:
        if item.purged:
            found.problems[item.recording_id] = "purged"
            continue
        if item.path is None:
            found.problems[item.recording_id] = "not stored"
            continue
        if item.key_id is not None and store.key_id is None:
            found.problems[item.recording_id] = "encrypted with a key not configured here"
            continue
        try:
            data = store.read(item.path)
        except (FileNotFoundError, StorePathError):
            found.problems[item.recording_id] = "missing"
            continue
        except CryptoError:
            found.problems[item.recording_id] = "altered"
            continue
        if hashlib.sha256(data).hexdigest() != item.sha256:
            found.problems[item.recording_id] = "altered"
            continue
        found.audio[item.recording_id] = data


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def build_zip(found: CaseFile, header: str) -> bytes:
    """The zip's bytes; pure. `header` opens the manifest (who exported it, when)."""
    case = dict(found.case)
    case["recordings"] = [
        {**r, "integrity": found.problems.get(r["id"], "ok")} for r in case["recordings"]
    ]
    members: list[tuple[str, bytes]] = [("case.json", _json(case))]
    for recording_id, timeline in sorted(found.timelines.items()):
        members.append((f"timelines/recording-{recording_id}.json", _json(timeline)))
    for item in found.files:
        if item.recording_id in found.audio:
            members.append((f"recordings/{item.sid}.wav", found.audio[item.recording_id]))
    lines = [f"# {header}", "# sha256  file  (check with: sha256sum -c manifest.txt)"]
    lines += [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in members]
    lines.append("# recordings: the SHA-256 recorded when each was stored, and the file's state")
    for item in found.files:
        state = found.problems.get(item.recording_id, "match")
        lines.append(f"# stored {item.sha256 or '-'}  recordings/{item.sid}.wav  {state}")
    members.append(("manifest.txt", ("\n".join(lines) + "\n").encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()
