"""A provider's "recording ready" callback, noted as a Recording row for the fetch job.

Shared by the automated calls' and the agents' callbacks: the request is never the place to
download (the fetch job does, with retries); it only records what the provider announced, once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import abort, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.models import Recording, RecordingStatus
from ivr.webhooks.form import optional_int, provider_time, required

log = logging.getLogger(__name__)


def note_recording(
    session: Session,
    now: datetime,
    *,
    attempt_id: int | None = None,
    callback_id: int | None = None,
) -> Recording:
    """The Recording row for this request's RecordingSid: added now, or the one a repeated
    callback added before (the unique recording id decides). A completed recording without
    RecordingUrl is a 400; any other status is kept as FAILED with the provider's word."""
    recording_sid = required("RecordingSid")
    provider_status = request.form.get("RecordingStatus", "completed")
    ok = provider_status == "completed"
    row = Recording(
        attempt_id=attempt_id,
        callback_id=callback_id,
        recording_sid=recording_sid,
        call_sid=required("CallSid"),
        media_url=request.form.get("RecordingUrl", ""),
        status=RecordingStatus.PENDING if ok else RecordingStatus.FAILED,
        duration_s=optional_int("RecordingDuration"),
        channels=optional_int("RecordingChannels"),
        started_at=provider_time("RecordingStartTime"),
        next_fetch_at=now if ok else None,
        last_error=None if ok else f"provider reported {provider_status}",
        created_at=now,
    )
    if ok and not row.media_url:
        abort(400, description="form field RecordingUrl is required")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        log.info("duplicate recording callback", extra={"action": "recording.duplicate"})
        return session.scalars(
            select(Recording).where(Recording.recording_sid == recording_sid)
        ).one()
    return row
