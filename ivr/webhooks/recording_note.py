"""A provider's "recording ready" callback, noted as a Recording row for the fetch job.

Shared by the automated calls' and the agents' callbacks: the request is never the place to
download (the fetch job does, with retries); it only records what the provider announced, once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

from flask import abort, request
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ivr.models import Recording, RecordingStatus
from ivr.webhooks.form import optional_int, provider_time, required

log = logging.getLogger(__name__)

_RECORDINGS = cast(Table, Recording.__table__)
# Built once per dialect, the values bound at execution: a statement built with .values(row)
# each time cost a quarter of a millisecond in its cache key alone.
_ADD = {
    dialect: insert(_RECORDINGS)
    .on_conflict_do_nothing(index_elements=["recording_sid"])
    .returning(_RECORDINGS.c.id)
    for dialect, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


def note_recording(
    session: Session,
    now: datetime,
    *,
    attempt_id: int | None = None,
    callback_id: int | None = None,
) -> int:
    """The id of the Recording row for this request's RecordingSid: added now, or the one a
    repeated callback added before (the unique recording id decides). A completed recording
    without RecordingUrl is a 400; any other status is kept as FAILED with the provider's word.

    One INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike): a fifth of the callbacks
    are repeats, and the savepoint and unit of work of an ORM insert cost more than the request's
    other writes.
    """
    recording_sid = required("RecordingSid")
    provider_status = request.form.get("RecordingStatus", "completed")
    ok = provider_status == "completed"
    media_url = request.form.get("RecordingUrl", "")
    if ok and not media_url:
        abort(400, description="form field RecordingUrl is required")
    row = {
        "attempt_id": attempt_id,
        "callback_id": callback_id,
        "recording_sid": recording_sid,
        "call_sid": required("CallSid"),
        "media_url": media_url,
        "status": RecordingStatus.PENDING if ok else RecordingStatus.FAILED,
        "duration_s": optional_int("RecordingDuration"),
        "channels": optional_int("RecordingChannels"),
        "started_at": provider_time("RecordingStartTime"),
        "next_fetch_at": now if ok else None,
        "last_error": None if ok else f"provider reported {provider_status}",
        "created_at": now,
    }
    added: int | None = session.scalar(_ADD[session.get_bind().dialect.name], row)
    if added is not None:
        return added
    log.info("duplicate recording callback", extra={"action": "recording.duplicate"})
    return session.scalars(
        select(Recording.id).where(Recording.recording_sid == recording_sid)
    ).one()
