"""Evidence behind a resolution: a recording of the case, or an uploaded scan.

A scan is kept in the recordings store under a path made of its date and SHA-256 only
(`evidence/YYYY/MM/<sha256>.pdf`): no name, number or file name of the person reaches a path. The
store is content-addressed, so uploading one file twice writes one file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.audit.log import ensure_key, record
from ivr.models import (
    AgentCallback,
    Attempt,
    Escalation,
    EscalationStatus,
    Evidence,
    EvidenceKind,
    Recording,
    RecordingStatus,
    StaffUser,
)
from ivr.queue.access import MANAGERS, load_escalation, refuse_seller, require_scope
from ivr.queue.errors import EscalationStateError, EvidenceError, NotAllowedError
from ivr.queue.history import add_event
from ivr.services import Services
from recordings.hold import place_hold
from recordings.store import RecordingStore, open_store

MAX_SCAN_BYTES = 20 * 1024 * 1024
# Extension -> (media type, the bytes such a file starts with). A scan is checked against its
# magic number so that a renamed file of another kind is refused before it becomes evidence.
SCAN_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".tif": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    ".tiff": ("image/tiff", (b"II*\x00", b"MM\x00*")),
}


@dataclass(frozen=True)
class Scan:
    """An uploaded document; the file name only tells its type and is never stored."""

    data: bytes
    filename: str


@dataclass(frozen=True)
class CheckedScan:
    """A scan that passed the checks, with its store path and digest."""

    data: bytes
    media_type: str
    extension: str
    sha256: str

    def path(self, at: datetime) -> str:
        """Where the scan is kept in the store (UTC year and month, then its digest)."""
        return f"evidence/{at:%Y}/{at:%m}/{self.sha256}{self.extension}"


def check_scan(scan: Scan) -> CheckedScan:
    """The scan's type and digest; EvidenceError for an empty, oversized or unknown file."""
    extension = PurePath(scan.filename).suffix.lower()
    if extension not in SCAN_TYPES:
        raise EvidenceError(f"a scan is a PDF, PNG, JPEG or TIFF file, not {extension or 'this'}")
    if not scan.data:
        raise EvidenceError("the scan is empty")
    if len(scan.data) > MAX_SCAN_BYTES:
        raise EvidenceError(f"a scan may be at most {MAX_SCAN_BYTES // (1024 * 1024)} MB")
    media_type, magic = SCAN_TYPES[extension]
    if not scan.data.startswith(magic):
        raise EvidenceError(f"the file is not a {extension[1:].upper()} file")
    # One extension per media type in paths, so one content makes one file.
    canonical = {"image/jpeg": ".jpg", "image/tiff": ".tif"}.get(media_type, extension)
    return CheckedScan(scan.data, media_type, canonical, hashlib.sha256(scan.data).hexdigest())


# Declared types an upload may carry besides its own: clients that do not know the type.
_UNTYPED = frozenset({"", "application/octet-stream"})


def sniff_extension(data: bytes) -> str | None:
    """The scan type the bytes start with (.pdf, .png, .jpg, .tif), or None."""
    for extension, (_media_type, magic) in SCAN_TYPES.items():
        if data.startswith(magic):
            return {".jpeg": ".jpg", ".tiff": ".tif"}.get(extension, extension)
    return None


def check_upload(data: bytes, filename: str | None, media_type: str | None) -> CheckedScan:
    """An uploaded scan typed by its content; a file name or type that says otherwise is refused.

    Unlike a file on disk (check_scan), an upload's name may be anything or nothing: the content
    decides, and a declared name or type only has to agree with it.
    """
    if not data:
        raise EvidenceError("the scan is empty")
    extension = sniff_extension(data)
    if extension is None:
        raise EvidenceError("the file is not a PDF, PNG, JPEG or TIFF scan (by its content)")
    sniffed = SCAN_TYPES[extension][0]
    named = PurePath(filename or "").suffix.lower()
    if named in SCAN_TYPES and SCAN_TYPES[named][0] != sniffed:
        raise EvidenceError(f"the file is named {named} but its content is {sniffed}")
    declared = (media_type or "").split(";")[0].strip().lower()
    if declared not in _UNTYPED and declared != sniffed:
        raise EvidenceError(f"the file is sent as {declared} but its content is {sniffed}")
    return check_scan(Scan(data, f"upload{extension}"))


