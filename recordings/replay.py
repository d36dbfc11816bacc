"""Replaying a stored recording to signed-in staff: byte ranges, checksum first, audited.

    GET /recordings/<id>/audio?reason=...[&copy=listen]      (HEAD too)
    GET /recordings/<id>/timeline

Supervisors, compliance officers and administrators may listen; an agent only to a recording of
a case they may open in the console (ivr.console.agent_access: their scope, and no colleague
holding its escalation), else 403. Each
served GET appends `recording.replay` (who, why, which bytes) to the audit log and commits it
*before* the first byte leaves, so there is no listen without its trace. A HEAD sends no audio
and is not audited. Responses say `Cache-Control: no-store`: a copy kept in a browser cache could
be played again with no entry.

The evidence file is served only while its SHA-256 is the one recorded when it was stored
(recordings.stored_audio caches the check per process); otherwise the request is refused (409),
logged as an error and audited as `recording.integrity_failed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ivr.app import current_services
from ivr.audit.log import record
from ivr.console.agent_access import agent_may_replay
from ivr.models import Recording, RecordingStatus, StaffRole
from ivr.services import Services
from ivr.staff.auth import ErrorReply, check_role, current_staff, error, require_role
from ivr.staff.signin import Staff
from recordings.byte_ranges import ByteRange, RangeNotSatisfiableError, parse_range
from recordings.crypto import TamperedError, UnknownKeyError
from recordings.store import StorePathError
from recordings.stored_audio import FileAudio, StoreAudio, open_audio
from recordings.timeline import recording_timeline

log = logging.getLogger(__name__)

bp = Blueprint("recordings", __name__, url_prefix="/recordings")

REPLAY_ROLES = (StaffRole.SUPERVISOR, StaffRole.COMPLIANCE, StaffRole.ADMIN)
MAX_REASON = 500
MEDIA_TYPES = {"evidence": ("audio/wav", "wav"), "listen": ("audio/mpeg", "mp3")}


# --- the routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """What a replay request serves, read from the recording's row."""

    recording_id: int
    recording_sid: str
    copy: str  # evidence | listen
    path: str
    sha256: str | None  # the evidence's recorded checksum; None for the listening copy
    size_bytes: int | None
    key_id: str | None  # set when the store keeps the file encrypted


def _reason() -> str | None:
    """The listener's reason, whitespace collapsed; None if missing, blank or unusable."""
    reason = " ".join(request.args.get("reason", "").split())
    if not reason or len(reason) > MAX_REASON or any(ord(ch) < 32 for ch in reason):
        return None
    return reason


# Built once: every range request a seeking player sends runs it.
_RECORDING = select(
    Recording.recording_sid,
    Recording.status,
    Recording.path,
    Recording.sha256,
    Recording.size_bytes,
    Recording.listen_path,
    Recording.key_id,
    Recording.purged_at,
).where(Recording.id == bindparam("recording_id"))


def _target(db: Session, recording_id: int, copy: str) -> _Target | ErrorReply:
    row = db.connection().execute(_RECORDING, {"recording_id": recording_id}).one_or_none()
    if row is None:
        return error(404, f"there is no recording {recording_id}")
    if row.purged_at is not None:
        return error(410, f"recording {recording_id} was purged under its retention rule")
    if row.status != RecordingStatus.STORED or not row.path:
        return error(404, f"recording {recording_id} is not stored yet")
    if copy == "listen":
        if not row.listen_path:
            return error(404, f"recording {recording_id} has no listening copy")
        path, sha256, size = row.listen_path, None, None
    else:
        path, sha256, size = row.path, row.sha256, row.size_bytes
    return _Target(recording_id, row.recording_sid, copy, path, sha256, size, row.key_id)


def _refuse_altered(
    services: Services, db: Session, actor: str, target: _Target, problem: str
) -> ResponseReturnValue:
    """Refuse to serve evidence that is not what was stored; log it and audit it."""
    log.error(
        "stored recording failed its integrity check; not served",
        extra={
            "action": "recording.integrity_failed",
            "recording_id": target.recording_id,
            "problem": problem,
            "user": actor,
        },
    )
    record(
        db,
        services,
        actor=actor,
        action="recording.integrity_failed",
        object_kind="recording",
        object_id=target.recording_id,
        detail={"problem": problem, "path": target.path},
    )
    db.commit()
    return error(
        409,
        f"recording {target.recording_id} is not served: its stored file is {problem}; "
        "the incident is logged and audited",
    )


