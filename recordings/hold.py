"""Legal hold: a recording kept past its retention while a dispute, complaint or inquiry runs.

A hold blocks every deletion (recordings.purge re-checks it under the same row lock). Placing and
releasing one each write an audit entry in the same transaction, with the reason given.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.audit.log import record
from ivr.models import Recording
from ivr.services import Services

log = logging.getLogger(__name__)

HOLD = "recording.hold"
RELEASE = "recording.release"


class HoldError(ValueError):
    """A hold cannot be placed or released; the message says why."""

    def __init__(self, message: str, *, recording_sid: str) -> None:
        super().__init__(message)
        self.recording_sid = recording_sid


def place_hold(
    session: Session, services: Services, recording_sid: str, *, reason: str, actor: str
) -> Recording:
    """Put a recording on legal hold in the session's transaction; audited with the reason."""
    recording = _locked(session, recording_sid, reason)
    if recording.purged_at is not None:
        raise HoldError(
            f"recording {recording_sid} was purged on {recording.purged_at:%Y-%m-%d}: "
            "nothing is left to hold",
            recording_sid=recording_sid,
        )
    if recording.legal_hold:
        raise HoldError(
            f"recording {recording_sid} is already on hold", recording_sid=recording_sid
        )
    recording.legal_hold = True
    _audit(session, services, recording, HOLD, reason=reason, actor=actor)
    return recording


def release_hold(
    session: Session, services: Services, recording_sid: str, *, reason: str, actor: str
) -> Recording:
    """Lift a recording's legal hold in the session's transaction; audited with the reason.

    The recording is then deleted by the next purge if its retention has run out.
    """
    recording = _locked(session, recording_sid, reason)
    if not recording.legal_hold:
        raise HoldError(f"recording {recording_sid} is not on hold", recording_sid=recording_sid)
    recording.legal_hold = False
    _audit(session, services, recording, RELEASE, reason=reason, actor=actor)
    return recording


def _locked(session: Session, recording_sid: str, reason: str) -> Recording:
    """The recording's row, locked until the transaction ends (a purge waits for it, or we do)."""
    if not reason.strip():
        raise HoldError("a reason is required: it is kept in the audit log", recording_sid="")
    recording = session.scalar(
        select(Recording)
        .where(Recording.recording_sid == recording_sid)
        .with_for_update()
        # The row as it is once locked, not a copy the session may hold from before.
        .execution_options(populate_existing=True)
    )
    if recording is None:
        raise HoldError(f"no recording {recording_sid!r}", recording_sid=recording_sid)
    return recording


def _audit(
    session: Session,
    services: Services,
    recording: Recording,
    action: str,
    *,
    reason: str,
    actor: str,
) -> None:
    record(
        session,
        services,
        actor=actor,
        action=action,
        object_kind="recording",
        # The row id, as replays are audited, so one recording's entries share one object id.
        object_id=recording.id,
        detail={
            "recording_sid": recording.recording_sid,
            "reason": reason.strip(),
            "retain_until": None if recording.retain_until is None else str(recording.retain_until),
        },
    )
    log.info(
        "legal hold %s",
        "placed" if action == HOLD else "released",
        extra={"action": action, "recording_id": recording.id, "actor": actor},
    )