def add_scan(
    session: Session,
    services: Services,
    escalation_id: int,
    user: StaffUser,
    scan: CheckedScan,
    *,
    note: str | None = None,
    store: RecordingStore | None = None,
) -> tuple[Evidence, bool]:
    """Link a scan to an open escalation ahead of its resolution; (the link, whether it is new).

    The same people as resolve: its holder (for whom it counts as activity), a supervisor or an
    admin, within scope, never the policy's seller. Audited as every evidence link is.
    """
    ensure_key(services)
    escalation = load_escalation(session, escalation_id, lock=True)
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationStateError(
            f"escalation {escalation_id} is resolved; reopen it to add evidence"
        )
    holds = escalation.status == EscalationStatus.CLAIMED and escalation.claimed_by_id == user.id
    if not holds and user.role not in MANAGERS:
        raise NotAllowedError(
            f"claim escalation {escalation_id} first: only its holder, a supervisor or an admin "
            "adds evidence"
        )
    require_scope(session, user, escalation)
    refuse_seller(escalation, user)
    known = {e.id for e in evidence_of(session, escalation_id)}
    evidence = attach_scan(
        session, services, escalation, scan, actor=user.username, note=note, store=store
    )
    if holds:
        escalation.touched_at = escalation.updated_at = services.clock()
    return evidence, evidence.id not in known


def case_recording(session: Session, escalation: Escalation, recording_sid: str) -> Recording:
    """The stored recording with this id, of the escalation's case; EvidenceError if not."""
    recording = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    case_id = None
    if recording is not None and recording.attempt_id is not None:
        case_id = session.scalar(select(Attempt.case_id).where(Attempt.id == recording.attempt_id))
    elif recording is not None and recording.callback_id is not None:  # an agent's callback
        query = select(AgentCallback.case_id).where(AgentCallback.id == recording.callback_id)
        case_id = session.scalar(query)
    if recording is None or case_id != escalation.case_id:
        raise EvidenceError(f"recording {recording_sid} is not a recording of this case")
    if recording.status != RecordingStatus.STORED or recording.purged_at is not None:
        raise EvidenceError(f"recording {recording_sid} is not in the store")
    return recording


def evidence_of(session: Session, escalation_id: int) -> list[Evidence]:
    """The evidence linked to an escalation, oldest first."""
    query = (
        select(Evidence)
        .where(Evidence.escalation_id == escalation_id)
        .order_by(Evidence.added_at, Evidence.id)
    )
    return list(session.scalars(query))


def attach_recording(
    session: Session,
    services: Services,
    escalation: Escalation,
    recording: Recording,
    *,
    actor: str,
    note: str | None = None,
) -> Evidence:
    """Link a recording of the case (checked by case_recording) once; returns the link."""
    existing = session.scalar(
        select(Evidence).where(
            Evidence.escalation_id == escalation.id, Evidence.recording_id == recording.id
        )
    )
    if existing is not None:
        return existing
    if not recording.legal_hold:
        # Evidence must outlive its recording's retention: a purge would leave the escalation's
        # outcome unproven. Released, like any hold, by a person once the matter is closed.
        place_hold(
            session,
            services,
            recording.recording_sid,
            reason=f"evidence of escalation {escalation.id}",
            actor=actor,
        )
    evidence = Evidence(
        escalation_id=escalation.id,
        kind=EvidenceKind.RECORDING,
        recording_id=recording.id,
        sha256=recording.sha256,
        size_bytes=recording.size_bytes,
        media_type="audio/wav",
        note=note,
        added_by=actor,
        added_at=services.clock(),
    )
    return _linked(session, services, evidence, f"recording {recording.recording_sid}")


def attach_scan(
    session: Session,
    services: Services,
    escalation: Escalation,
    scan: CheckedScan,
    *,
    actor: str,
    note: str | None = None,
    store: RecordingStore | None = None,
) -> Evidence:
    """Store a checked scan (before its row: a row never points at a missing file) and link it."""
    existing = session.scalar(
        select(Evidence).where(
            Evidence.escalation_id == escalation.id, Evidence.sha256 == scan.sha256
        )
    )
    if existing is not None:
        return existing
    now = services.clock()
    path = scan.path(now)
    (store or open_store(services.settings)).put(path, scan.data)
    evidence = Evidence(
        escalation_id=escalation.id,
        kind=EvidenceKind.SCAN,
        path=path,
        sha256=scan.sha256,
        size_bytes=len(scan.data),
        media_type=scan.media_type,
        note=note,
        added_by=actor,
        added_at=now,
    )
    return _linked(session, services, evidence, f"scan {scan.sha256[:12]}")


def _linked(session: Session, services: Services, evidence: Evidence, label: str) -> Evidence:
    session.add(evidence)
    session.flush()
    add_event(
        session,
        evidence.escalation_id,
        at=evidence.added_at,
        actor=evidence.added_by,
        action="evidence_added",
        detail=label,
    )
    record(
        session,
        services,
        actor=evidence.added_by,
        action="escalation.evidence_added",
        object_kind="escalation",
        object_id=evidence.escalation_id,
        detail={
            "evidence_id": evidence.id,
            "kind": evidence.kind.value,
            "recording_id": evidence.recording_id,
            "sha256": evidence.sha256,
        },
    )
    return evidence