@bp.get("/<int:recording_id>/audio")
def audio(recording_id: int) -> ResponseReturnValue:
    """Serve a recording (or a range of it) after checking it and writing its audit entry."""
    services = current_services()
    # One session from the role check to the audit entry: a seeking player sends many requests,
    # and on SQLite each transaction takes the write lock. Nothing here may open a second
    # session while this one holds the connection.
    with services.sessions() as db:
        staff = check_role((*REPLAY_ROLES, StaffRole.AGENT), db)
        if not isinstance(staff, Staff):
            return staff
        if staff.role == StaffRole.AGENT and not agent_may_replay(db, staff.id, recording_id):
            return error(403, "an agent replays only recordings of the cases they may work")
        reason = _reason()
        if reason is None:
            return error(
                400,
                "a reason is required: ?reason=... says why you listen (a complaint or audit "
                f"reference, at most {MAX_REASON} characters); it is kept in the audit log",
            )
        copy = request.args.get("copy", "evidence")
        if copy not in MEDIA_TYPES:
            return error(400, "copy must be evidence (the default) or listen")
        target = _target(db, recording_id, copy)
        if not isinstance(target, _Target):
            return target
        try:
            stored = open_audio(services, target.path, target.key_id)
            if stored.digest is None:
                # Hashing a file or reading an object takes a while: end the transaction first
                # (on SQLite it holds the database's write lock); the next statement starts one.
                db.rollback()
                stored.load()
        except (FileNotFoundError, StorePathError):
            if copy == "listen":
                return error(404, f"the listening copy of recording {recording_id} is missing")
            return _refuse_altered(services, db, staff.username, target, "missing")
        except TamperedError:  # encrypted at rest, and no longer what was sealed
            return _refuse_altered(services, db, staff.username, target, "altered")
        except UnknownKeyError as exc:
            log.error(
                "recording sealed with a key this installation does not have",
                extra={"action": "recording.key_missing", "recording_id": recording_id},
            )
            return error(
                500, f"recording {recording_id} is encrypted with key {exc.key_id}, not configured"
            )
        except OSError:
            # The store (a bucket, a network disk) failed: nothing is known about the file.
            log.exception(
                "recordings store failed",
                extra={"action": "recording.store_failed", "recording_id": recording_id},
            )
            return error(503, "the recordings store cannot be read just now; try again shortly")
        if copy == "evidence" and (
            stored.digest != target.sha256
            or (target.size_bytes is not None and stored.size != target.size_bytes)
        ):
            stored.close()
            return _refuse_altered(services, db, staff.username, target, "altered")
        try:
            return _serve(services, db, staff.username, reason, target, stored)
        except BaseException:
            stored.close()  # no entry, no audio
            raise


def _serve(
    services: Services,
    db: Session,
    actor: str,
    reason: str,
    target: _Target,
    stored: FileAudio | StoreAudio,
) -> ResponseReturnValue:
    assert stored.digest is not None
    media_type, extension = MEDIA_TYPES[target.copy]
    etag = f'"{stored.digest}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{target.recording_sid}.{extension}"',
    }
    header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if header is not None and if_range is not None and if_range.strip() != etag:
        header = None  # the client's copy is another version: send the whole current file
    try:
        wanted = parse_range(header, stored.size)
    except RangeNotSatisfiableError:
        stored.close()
        headers["Content-Range"] = f"bytes */{stored.size}"
        return jsonify(error="the range lies outside the recording"), 416, headers
    served = wanted or ByteRange(0, stored.size - 1)
    headers["Content-Length"] = str(max(served.length, 0))
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = wanted.content_range(stored.size)
    if request.method == "HEAD":
        stored.close()
        head = Response(status=status, headers=headers, mimetype=media_type)
        head.headers["Content-Length"] = headers["Content-Length"]  # the body it stands for
        return head
    bytes_ = "all" if wanted is None else f"{wanted.start}-{wanted.end}"
    record(
        db,
        services,
        actor=actor,
        action="recording.replay",
        object_kind="recording",
        object_id=target.recording_id,
        detail={"reason": reason, "copy": target.copy, "range": bytes_, "size": stored.size},
    )
    db.commit()  # before the first byte is sent: a listen never goes without its trace
    log.info(
        "recording replayed",
        extra={
            "action": "recording.replay",
            "recording_id": target.recording_id,
            "user": actor,
            "range": bytes_,
            "copy": target.copy,
        },
    )
    body = stored.chunks(served.start, served.length)
    return Response(body, status, headers, mimetype=media_type, direct_passthrough=True)


@bp.get("/<int:recording_id>/timeline")
@require_role(*REPLAY_ROLES)
def timeline(recording_id: int) -> ResponseReturnValue:
    """The call's events aligned to the recording, as JSON; audited as `recording.timeline`.

    The timeline holds the survey answers keyed during the call, so reading it is recorded like
    a replay (no reason asked: it carries no voice).
    """
    services = current_services()
    staff = current_staff()
    assert staff is not None  # require_role let the request in
    with services.sessions.begin() as db:
        found = recording_timeline(db, recording_id)
        if found is None:
            return error(404, f"there is no recording {recording_id}")
        record(
            db,
            services,
            actor=staff.username,
            action="recording.timeline",
            object_kind="recording",
            object_id=recording_id,
        )
    return jsonify(found.as_json())
